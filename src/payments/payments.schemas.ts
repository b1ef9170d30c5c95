// TypeBox schemas of the payment endpoints: the seed's request fields and item shape
// (../shared/spec/seed-payments-api.txt), plus API.md §3.5's additions.
import { Type } from '@sinclair/typebox';
import { PAYMENT_STATUSES, PAYMENT_TYPES } from '../db/schema.ts';
import {
  AuditSchemaFields,
  Id,
  ListQuery,
  OptionalParamsBody,
  ParamsBody,
  PatchBody,
} from '../http/schemas.ts';
import { Amount } from '../orders/orders.schemas.ts';
import { PaymentMethodSchema } from '../payment-methods/payment-methods.schemas.ts';
import { PAYMENT_ACTIONS } from './payments.rules.ts';

const Ref = Type.String({ minLength: 1, maxLength: 128 });
const Note = Type.String({ maxLength: 1000 });
/** Free-form integrator data; bounded by the body limit and a property count. */
const Attrs = Type.Object({}, { additionalProperties: true, maxProperties: 50 });

export const PaymentTypeSchema = Type.Union(PAYMENT_TYPES.map((t) => Type.Literal(t)));
export const PaymentStatusSchema = Type.Union(PAYMENT_STATUSES.map((s) => Type.Literal(s)));

export const PaymentSchema = Type.Object(
  {
    id: Id,
    orderId: Type.String(),
    type: PaymentTypeSchema,
    status: PaymentStatusSchema,
    amount: Type.Number(),
    custom: Type.Boolean(),
    methodUid: Type.Union([Type.String(), Type.Null()]),
    customerUid: Type.Union([Type.String(), Type.Null()]),
    sourcePaymentId: Type.Union([Type.String(), Type.Null()]),
    transactionRef: Type.Union([Type.String(), Type.Null()]),
    attrs: Type.Object({}, { additionalProperties: true }),
    invoiceId: Type.Union([Type.String(), Type.Null()]),
    note: Type.Union([Type.String(), Type.Null()]),
    completedAt: Type.Union([Type.String(), Type.Null()]),
    reversedAt: Type.Union([Type.String(), Type.Null()]),
    refundedAmount: Type.Optional(Type.Number({ description: 'Receipts: Σ complete refunds.' })),
    refundableAmount: Type.Optional(
      Type.Number({ description: 'Receipts: what a new refund against it may take now.' }),
    ),
    can: Type.Array(Type.Union(PAYMENT_ACTIONS.map((a) => Type.Literal(a)))),
    ...AuditSchemaFields,
  },
  { $id: 'Payment' },
);

export const OrderPaymentsSchema = Type.Object({
  items: Type.Array(PaymentSchema),
  paymentMethods: Type.Array(PaymentMethodSchema),
});

export const CreatePaymentBody = ParamsBody({
  orderId: Id,
  type: PaymentTypeSchema,
  custom: Type.Optional(Type.Boolean()),
  amount: Type.Optional(Amount),
  methodId: Type.Optional(Id),
  customerUid: Type.Optional(Ref),
  status: Type.Optional(PaymentStatusSchema),
  sourcePaymentId: Type.Optional(Id),
  transactionRef: Type.Optional(Ref),
  attrs: Type.Optional(Attrs),
  invoiceId: Type.Optional(Id),
  note: Type.Optional(Note),
});

export const UpdatePaymentBody = PatchBody({
  id: Type.Optional(Id),
  orderId: Type.Optional(Id),
  amount: Type.Optional(Amount),
  methodId: Type.Optional(Id),
  custom: Type.Optional(Type.Boolean()),
  correction: Type.Optional(Type.Boolean()),
  customerUid: Type.Optional(Type.Union([Ref, Type.Null()])),
  status: Type.Optional(PaymentStatusSchema),
  sourcePaymentId: Type.Optional(
    Type.Union([Id, Type.Null()], {
      description: 'null (no source, as read) changes nothing; a source cannot be removed.',
    }),
  ),
  transactionRef: Type.Optional(Type.Union([Ref, Type.Null()])),
  attrs: Type.Optional(Attrs),
  note: Type.Optional(Type.Union([Note, Type.Null()])),
});

/** The seed's confirm body; it may also be left out. */
export const ConfirmPaymentBody = OptionalParamsBody({
  id: Type.Optional(Id),
  orderId: Type.Optional(Id),
  customerUid: Type.Optional(Ref),
  transactionRef: Type.Optional(Ref),
  attrs: Type.Optional(Attrs),
});

export const ListPaymentsQuery = ListQuery({
  orderId: Type.Optional(Id),
  type: Type.Optional(PaymentTypeSchema),
  status: Type.Optional(PaymentStatusSchema),
  methodId: Type.Optional(Id),
  customerUid: Type.Optional(Ref),
  invoiceId: Type.Optional(Id),
});

export const HistoryRecordSchema = Type.Object({
  id: Type.String(),
  type: Type.String(),
  data: Type.Unknown(),
  changes: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
  by: Type.String(),
  via: Type.String(),
  requestId: Type.String(),
  createdAt: Type.String(),
});
