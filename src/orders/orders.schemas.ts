import { Type } from '@sinclair/typebox';
import { ORDER_STATUSES } from '../db/schema.ts';
import { AuditSchemaFields, Id, ListQuery, ParamsBody } from '../http/schemas.ts';
import { ORDER_ACTIONS } from './orders.rules.ts';

/** A wire amount: a JSON number in major units; exactness is checked by the money module. */
export const Amount = Type.Number({
  description: "Major units, e.g. 12.5; at most the currency's decimals.",
});

const ExternalText = Type.String({ minLength: 1, maxLength: 128 });

export const OrderStatusSchema = Type.Union(ORDER_STATUSES.map((s) => Type.Literal(s)));

export const OrderSchema = Type.Object(
  {
    id: Id,
    number: Type.Integer(),
    status: OrderStatusSchema,
    total: Type.Number(),
    paidAmount: Type.Number(),
    refundedAmount: Type.Number(),
    pendingAmount: Type.Number(),
    balanceDue: Type.Number({
      description: 'total − paidAmount; negative means overpaid (customer credit).',
    }),
    customerUid: Type.Union([Type.String(), Type.Null()]),
    externalRef: Type.Union([Type.String(), Type.Null()]),
    closedAt: Type.Union([Type.String(), Type.Null()]),
    canceledAt: Type.Union([Type.String(), Type.Null()]),
    can: Type.Array(Type.Union(ORDER_ACTIONS.map((a) => Type.Literal(a)))),
    ...AuditSchemaFields,
  },
  { $id: 'Order' },
);

export const CreateOrderBody = ParamsBody({
  total: Amount,
  customerUid: Type.Optional(ExternalText),
  externalRef: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 128,
      description:
        'Unique per organization: a repeat with the same content returns the same order.',
    }),
  ),
});

export const UpdateOrderBody = ParamsBody({
  total: Type.Optional(Amount),
  customerUid: Type.Optional(Type.Union([ExternalText, Type.Null()])),
});

export const ListOrdersQuery = ListQuery({
  status: Type.Optional(OrderStatusSchema),
  customerUid: Type.Optional(ExternalText),
  // Finding the order a customer calls about (API.md §10): both are unique per organization.
  number: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'The order number.',
    }),
  ),
  externalRef: Type.Optional(ExternalText),
});
