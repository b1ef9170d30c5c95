// Health and readiness (API.md §9), declared like every other route; and the document's tags.
import { Type } from '@sinclair/typebox';
import { AppError } from '../errors.ts';
import { INSTANCE_ID } from './envelope.ts';
import { route, routes } from './route.ts';

/** The document's tags, by resource, in the order a reader meets them. */
export const OPENAPI_TAGS = [
  { name: 'orders', description: 'Orders: the money header payments hang on (API.md §3.2).' },
  { name: 'payments', description: 'Receipts and refunds against orders (API.md §3.5).' },
  { name: 'payment methods', description: 'Cash, card … in Arabic and English (API.md §3.3).' },
  { name: 'invoices', description: 'Invoices of an order (API.md §3.4).' },
  { name: 'events', description: 'The events feed (API.md §7.1).' },
  { name: 'webhooks', description: 'Webhook endpoints and deliveries (API.md §7.2).' },
  { name: 'reports', description: "The day's takings by method and day (API.md §8)." },
  { name: 'organization', description: 'The calling organization.' },
  { name: 'administration', description: 'Organizations and api keys (admin keys).' },
  { name: 'operations', description: 'Health and readiness.' },
];

const Status = Type.Object({ status: Type.String(), instanceId: Type.String() });

export const operationsRoutes = routes({
  auth: 'public',
  tags: ['operations'],
  routes: [
    route({
      method: 'GET',
      url: '/healthz',
      operationId: 'health',
      summary: 'The process is up',
      description: 'Answers without touching the database.',
      data: Status,
      errors: [],
      handler: () => ({ data: { status: 'ok', instanceId: INSTANCE_ID } }),
    }),
    route({
      method: 'GET',
      url: '/readyz',
      operationId: 'ready',
      summary: 'The database is reachable',
      description: 'For a load balancer: 503 while the database cannot be reached.',
      data: Status,
      errors: [
        ['SERVICE_UNAVAILABLE', 'The database is unreachable; retry after `Retry-After` seconds.'],
      ],
      handler: async (request) => {
        try {
          await request.database.ping();
        } catch {
          throw new AppError('SERVICE_UNAVAILABLE');
        }
        return { data: { status: 'ok', instanceId: INSTANCE_ID } };
      },
    }),
  ],
});
