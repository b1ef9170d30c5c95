// The seed's four payment endpoints plus reads. Thin: schema in, one service call, envelope out.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { contextOf } from '../http/auth.ts';
import { ok } from '../http/envelope.ts';
import { PREFER_HEADER_DESCRIPTION, prefersMinimal } from '../http/prefer.ts';
import { IdPath, OrgHeaders, Success, responses } from '../http/schemas.ts';
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

const tags = ['payments'];
const headers = OrgHeaders;

// Confirm and delete answer the order's payments, or `{success: true}` when the caller
// prefers a minimal answer (src/http/prefer.ts).
const listAnswerHeaders = Type.Object({
  ...OrgHeaders.properties,
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

/** Under /v1/om (organization keys). */
export function paymentRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/payments',
      {
        schema: {
          tags,
          headers,
          summary: 'Create a payment (receipt or refund) for an order',
          body: CreatePaymentBody,
          response: responses(Type.Object({ id: Type.String() })),
        },
      },
      async (request) => {
        const { data, warnings } = await service.createPayment(
          request.database,
          contextOf(request),
          request.body.params,
        );
        return ok(request.id, data, warnings);
      },
    );
    app.delete(
      '/payments/:uid',
      {
        schema: {
          tags,
          headers: listAnswerHeaders,
          summary: "Delete a payment that never completed; answers the order's remaining payments",
          description: MINIMAL_NOTE,
          params: IdPath,
          response: responses(OrderPaymentsSchema),
        },
      },
      async (request, reply) => {
        const answer = listAnswerOf(request, reply);
        const data = await service.deletePayment(
          request.database,
          contextOf(request),
          request.params.uid,
          answer,
        );
        return ok(request.id, data ?? SUCCESS);
      },
    );
    app.patch(
      '/payments/:uid',
      {
        schema: {
          tags,
          headers,
          summary:
            'Update a payment; money fields of a complete one only with correction: true (manager)',
          params: IdPath,
          body: UpdatePaymentBody,
          response: responses(Success),
        },
      },
      async (request) => {
        const { data, warnings } = await service.updatePayment(
          request.database,
          contextOf(request),
          request.params.uid,
          request.body.params,
        );
        return ok(request.id, data, warnings);
      },
    );
    app.patch(
      '/payments/:uid/confirm',
      {
        schema: {
          tags,
          summary: "Mark a payment as completed; answers the order's payments",
          description: MINIMAL_NOTE,
          headers: listAnswerHeaders,
          params: IdPath,
          body: ConfirmPaymentBody,
          response: responses(OrderPaymentsSchema),
        },
      },
      async (request, reply) => {
        const answer = listAnswerOf(request, reply);
        const { data, warnings } = await service.confirmPayment(
          request.database,
          contextOf(request),
          request.params.uid,
          request.body?.params,
          answer,
        );
        return ok(request.id, data ?? SUCCESS, warnings);
      },
    );
    app.get(
      '/payments',
      {
        schema: {
          tags,
          headers,
          summary: 'List payments, newest first',
          querystring: ListPaymentsQuery,
          response: responses(
            Type.Object({
              items: OrderPaymentsSchema.properties.items,
              paymentMethods: OrderPaymentsSchema.properties.paymentMethods,
              next: Type.Union([Type.String(), Type.Null()]),
            }),
          ),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.listPayments(request.database, contextOf(request), request.query),
        ),
    );
    app.get(
      '/payments/:uid',
      {
        schema: {
          tags,
          headers,
          summary: 'Get a payment with what this key may do with it',
          params: IdPath,
          response: responses(Type.Object({ payment: PaymentSchema })),
        },
      },
      async (request) =>
        ok(request.id, {
          payment: await service.getPayment(
            request.database,
            contextOf(request),
            request.params.uid,
          ),
        }),
    );
    app.get(
      '/payments/:uid/history',
      {
        schema: {
          tags,
          headers,
          summary: "The payment's change records with before/after values, oldest first",
          params: IdPath,
          response: responses(Type.Object({ items: Type.Array(HistoryRecordSchema) })),
        },
      },
      async (request) =>
        ok(request.id, {
          items: await service.paymentHistory(
            request.database,
            contextOf(request),
            request.params.uid,
          ),
        }),
    );
  };
}
