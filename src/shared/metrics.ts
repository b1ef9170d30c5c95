// The service's own figures on /metrics (API.md §9), beside the runtime's. The metric objects
// live here, once per process, so use cases can report what only they know (which payment
// was written, how long an order's lock took) without knowing about HTTP; each app's
// registry (src/http/operations.ts) exposes them. Names follow Prometheus conventions: the
// `om_` prefix, units in the name, and label values from small fixed sets — never an id.
import { Counter, Histogram, type Registry } from 'prom-client';
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

/** Registered into each app's registry (src/http/operations.ts). */
export function registerBusinessMetrics(registry: Registry): void {
  registry.registerMetric(paymentWrites);
  registry.registerMetric(idempotentReplays);
  registry.registerMetric(idempotencyConflicts);
  registry.registerMetric(orderLockWait);
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
