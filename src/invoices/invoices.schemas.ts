// TypeBox schemas of the invoice endpoints (API.md §3.4): they validate, type, serialize and
// document each route.
import { Type, type TSchema } from '@sinclair/typebox';
import { INVOICE_TYPES } from '../db/schema.ts';
import {
  OptionalParamsBody,
  AuditSchemaFields,
  Id,
  ListQuery,
  ParamsBody,
  PatchBody,
} from '../http/schemas.ts';
import { INVOICE_ACTIONS, INVOICE_STATUSES } from './invoices.rules.ts';

export const InvoiceTypeSchema = Type.Union(
  INVOICE_TYPES.map((t) => Type.Literal(t)),
  { description: 'standard, credit-note, debit-note or prepayment.' },
);
export const InvoiceStatusSchema = Type.Union(INVOICE_STATUSES.map((s) => Type.Literal(s)));
export const InvoiceActionSchema = Type.Union(INVOICE_ACTIONS.map((a) => Type.Literal(a)));

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const InvoiceSchema = Type.Object(
  {
    id: Id,
    orderId: Type.String(),
    type: InvoiceTypeSchema,
    status: InvoiceStatusSchema,
    referenceInvoiceId: Type.Union([Type.String(), Type.Null()]),
    applyExpiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    invoiceNumber: Type.Union([Type.Integer(), Type.Null()], {
      description: 'Gap-free per-organization sequence, assigned at close; null while open.',
    }),
    invoiceSource: Type.Union([Type.String(), Type.Null()]),
    invoicedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    can: Type.Array(InvoiceActionSchema, {
      description: 'The actions this caller may perform on the invoice now.',
    }),
    ...AuditSchemaFields,
  },
  { $id: 'Invoice' },
);

/**
 * Any short text: whether the type is one of the four is a business rule answered with
 * TYPE_NOT_SUPPORTED, not a schema failure (API.md §3.4).
 */
const TypeParam = Type.String({
  maxLength: 32,
  description:
    'standard (default), credit-note, debit-note or prepayment; anything else is TYPE_NOT_SUPPORTED.',
});
const ReferenceParam = Nullable(
  Type.String({
    minLength: 1,
    maxLength: 64,
    description:
      'Credit and debit notes: the closed standard invoice of the same order they correct.',
  }),
);
const ExpiresParam = Nullable(
  Type.String({ format: 'date-time', description: 'ISO-8601 with a time zone.' }),
);

export const CreateInvoiceBody = ParamsBody({
  orderId: Id,
  type: Type.Optional(TypeParam),
  referenceInvoiceId: Type.Optional(ReferenceParam),
  applyExpiresAt: Type.Optional(ExpiresParam),
});

export const UpdateInvoiceBody = PatchBody({
  type: Type.Optional(TypeParam),
  referenceInvoiceId: Type.Optional(ReferenceParam),
  applyExpiresAt: Type.Optional(ExpiresParam),
});

export const CloseInvoiceBody = OptionalParamsBody({
  invoiceSource: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'The system that issued the number (default om-payments).',
    }),
  ),
});

export const SendInvoiceBody = OptionalParamsBody({
  channel: Type.Optional(
    Type.String({ pattern: '^[a-z0-9._-]{1,32}$', description: 'e.g. email, sms, whatsapp.' }),
  ),
  recipient: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});

export const ListInvoicesQuery = ListQuery({
  orderId: Type.Optional(Id),
  status: Type.Optional(InvoiceStatusSchema),
  type: Type.Optional(InvoiceTypeSchema),
});

export const CreatedInvoice = Type.Object({ id: Type.String() });
export const DeletedInvoice = Type.Object({
  succeed: Type.Literal(true, { description: "The platform's spelling." }),
});
export const ClosedInvoice = Type.Object({
  invoiceNumber: Type.Integer(),
  invoiceSource: Type.String(),
  invoicedAt: Type.String({ format: 'date-time' }),
});
export const SentInvoice = Type.Object({
  success: Type.Literal(true),
  messageId: Type.String({ description: 'The id of the invoice.sent event.' }),
});
