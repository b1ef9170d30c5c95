// The service's own figures on /metrics (API.md §9), beside the runtime's. The metric objects
// live here, once per process, so use cases can report what only they know (which payment
// was written, how long an order's lock took) without knowing about HTTP; each app's
// registry (src/http/operations.ts) exposes them. Names follow Prometheus conventions: the
// `om_` prefix, units in the name, and label values from small fixed sets — never an id.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RequestContext } from './context.ts';

export const paymentWrites = new Counter({
  name: 'om_payment_writes_total',
  help: 'Payment writes (create, update, confirm, delete) by operation, payment type, resulting status and outcome (success or the error code).',
  labelNames: ['operation', 'type', 'status', 'outcome'] as const,
  registers: [],
});

export const idempotentReplays = new Counter({
  name: 'om_idempotent_replays_total',
  help: 'Writes answered from a stored Idempotency-Key answer (idempotent-replayed: true).',
  registers: [],
});

export const idempotencyConflicts = new Counter({
  name: 'om_idempotency_conflicts_total',
  help: 'Idempotency-Key conflicts: IDEMPOTENCY_IN_PROGRESS (409) or IDEMPOTENCY_KEY_REUSED (422).',
  labelNames: ['code'] as const,
  registers: [],
});

export const orderLockWait = new Histogram({
  name: 'om_order_lock_wait_seconds',
  help: "Time from asking for an order's lock (a row lock on PostgreSQL, the write lock on SQLite) to holding it, per money change.",
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [],
});

/**
 * What became of a webhook attempt (API.md §7.3). `failed_attempt` will be retried;
 * `failed` was the last one; `event_gone`: the event was purged (EVENT_RETENTION_DAYS) before
 * it could be sent, so the delivery failed without an attempt.
 */
export type DeliveryOutcome = 'succeeded' | 'failed_attempt' | 'failed' | 'event_gone';

export const webhookDeliveries = new Counter({
  name: 'om_webhook_deliveries_total',
  help: 'Webhook delivery attempts by outcome: succeeded, failed_attempt (will be retried), failed (the last attempt failed), event_gone (purged before it was sent).',
  labelNames: ['outcome'] as const,
  registers: [],
});

export const webhookDeliveryLag = new Histogram({
  name: 'om_webhook_delivery_lag_seconds',
  help: "Time from an event's createdAt to the first attempt to deliver it, per delivery (retries are not counted).",
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [],
});

export const webhookAttemptsInFlight = new Gauge({
  name: 'om_webhook_attempts_in_flight',
  help: "Webhook attempts waiting for their receiver's answer right now, in this process (at most WEBHOOK_CONCURRENCY).",
  registers: [],
});

export const webhookEndpointsAtShare = new Gauge({
  name: 'om_webhook_endpoints_at_share',
  help: "Endpoints holding their whole share of this process's webhook attempts right now (WEBHOOK_ENDPOINT_CONCURRENCY): slow to answer, their further deliveries wait.",
  registers: [],
});

/** What a feed request answered (API.md §7.1). */
export type FeedOutcome = 'events' | 'empty' | 'timed_out' | 'error';

export const feedRequests = new Counter({
  name: 'om_events_feed_requests_total',
  help: 'GET /v1/om/events answers by outcome: events (at least one), empty (nothing new, no wait asked), timed_out (held for `wait`, nothing came), error (a bad `after` cursor or a database failure).',
  labelNames: ['outcome'] as const,
  registers: [],
});

export const feedWaiters = new Gauge({
  name: 'om_events_feed_waiters',
  help: 'Feed requests held open right now by `wait`, waiting for an event (API.md §7.1).',
  registers: [],
});

/** Registered into each app's registry (src/http/operations.ts). */
export function registerBusinessMetrics(registry: Registry): void {
  registry.registerMetric(paymentWrites);
  registry.registerMetric(idempotentReplays);
  registry.registerMetric(idempotencyConflicts);
  registry.registerMetric(orderLockWait);
  registry.registerMetric(webhookDeliveries);
  registry.registerMetric(webhookDeliveryLag);
  registry.registerMetric(webhookAttemptsInFlight);
  registry.registerMetric(webhookEndpointsAtShare);
  registry.registerMetric(feedRequests);
  registry.registerMetric(feedWaiters);
}

/** Pending deliveries as counted at scrape time (webhooks.service.ts pendingDeliveries). */
export interface PendingDeliveries {
  /** Due now: waiting for a worker. */
  due: number;
  /** Waiting for their retry time, or held by an attempt in flight. */
  scheduled: number;
}

/** Past this, /metrics gives up on the count rather than hold the scrape (NaN: unknown). */
const PENDING_COUNT_TIMEOUT_MS = 1000;

/**
 * `om_webhook_deliveries_pending{state}`, counted by `count` at each scrape: the backlog
 * lives in the database (shared by every instance), not in any process. One per app
 * (its database); a count that fails or is slow reads NaN — /metrics still answers, so
 * the runtime's figures stay visible while the database is down.
 */
export function pendingDeliveriesGauge(count: () => Promise<PendingDeliveries>): Gauge<'state'> {
  return new Gauge({
    name: 'om_webhook_deliveries_pending',
    help: 'Webhook deliveries not yet succeeded or failed, to enabled endpoints, by state: due (to be attempted now) or scheduled (a retry later, or an attempt in flight). NaN when the database could not be asked within 1 s.',
    labelNames: ['state'] as const,
    registers: [],
    // Every worker of a WORKERS>1 instance counts the same shared backlog: not a sum.
    aggregator: 'max',
    async collect() {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), PENDING_COUNT_TIMEOUT_MS);
      });
      const counted = await Promise.race([count().catch(() => undefined), late]);
      clearTimeout(timer);
      this.set({ state: 'due' }, counted?.due ?? NaN);
      this.set({ state: 'scheduled' }, counted?.scheduled ?? NaN);
    },
  });
}

let enabled = true;

/** Off (METRICS=0) the use cases' reports cost a branch each. */
export function setBusinessMetrics(on: boolean): void {
  enabled = on;
}

export const businessMetricsOn = (): boolean => enabled;

const stopped = (): void => undefined;

/** Starts timing a wait for an order's lock; call the answer once the lock is held. */
export function orderLockTimer(): () => void {
  if (!enabled) return stopped;
  const asked = process.hrtime.bigint();
  return () => orderLockWait.observe(Number(process.hrtime.bigint() - asked) / 1e9);
}

/**
 * Counts a webhook attempt's outcome and, for a delivery's first attempt, its lag from the
 * event's creation (webhooks.worker.ts). `attemptsBefore` is the delivery's count before it.
 */
export function reportDeliveryAttempt(
  outcome: DeliveryOutcome,
  attemptsBefore: number,
  eventCreatedAt: string | undefined,
): void {
  if (!enabled) return;
  webhookDeliveries.inc({ outcome });
  if (attemptsBefore === 0 && eventCreatedAt !== undefined && outcome !== 'event_gone') {
    const lag = (Date.now() - Date.parse(eventCreatedAt)) / 1000;
    if (Number.isFinite(lag)) webhookDeliveryLag.observe(Math.max(0, lag));
  }
}

/**
 * An attempt went to its receiver (webhooks.worker.ts); `atShare`: with it, its endpoint holds
 * its whole share of the attempts.
 */
export function reportAttemptStarted(atShare: boolean): void {
  if (!enabled) return;
  webhookAttemptsInFlight.inc();
  if (atShare) webhookEndpointsAtShare.inc();
}

/** The attempt ended; `atShare`: until it did, its endpoint held its whole share. */
export function reportAttemptEnded(atShare: boolean): void {
  if (!enabled) return;
  webhookAttemptsInFlight.dec();
  if (atShare) webhookEndpointsAtShare.dec();
}

/** Counts a feed answer (events.service.ts). */
export function reportFeedAnswer(outcome: FeedOutcome): void {
  if (enabled) feedRequests.inc({ outcome });
}

/** Marks a feed request held open; call the answer when it stops waiting. */
export function feedWaiting(): () => void {
  if (!enabled) return stopped;
  feedWaiters.inc();
  return () => feedWaiters.dec();
}

/** What a request wrote, for the route to count once it is answered (src/http/route.ts). */
export interface WrittenPayment {
  type: string;
  status: string;
}

const WRITTEN = new WeakMap<RequestContext, WrittenPayment>();

/** The payment this request's change left (the last one, if a request moves several). */
export function reportPaymentWritten(ctx: RequestContext, payment: WrittenPayment): void {
  if (enabled) WRITTEN.set(ctx, payment);
}

export function paymentWrittenBy(ctx: RequestContext | null): WrittenPayment | undefined {
  return ctx === null ? undefined : WRITTEN.get(ctx);
}
