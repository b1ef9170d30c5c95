// The seed's four payment endpoints plus reads (API.md §3.5): schemas, codes, handlers.
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { contextOf } from '../http/auth.ts';
import { PREFER_HEADER_DESCRIPTION, prefersMinimal } from '../http/prefer.ts';
import { route, routes, type DeclaredError } from '../http/route.ts';
import { IdPath, Success } from '../http/schemas.ts';
import {
  ConfirmPaymentBody,
  CreatePaymentBody,
  HistoryRecordSchema,
  ListPaymentsQuery,
  OrderPaymentsSchema,
  PaymentSchema,
  UpdatePaymentBody,
} from './payments.schemas.ts';
import * as service from './payments.service.ts';

// Confirm and delete answer the order's payments, or `{success: true}` when the caller
// prefers a minimal answer (src/http/prefer.ts).
const PreferHeaders = Type.Object({
  prefer: Type.Optional(Type.String({ maxLength: 256, description: PREFER_HEADER_DESCRIPTION })),
});
const MINIMAL_NOTE =
  'With `Prefer: return=minimal` the answer is `data: {success: true}` (warnings as usual), ' +
  "and the order's payments are not read.";
const SUCCESS = { success: true as const };

/**
 * The answer the caller prefers. A minimal one is serialized outside the list's schema; the
 * idempotency layer serializes the answer itself and sends the text, which passes as is.
 */
function listAnswerOf(request: FastifyRequest, reply: FastifyReply): service.ListAnswer {
  if (!prefersMinimal(request)) return 'payments';
  reply.serializer((payload) => (typeof payload === 'string' ? payload : JSON.stringify(payload)));
  return 'minimal';
}

const LIMIT: DeclaredError = [
  'LIMIT_REACHED',
  'The amount exceeds what the order or the source receipt allows (`details.limit`, `details.available`), or the order has maxPaymentsPerOrder payments.',
];
const ROLE: DeclaredError = [
  'FORBIDDEN',
  'The key may not act on this organization, or its role lacks the permission (`details.requiredRole`).',
];

/** Under /v1/om (organization keys). */
export const paymentRoutes = routes({
  auth: 'organization',
  tags: ['payments'],
  routes: [
    route({
      method: 'POST',
      url: '/payments',
      operationId: 'createPayment',
      paymentWrite: true,
      summary: 'Create a payment (receipt or refund) for an order',
      description:
        'A receipt records money taken, a refund money returned. `status` defaults to `pending`; ' +
        "`complete` is allowed (cash). Without `amount` a receipt takes the order's remaining " +
        "capacity and a refund its source's refundable remainder. A repeat with the same " +
        '`transactionRef`, order and amount returns the first id with warning `ALREADY_RECORDED`.',
      body: CreatePaymentBody,
      example: {
        params: {
          orderId: '01934f6e-8f3a-7c2e-9d41-6b2f0a9c1e55',
          type: 'receipt',
          amount: 12.5,
          methodId: '01934f6e-7a11-7b9c-8e20-3d4c5b6a7f80',
          status: 'pending',
          transactionRef: 'POS-7-000123',
          note: null,
        },
      },
      data: Type.Object({ id: Type.String() }),
      errors: [
        ['ORDER_NOT_FOUND', 'The orderId does not name an order of this organization.'],
        ['ORDER_CANCELED', 'The order is canceled.'],
        ['ORDER_CLOSED', 'The order is closed (receipts only; refunds are allowed).'],
        [
          'INVALID_STATUS',
          '`status: reversed` on create, or the source is not a complete receipt of the order.',
        ],
        ['MethodNotFound', 'The methodId does not exist or is hidden.'],
        ['INVOICE_NOT_FOUND', 'The invoiceId is not an invoice of this order.'],
        ['INVOICE_CLOSED', 'The invoice is closed.'],
        LIMIT,
        [
          'DUPLICATE_TRANSACTION_REF',
          'The transactionRef is used by another payment of this type (not a retry of it).',
        ],
        ROLE,
      ],
      handler: (request) =>
        service.createPayment(request.database, contextOf(request), request.body.params),
    }),
    route({
      method: 'DELETE',
      url: '/payments/:uid',
      operationId: 'deletePayment',
      paymentWrite: true,
      summary: "Delete a payment that never completed; answers the order's remaining payments",
      description: `Only pending and progress payments; the row stays for audit. ${MINIMAL_NOTE}`,
      headers: PreferHeaders,
      params: IdPath,
      data: OrderPaymentsSchema,
      alternativeData: Success,
      errors: [
        ['INVALID_STATUS', 'The payment completed once: reverse or refund it instead.'],
        ['ORDER_CANCELED', 'The order is canceled.'],
        ROLE,
      ],
      handler: async (request, reply) => {
        const answer = listAnswerOf(request, reply);
        const data = await service.deletePayment(
          request.database,
          contextOf(request),
          request.params.uid,
          answer,
        );
        return { data: data ?? SUCCESS };
      },
    }),
    route({
      method: 'PATCH',
      url: '/payments/:uid',
      operationId: 'updatePayment',
      paymentWrite: true,
      summary:
        'Update a payment; money fields of a complete one only with correction: true (manager)',
      description:
        'While pending/progress any field may change (limits re-checked). Once complete: ' +
        '`note`, `attrs`, `customerUid`, `transactionRef`; `amount`, `methodId`, `sourcePaymentId` ' +
        'only with `correction: true` (warning `CORRECTION_RECORDED`). `status` follows the ' +
        'transitions: `complete` confirms, `reversed` reverses. `null` clears `note`, ' +
        '`customerUid` and `transactionRef`.',
      params: IdPath,
      body: UpdatePaymentBody,
      example: { params: { note: 'Paid at the counter', customerUid: null } },
      data: Success,
      errors: [
        [
          'INVALID_STATUS',
          'The change is not allowed in the current status (e.g. money fields of a complete payment without correction, a move backwards, reversing a receipt with refunds).',
        ],
        ['ORDER_CANCELED', 'The order is canceled.'],
        ['ORDER_CLOSED', 'The order is closed.'],
        ['MethodNotFound', 'The methodId does not exist or is hidden.'],
        LIMIT,
        ['DUPLICATE_TRANSACTION_REF', 'The transactionRef is used by another payment.'],
        ROLE,
      ],
      handler: (request) =>
        service.updatePayment(
          request.database,
          contextOf(request),
          request.params.uid,
          request.body.params,
        ),
    }),
    route({
      method: 'PATCH',
      url: '/payments/:uid/confirm',
      operationId: 'confirmPayment',
      paymentWrite: true,
      summary: "Mark a payment as completed; answers the order's payments",
      description:
        'pending/progress → complete. Confirming a complete payment again succeeds with ' +
        `warning \`ALREADY_COMPLETE\`. The body may be left out. ${MINIMAL_NOTE}`,
      headers: PreferHeaders,
      params: IdPath,
      body: ConfirmPaymentBody,
      example: { params: { transactionRef: 'GW-5f2c9a', attrs: { terminal: 'T-3' } } },
      data: OrderPaymentsSchema,
      alternativeData: Success,
      errors: [
        ['INVALID_STATUS', 'The payment is reversed.'],
        ['ORDER_CANCELED', 'The order is canceled.'],
        ['ORDER_CLOSED', 'The order is closed.'],
        ['DUPLICATE_TRANSACTION_REF', 'The transactionRef is used by another payment.'],
        ROLE,
      ],
      handler: async (request, reply) => {
        const answer = listAnswerOf(request, reply);
        const { data, warnings } = await service.confirmPayment(
          request.database,
          contextOf(request),
          request.params.uid,
          request.body?.params,
          answer,
        );
        return { data: data ?? SUCCESS, warnings };
      },
    }),
    route({
      method: 'GET',
      url: '/payments',
      operationId: 'listPayments',
      summary: 'List payments, newest first',
      description: 'Cursor paging: pass `next` back as `cursor`; null on the last page.',
      querystring: ListPaymentsQuery,
      data: Type.Object({
        items: OrderPaymentsSchema.properties.items,
        paymentMethods: OrderPaymentsSchema.properties.paymentMethods,
        next: Type.Union([Type.String(), Type.Null()]),
      }),
      errors: [],
      handler: async (request) => ({
        data: await service.listPayments(request.database, contextOf(request), request.query),
      }),
    }),
    route({
      method: 'GET',
      url: '/payments/:uid',
      operationId: 'getPayment',
      summary: 'Get a payment with what this key may do with it',
      params: IdPath,
      data: Type.Object({ payment: PaymentSchema }),
      errors: [],
      handler: async (request) => ({
        data: {
          payment: await service.getPayment(
            request.database,
            contextOf(request),
            request.params.uid,
          ),
        },
      }),
    }),
    route({
      method: 'GET',
      url: '/payments/:uid/history',
      operationId: 'getPaymentHistory',
      summary: "The payment's change records with before/after values, oldest first",
      params: IdPath,
      data: Type.Object({ items: Type.Array(HistoryRecordSchema) }),
      errors: [],
      handler: async (request) => ({
        data: {
          items: await service.paymentHistory(
            request.database,
            contextOf(request),
            request.params.uid,
          ),
        },
      }),
    }),
  ],
});
