// Thin routes: schema in, one service call, envelope out.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { contextOf } from '../http/auth.ts';
import { ok } from '../http/envelope.ts';
import { IdPath, OrgHeaders, Page, Success, responses } from '../http/schemas.ts';
import {
  CreateOrderBody,
  ListOrdersQuery,
  OrderSchema,
  UpdateOrderBody,
} from './orders.schemas.ts';
import { OrderPaymentsSchema } from '../payments/payments.schemas.ts';
import * as service from './orders.service.ts';

const tags = ['orders'];

/** Under /v1/om (organization keys). */
export function orderRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/orders',
      {
        schema: {
          tags,
          summary: 'Create an order (cashier)',
          headers: OrgHeaders,
          body: CreateOrderBody,
          response: responses(Type.Object({ id: Type.String() })),
        },
      },
      async (request) => {
        const { data, warnings } = await service.createOrder(
          request.database,
          contextOf(request),
          request.body.params,
        );
        return ok(request.id, data, warnings);
      },
    );
    app.get(
      '/orders',
      {
        schema: {
          tags,
          summary: 'List orders, newest first',
          headers: OrgHeaders,
          querystring: ListOrdersQuery,
          response: responses(Page(OrderSchema)),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.listOrders(request.database, contextOf(request), request.query),
        ),
    );
    app.get(
      '/orders/:uid',
      {
        schema: {
          tags,
          summary: 'Get an order with its figures and what this key may do with it',
          headers: OrgHeaders,
          params: IdPath,
          response: responses(Type.Object({ order: OrderSchema })),
        },
      },
      async (request) =>
        ok(request.id, {
          order: await service.getOrder(request.database, contextOf(request), request.params.uid),
        }),
    );
    app.patch(
      '/orders/:uid',
      {
        schema: {
          tags,
          summary: 'Change the total or customer of an open order (cashier)',
          headers: OrgHeaders,
          params: IdPath,
          body: UpdateOrderBody,
          response: responses(Success),
        },
      },
      async (request) => {
        const { data, warnings } = await service.updateOrder(
          request.database,
          contextOf(request),
          request.params.uid,
          request.body.params,
        );
        return ok(request.id, data, warnings);
      },
    );
    app.get(
      '/orders/:uid/payments',
      {
        schema: {
          tags,
          summary: "The order's payments and the payment methods they use",
          headers: OrgHeaders,
          params: IdPath,
          response: responses(OrderPaymentsSchema),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.getOrderPayments(request.database, contextOf(request), request.params.uid),
        ),
    );
    const transitions = [
      ['close', 'Close a settled order: nothing pending, nothing due (cashier)'],
      ['cancel', 'Cancel an order with no money received and nothing pending (manager)'],
      ['reopen', 'Reopen a closed order (manager)'],
    ] as const;
    for (const [action, summary] of transitions) {
      app.patch(
        `/orders/:uid/${action}`,
        {
          schema: {
            tags,
            summary,
            headers: OrgHeaders,
            params: IdPath,
            response: responses(Success),
          },
        },
        async (request) =>
          ok(
            request.id,
            await service.transitionOrder(
              request.database,
              contextOf(request),
              request.params.uid,
              action,
            ),
          ),
      );
    }
  };
}
