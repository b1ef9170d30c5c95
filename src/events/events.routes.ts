// GET /v1/om/events (API.md §7.1): thin route over the feed service.
import { contextOf } from '../http/auth.ts';
import { route, routes } from '../http/route.ts';
import type { EventSignal } from './event-signal.ts';
import { FeedPage, FeedQuerySchema } from './events.schemas.ts';
import { listEvents } from './events.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Wakes feed readers held open by `wait` when their organization's events commit: one
     * per app, shared with the delivery worker (set in src/app.ts, closed with the app).
     */
    eventSignal: EventSignal;
  }
}

/** Under /v1/om (organization keys, any role). */
export const eventRoutes = routes({
  auth: 'organization',
  tags: ['events'],
  routes: [
    route({
      method: 'GET',
      url: '/events',
      operationId: 'listEvents',
      summary: 'The events feed, oldest first: follow `next` to receive every event exactly once',
      description: [
        "Every change to the organization's orders, payments, invoices, payment methods and " +
          'webhook endpoints, as events (API.md §7), in one order that never changes (§7.1). ' +
          'Any role may read it.',
        '',
        'Keep passing `next` back as `after`: a reader that does receives every committed ' +
          'event exactly once, also when transactions commit in another order than they ' +
          'wrote, on one instance or many. `next` is never null: with nothing new it is the ' +
          'given `after` again. Use `wait` (up to 30 s) to hold the request open until an ' +
          'event arrives instead of polling; it answers as soon as one commits. Narrow with ' +
          '`type` (`payment.created`, or a prefix such as `payment.`) and `entityId` (e.g. an ' +
          "order's events). Use the feed to keep a copy in step; use webhooks (§7.2) to be " +
          'called instead.',
      ].join('\n'),
      querystring: FeedQuerySchema,
      data: FeedPage,
      errors: [
        [
          'InvalidParameter',
          '`after` is not a `next` this feed answered, or `limit` (1–100), `type`, `entityId`, ' +
            '`wait` (0–30) or a header is invalid; `details.field` names it.',
        ],
        [
          'FORBIDDEN',
          'The key may not act on this organization (the feed itself is open to every role).',
        ],
      ],
      handler: async (request) => ({
        data: await listEvents(
          request.database,
          contextOf(request),
          request.server.eventSignal,
          request.query,
        ),
      }),
    }),
  ],
});
