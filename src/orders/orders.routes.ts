// Orders (API.md §3.2): schemas, codes, handlers.
import { Type } from '@sinclair/typebox';
import { contextOf } from '../http/auth.ts';
import { route, routes, type DeclaredError } from '../http/route.ts';
import { IdPath, Page, Success } from '../http/schemas.ts';
import {
  CreateOrderBody,
  ListOrdersQuery,
  OrderSchema,
  UpdateOrderBody,
} from './orders.schemas.ts';
import { OrderPaymentsSchema } from '../payments/payments.schemas.ts';
import type { OrderAction } from './orders.rules.ts';
import * as service from './orders.service.ts';

const ROLE: DeclaredError = [
  'FORBIDDEN',
  'The key may not act on this organization, or its role lacks the permission (`details.requiredRole`).',
];

const TRANSITIONS = [
  {
    action: 'close',
    operationId: 'closeOrder',
    summary: 'Close a settled order: nothing pending, nothing due (cashier)',
    description: 'An order whose total is 0 is settled at once and closes without payments.',
    errors: [
      ['ORDER_NOT_SETTLED', 'A payment is pending/progress, or balanceDue is not 0.'],
      ['ORDER_CLOSED', 'The order is already closed.'],
      ['ORDER_CANCELED', 'The order is canceled.'],
    ],
  },
  {
    action: 'cancel',
    operationId: 'cancelOrder',
    summary: 'Cancel an order with no money received and nothing pending (manager)',
    description: 'Only while paidAmount is 0 and no payment is pending/progress.',
    errors: [
      ['ORDER_NOT_SETTLED', 'Money was received (paidAmount is not 0) or a payment is pending.'],
      ['ORDER_CLOSED', 'The order is closed.'],
      ['ORDER_CANCELED', 'The order is already canceled.'],
    ],
  },
  {
    action: 'reopen',
    operationId: 'reopenOrder',
    summary: 'Reopen a closed order (manager)',
    description: 'closed → open, e.g. to take a late payment or change the total.',
    errors: [
      ['INVALID_STATUS', 'The order is not closed.'],
      ['ORDER_CANCELED', 'The order is canceled.'],
    ],
  },
] as const satisfies readonly {
  action: Exclude<OrderAction, 'update'>;
  operationId: string;
  summary: string;
  description: string;
  errors: readonly DeclaredError[];
}[];

/** Under /v1/om (organization keys). */
export const orderRoutes = routes({
  auth: 'organization',
  tags: ['orders'],
  routes: [
    route({
      method: 'POST',
      url: '/orders',
      operationId: 'createOrder',
      summary: 'Create an order (cashier)',
      description:
        '`total` may be 0 (a staff meal, a full discount): such an order is settled at once. ' +
        'A repeat with the same `externalRef` and content returns the same order with warning ' +
        '`ALREADY_RECORDED`.',
      body: CreateOrderBody,
      example: { params: { total: 42.75, customerUid: 'cust-1093', externalRef: 'POS-7-4411' } },
      data: Type.Object({ id: Type.String() }),
      errors: [
        ['DUPLICATE_EXTERNAL_REF', 'The externalRef is used by an order with other content.'],
        ROLE,
      ],
      handler: (request) =>
        service.createOrder(request.database, contextOf(request), request.body.params),
    }),
    route({
      method: 'GET',
      url: '/orders',
      operationId: 'listOrders',
      summary: 'List orders, newest first',
      description: 'Cursor paging: pass `next` back as `cursor`; null on the last page.',
      querystring: ListOrdersQuery,
      data: Page(OrderSchema),
      errors: [],
      handler: async (request) => ({
        data: await service.listOrders(request.database, contextOf(request), request.query),
      }),
    }),
    route({
      method: 'GET',
      url: '/orders/:uid',
      operationId: 'getOrder',
      summary: 'Get an order with its figures and what this key may do with it',
      params: IdPath,
      data: Type.Object({ order: OrderSchema }),
      errors: [],
      handler: async (request) => ({
        data: {
          order: await service.getOrder(request.database, contextOf(request), request.params.uid),
        },
      }),
    }),
    route({
      method: 'PATCH',
      url: '/orders/:uid',
      operationId: 'updateOrder',
      summary: 'Change the total or customer of an open order (cashier)',
      description:
        'The total may not go below what is paid plus what pending receipts reserve. ' +
        '`customerUid: null` removes the customer.',
      params: IdPath,
      body: UpdateOrderBody,
      example: { params: { total: 50, customerUid: null } },
      data: Success,
      errors: [
        ['ORDER_CLOSED', 'The order is closed.'],
        ['ORDER_CANCELED', 'The order is canceled.'],
        ROLE,
      ],
      handler: (request) =>
        service.updateOrder(
          request.database,
          contextOf(request),
          request.params.uid,
          request.body.params,
        ),
    }),
    route({
      method: 'GET',
      url: '/orders/:uid/payments',
      operationId: 'getOrderPayments',
      summary: "The order's payments and the payment methods they use",
      params: IdPath,
      data: OrderPaymentsSchema,
      errors: [],
      handler: async (request) => ({
        data: await service.getOrderPayments(
          request.database,
          contextOf(request),
          request.params.uid,
        ),
      }),
    }),
    ...TRANSITIONS.map(({ action, operationId, summary, description, errors }) =>
      route({
        method: 'PATCH',
        url: `/orders/:uid/${action}`,
        operationId,
        summary,
        description,
        params: IdPath,
        data: Success,
        errors: [...errors, ROLE],
        handler: async (request) => ({
          data: await service.transitionOrder(
            request.database,
            contextOf(request),
            request.params.uid,
            action,
          ),
        }),
      }),
    ),
  ],
});
