// Payment methods (API.md §3.3): schemas, codes, handlers.
import { Type } from '@sinclair/typebox';
import { contextOf } from '../http/auth.ts';
import { route, routes, type DeclaredError } from '../http/route.ts';
import { Id, IdPath, Page, Success } from '../http/schemas.ts';
import {
  CreatePaymentMethodBody,
  PaymentMethodListQuery,
  PaymentMethodSchema,
  UpdatePaymentMethodBody,
} from './payment-methods.schemas.ts';
import * as service from './payment-methods.service.ts';

const ADMIN: DeclaredError = [
  'FORBIDDEN',
  'The key may not act on this organization, or its role is not admin (`details.requiredRole`).',
];

/** Under /v1/om (organization keys). */
export const paymentMethodRoutes = routes({
  auth: 'organization',
  tags: ['payment methods'],
  routes: [
    route({
      method: 'POST',
      url: '/payment-methods',
      operationId: 'createPaymentMethod',
      summary: 'Create a payment method (admin)',
      description: 'Names in Arabic and English; `code` is unique per organization.',
      body: CreatePaymentMethodBody,
      example: {
        params: {
          locales: {
            ar: { name: 'نقدًا', description: null },
            en: { name: 'Cash', description: 'Paid at the till' },
          },
          visible: true,
          code: 'cash',
        },
      },
      data: Type.Object({ id: Id }),
      errors: [ADMIN],
      handler: async (request) => {
        const method = await service.createPaymentMethod(
          request.database,
          contextOf(request),
          request.body.params,
        );
        return { data: { id: method.id } };
      },
    }),
    route({
      method: 'GET',
      url: '/payment-methods',
      operationId: 'listPaymentMethods',
      summary: 'List payment methods, newest first',
      description: 'Cursor paging: pass `next` back as `cursor`; null on the last page.',
      querystring: PaymentMethodListQuery,
      data: Page(PaymentMethodSchema),
      errors: [],
      handler: async (request) => ({
        data: await service.listPaymentMethods(request.database, contextOf(request), request.query),
      }),
    }),
    route({
      method: 'GET',
      url: '/payment-methods/:uid',
      operationId: 'getPaymentMethod',
      summary: 'Get a payment method (hidden ones too)',
      params: IdPath,
      data: Type.Object({ paymentMethod: PaymentMethodSchema }),
      errors: [],
      handler: async (request) => ({
        data: {
          paymentMethod: await service.getPaymentMethod(
            request.database,
            contextOf(request),
            request.params.uid,
          ),
        },
      }),
    }),
    route({
      method: 'PATCH',
      url: '/payment-methods/:uid',
      operationId: 'updatePaymentMethod',
      summary: 'Change a payment method; locales merge per language and field (admin)',
      description: '`code: null` removes the code; `description: null` clears a description.',
      params: IdPath,
      body: UpdatePaymentMethodBody,
      example: { params: { locales: { en: { name: 'Card' } }, visible: false } },
      data: Success,
      errors: [ADMIN],
      handler: async (request) => {
        await service.updatePaymentMethod(
          request.database,
          contextOf(request),
          request.params.uid,
          request.body.params,
        );
        return { data: { success: true as const } };
      },
    }),
    route({
      method: 'DELETE',
      url: '/payment-methods/:uid',
      operationId: 'deletePaymentMethod',
      summary:
        'Delete a payment method; one used by payments is hidden instead, with warning ' +
        'METHOD_HIDDEN_NOT_DELETED (admin)',
      params: IdPath,
      data: Success,
      errors: [ADMIN],
      handler: async (request) => {
        const { warnings } = await service.deletePaymentMethod(
          request.database,
          contextOf(request),
          request.params.uid,
        );
        return { data: { success: true as const }, warnings };
      },
    }),
  ],
});
