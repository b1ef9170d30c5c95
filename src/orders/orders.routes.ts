import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Database } from '../db/engine.ts';

/** Under /v1/om (organization keys). */
export function orderRoutes(_database: Database): FastifyPluginAsyncTypebox {
  return async () => undefined;
}
