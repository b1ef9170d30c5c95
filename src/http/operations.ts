// Operations plugins (API.md §1, §8): Prometheus metrics and per-key rate limits.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyPluginCallback } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import fastifyMetricsModule, { type IMetricsPluginOptions } from 'fastify-metrics';
import { Registry } from 'prom-client';
import { AppError } from '../errors.ts';
import { inClusterWorker, instanceMetrics } from './cluster-metrics.ts';
import {
  idempotencyConflicts,
  idempotentReplays,
  pendingDeliveriesGauge,
  registerBusinessMetrics,
  setBusinessMetrics,
  type PendingDeliveries,
} from '../shared/metrics.ts';

// fastify-metrics is CommonJS with an `exports.default`; under NodeNext the plugin sits there.
const fastifyMetrics = ((fastifyMetricsModule as unknown as { default?: unknown }).default ??
  fastifyMetricsModule) as FastifyPluginCallback<Partial<IMetricsPluginOptions>>;

export interface MetricsSources {
  /** Counts the webhook backlog at each scrape (the composition gives it the database). */
  pendingDeliveries?: () => Promise<PendingDeliveries>;
}

/**
 * `GET /metrics` in Prometheus text format: process metrics and a latency histogram per
 * route. Each app has its own registry, so several apps in one process (tests) never clash.
 * In a worker of a WORKERS>1 instance it answers the whole instance's (cluster-metrics.ts).
 */
export async function registerMetrics(
  app: FastifyInstance,
  enabled: boolean,
  sources: MetricsSources = {},
): Promise<void> {
  setBusinessMetrics(enabled);
  if (!enabled) return;
  const registry = new Registry();
  registerBusinessMetrics(registry);
  if (sources.pendingDeliveries !== undefined) {
    registry.registerMetric(pendingDeliveriesGauge(sources.pendingDeliveries));
  }
  // Replays and conflicts of every keyed write, from the answer alone.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.getHeader('idempotent-replayed') === 'true') idempotentReplays.inc();
    else if (reply.statusCode === 409)
      idempotencyConflicts.inc({ code: 'IDEMPOTENCY_IN_PROGRESS' });
    else if (reply.statusCode === 422) idempotencyConflicts.inc({ code: 'IDEMPOTENCY_KEY_REUSED' });
    return payload;
  });
  await app.register(fastifyMetrics, {
    endpoint: null,
    defaultMetrics: { enabled: true, register: registry },
    routeMetrics: {
      enabled: { histogram: true, summary: false },
      groupStatusCodes: false,
      overrides: {
        histogram: { name: 'om_http_request_duration_seconds', registers: [registry] },
        summary: { registers: [registry] },
      },
    },
  });
  const gather = inClusterWorker() ? instanceMetrics(registry) : () => registry.metrics();
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    try {
      const text = await gather();
      reply.type(registry.contentType);
      return text;
    } catch (error) {
      // A failed scrape, not a partial one: Prometheus keeps the last figures and retries.
      request.log.warn({ err: error }, 'metrics not gathered');
      reply.code(503).type('text/plain; charset=utf-8');
      return "# the instance's metrics could not be gathered; retry\n";
    }
  });
}

/**
 * Requests per minute per api key (keys are told apart by a hash: no secret is kept), or per
 * address for calls without a key. 0 turns the limit off.
 */
export async function registerRateLimit(app: FastifyInstance, perMinute: number): Promise<void> {
  if (perMinute === 0) return;
  await app.register(rateLimit, {
    max: perMinute,
    timeWindow: 60_000,
    hook: 'onRequest',
    allowList: (request) => ['/healthz', '/readyz', '/metrics'].includes(request.url),
    keyGenerator: (request) => {
      const key = request.headers['api-key'];
      return typeof key === 'string' && key !== ''
        ? createHash('sha256').update(key).digest('base64url')
        : `ip:${request.ip}`;
    },
    errorResponseBuilder: (_request, context) =>
      new AppError('RATE_LIMITED', {
        limit: context.max,
        retryAfterSeconds: Math.ceil(context.ttl / 1000),
      }),
  });
}
