// Thin routes: schema in, one service call, envelope out.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { contextOf } from '../http/auth.ts';
import { ok } from '../http/envelope.ts';
import { Id, IdPath, OrgHeaders, Page, Success, responses } from '../http/schemas.ts';
import {
  CreatePaymentMethodBody,
  PaymentMethodListQuery,
  PaymentMethodSchema,
  UpdatePaymentMethodBody,
} from './payment-methods.schemas.ts';
import * as service from './payment-methods.service.ts';

const tags = ['payment methods'];

/** Under /v1/om (organization keys). */
export function paymentMethodRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/payment-methods',
      {
        schema: {
          tags,
          summary: 'Create a payment method (admin)',
          headers: OrgHeaders,
          body: CreatePaymentMethodBody,
          response: responses(Type.Object({ id: Id })),
        },
      },
      async (request) => {
        const method = await service.createPaymentMethod(
          request.database,
          contextOf(request),
          request.body.params,
        );
        return ok(request.id, { id: method.id });
      },
    );
    app.get(
      '/payment-methods',
      {
        schema: {
          tags,
          summary: 'List payment methods, newest first',
          headers: OrgHeaders,
          querystring: PaymentMethodListQuery,
          response: responses(Page(PaymentMethodSchema)),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.listPaymentMethods(request.database, contextOf(request), request.query),
        ),
    );
    app.get(
      '/payment-methods/:uid',
      {
        schema: {
          tags,
          summary: 'Get a payment method (hidden ones too)',
          headers: OrgHeaders,
          params: IdPath,
          response: responses(Type.Object({ paymentMethod: PaymentMethodSchema })),
        },
      },
      async (request) =>
        ok(request.id, {
          paymentMethod: await service.getPaymentMethod(
            request.database,
            contextOf(request),
            request.params.uid,
          ),
        }),
    );
    app.patch(
      '/payment-methods/:uid',
      {
        schema: {
          tags,
          summary: 'Change a payment method; locales merge per language and field (admin)',
          headers: OrgHeaders,
          params: IdPath,
          body: UpdatePaymentMethodBody,
          response: responses(Success),
        },
      },
      async (request) => {
        await service.updatePaymentMethod(
          request.database,
          contextOf(request),
          request.params.uid,
          request.body.params,
        );
        return ok(request.id, { success: true as const });
      },
    );
    app.delete(
      '/payment-methods/:uid',
      {
        schema: {
          tags,
          summary:
            'Delete a payment method; one used by payments is hidden instead, with warning ' +
            'METHOD_HIDDEN_NOT_DELETED (admin)',
          headers: OrgHeaders,
          params: IdPath,
          response: responses(Success),
        },
      },
      async (request) => {
        const { warnings } = await service.deletePaymentMethod(
          request.database,
          contextOf(request),
          request.params.uid,
        );
        return ok(request.id, { success: true as const }, warnings);
      },
    );
  };
}
