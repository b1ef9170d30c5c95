// GET /v1/om/events (API.md §7.1): thin route over the feed service.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { contextOf } from '../http/auth.ts';
import { ok } from '../http/envelope.ts';
import { OrgHeaders, responses } from '../http/schemas.ts';
import type { EventSignal } from './event-signal.ts';
import { FeedPage, FeedQuerySchema } from './events.schemas.ts';
import { listEvents } from './events.service.ts';

/** Error codes the feed can answer (for the per-route declaration in OpenAPI). */
export const EVENT_ROUTE_ERRORS = {
  'GET /events': ['InvalidParameter', 'UNAUTHORIZED', 'FORBIDDEN', 'RATE_LIMITED'],
} as const;

export function eventRoutes(signal: EventSignal): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/events',
      {
        schema: {
          tags: ['events'],
          operationId: 'listEvents',
          description: 'API.md §7.1.',
          summary:
            'The events feed, oldest first: follow `next` to receive every event exactly once',
          headers: OrgHeaders,
          querystring: FeedQuerySchema,
          response: responses(FeedPage),
        },
      },
      async (request) =>
        ok(
          request.id,
          await listEvents(request.database, contextOf(request), signal, request.query),
        ),
    );
  };
}
