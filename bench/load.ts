// HTTP load with autocannon: each connection plays a till, repeating a cycle of requests on
// one order at a time. Orders come round-robin from a pool larger than the number of
// connections, so two tills never work the same order at once (as in a shop) and no order
// passes the per-order payment limit. Every write carries a fresh Idempotency-Key.
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import {
  cpuPerRequest,
  cpuSnapshot,
  processTree,
  type CpuPerRequest,
  type CpuSnapshot,
} from './cpu.ts';

export interface Target {
  url: string;
  organizationId: string;
  apiKey: string;
  methodId: string;
  /** The server process, for its resident memory and CPU. */
  pid: number;
  /** PostgreSQL's processes run beside it (their CPU is reported). */
  postgres: boolean;
}

type Ctx = Record<string, string | undefined>;
type Step = Omit<autocannon.Request, 'setupRequest' | 'onResponse'> & {
  /** Builds the request from the cycle's context; undefined skips the rest of the cycle. */
  build: (
    ctx: Ctx,
  ) => { path: string; body?: unknown; headers?: Record<string, string> } | undefined;
  /** Stores what later steps need (e.g. the id of a created payment). */
  keep?: (data: Record<string, unknown>, ctx: Ctx) => void;
};

export interface Scenario {
  name: string;
  /** What one cycle does, for the report. */
  description: string;
  steps: (t: Target, nextOrder: () => string, source: (order: string) => string) => Step[];
  /** Payments one cycle adds to its order (sizes the order pool). */
  paymentsPerCycle: number;
}

const API = '/v1/om';

const receipt = (t: Target, orderId: string, amount: number, status?: 'complete') => ({
  params: { orderId, type: 'receipt', methodId: t.methodId, amount, ...(status ? { status } : {}) },
});

const createPending = (t: Target, nextOrder: () => string): Step => ({
  method: 'POST',
  build: (ctx) => ({ path: `${API}/payments`, body: receipt(t, (ctx.order = nextOrder()), 2) }),
  keep: (data, ctx) => (ctx.pending = data.id as string),
});
const confirm: Step = {
  method: 'PATCH',
  build: (ctx) =>
    ctx.pending === undefined
      ? undefined
      : { path: `${API}/payments/${ctx.pending}/confirm`, body: {} },
};
const refundOf = (key: 'pending' | 'cash' | 'source'): Step => ({
  method: 'POST',
  build: (ctx) =>
    ctx[key] === undefined
      ? undefined
      : {
          path: `${API}/payments`,
          body: {
            params: {
              orderId: ctx.order,
              type: 'refund',
              sourcePaymentId: ctx[key],
              amount: 1,
              status: 'complete',
            },
          },
        },
});

export const SCENARIOS: Record<string, Scenario> = {
  mixed: {
    name: 'mixed',
    description:
      'create receipt (pending), confirm it, cash receipt created complete, partial refund of it, GET order, list the order’s payments',
    paymentsPerCycle: 3,
    steps: (t, nextOrder) => [
      createPending(t, nextOrder),
      confirm,
      {
        method: 'POST',
        build: (ctx) => ({ path: `${API}/payments`, body: receipt(t, ctx.order!, 3, 'complete') }),
        keep: (data, ctx) => (ctx.cash = data.id as string),
      },
      refundOf('cash'),
      { method: 'GET', build: (ctx) => ({ path: `${API}/orders/${ctx.order}` }) },
      { method: 'GET', build: (ctx) => ({ path: `${API}/orders/${ctx.order}/payments` }) },
    ],
  },
  'create-payment': {
    name: 'create-payment',
    description: 'cash receipt created complete',
    paymentsPerCycle: 1,
    steps: (t, nextOrder) => [
      {
        method: 'POST',
        build: () => ({ path: `${API}/payments`, body: receipt(t, nextOrder(), 1, 'complete') }),
      },
    ],
  },
  'create-confirm': {
    name: 'create-confirm',
    description: 'receipt created pending, then confirmed',
    paymentsPerCycle: 1,
    steps: (t, nextOrder) => [createPending(t, nextOrder), confirm],
  },
  refund: {
    name: 'refund',
    description: 'partial refund (1.00) of an order’s earlier receipt',
    paymentsPerCycle: 1,
    steps: (_t, nextOrder, source) => [
      {
        ...refundOf('source'),
        build: (ctx) => {
          ctx.order = nextOrder();
          ctx.source = source(ctx.order);
          return refundOf('source').build(ctx);
        },
      },
    ],
  },
  'create-pending': {
    name: 'create-pending',
    description: 'receipt created pending',
    paymentsPerCycle: 1,
    steps: (t, nextOrder) => [createPending(t, nextOrder)],
  },
  confirm: {
    name: 'confirm',
    description: 'an order’s pending receipt confirmed (answers the order’s payments)',
    paymentsPerCycle: 0,
    steps: (_t, nextOrder, source) => [
      {
        ...confirm,
        build: (ctx) => {
          ctx.pending = source(nextOrder());
          return confirm.build(ctx);
        },
      },
    ],
  },
  'confirm-minimal': {
    name: 'confirm-minimal',
    description:
      'an order’s pending receipt confirmed with `Prefer: return=minimal` (answers {success: true})',
    paymentsPerCycle: 0,
    steps: (_t, nextOrder, source) => [
      {
        ...confirm,
        build: (ctx) => {
          ctx.pending = source(nextOrder());
          const built = confirm.build(ctx);
          return built && { ...built, headers: { prefer: 'return=minimal' } };
        },
      },
    ],
  },
  'get-order': {
    name: 'get-order',
    description: 'GET an order',
    paymentsPerCycle: 0,
    steps: (_t, nextOrder) => [
      { method: 'GET', build: () => ({ path: `${API}/orders/${nextOrder()}` }) },
    ],
  },
  'list-payments': {
    name: 'list-payments',
    description: 'list an order’s payments (10 payments each)',
    paymentsPerCycle: 0,
    steps: (_t, nextOrder) => [
      { method: 'GET', build: () => ({ path: `${API}/orders/${nextOrder()}/payments` }) },
    ],
  },
};

export interface LoadResult {
  scenario: string;
  connections: number;
  durationS: number;
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** Connection errors, timeouts, non-2xx answers and cycles cut short by a failed step. */
  errors: number;
  statusCodes: Record<string, number>;
  /** A few failed answers, to say why. */
  failures: string[];
  rssMb: number;
  /** CPU per request by process (service, database, load generator) and the machine's idle share. */
  cpu: CpuPerRequest;
}

/** RSS of the service: its process, or with WORKERS>1 the primary and every worker. */
export function rssMb(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      kb += Number(
        /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0,
      );
    } catch {
      // ended meanwhile
    }
  }
  return Math.round((kb / 1024) * 10) / 10;
}

export interface LoadOptions {
  connections: number;
  /** Seconds, or … */
  durationS?: number;
  /** … a fixed number of cycles. */
  cycles?: number;
  /** Called every second with the server's RSS (for the memory figure). */
  onSecond?: (second: number, rssMb: number) => void;
}

export async function runLoad(
  scenario: Scenario,
  target: Target,
  orders: string[],
  options: LoadOptions,
  source: (order: string) => string = () => {
    throw new Error('this scenario has no source receipts');
  },
): Promise<LoadResult> {
  let cursor = 0;
  const nextOrder = () => orders[cursor++ % orders.length]!;
  const runId = randomBytes(4).toString('hex');
  let keys = 0;
  let lastResponseAt = 0;
  const failures: string[] = [];
  const base = {
    'content-type': 'application/json',
    'api-key': target.apiKey,
    'organization-id': target.organizationId,
  };
  const steps = scenario.steps(target, nextOrder, source);
  // A fixed-amount run ends at its last answer, not when autocannon notices (up to a second
  // later, idle): its CPU is read at that answer, or the idle share would count the wait.
  const amount = options.cycles === undefined ? undefined : options.cycles * steps.length;
  let answered = 0;
  let cpuAtLastAnswer: CpuSnapshot | undefined;
  const requests: autocannon.Request[] = steps.map((step) => ({
    method: step.method,
    setupRequest: (request: autocannon.Request, context: object) => {
      const built = step.build(context as Ctx);
      if (built === undefined) return undefined as unknown as autocannon.Request;
      const write = step.method !== 'GET';
      return {
        ...request,
        path: built.path,
        headers: {
          ...(write ? { ...base, 'idempotency-key': `bench-${runId}-${keys++}` } : base),
          ...built.headers,
        },
        body: built.body === undefined ? undefined : JSON.stringify(built.body),
      };
    },
    onResponse: (status: number, body: string, context: object) => {
      lastResponseAt = performance.now();
      if (++answered === amount) cpuAtLastAnswer = cpuSnapshot(target.pid, target.postgres);
      if (status >= 200 && status < 300) {
        if (step.keep)
          step.keep((JSON.parse(body) as { data: Record<string, unknown> }).data, context as Ctx);
      } else if (failures.length < 5) failures.push(`${status} ${body.slice(0, 300)}`);
    },
  }));
  const instance = autocannon({
    url: target.url,
    connections: options.connections,
    ...(options.cycles !== undefined ? { amount } : { duration: options.durationS ?? 10 }),
    timeout: 10,
    requests,
  });
  let second = 0;
  const sampler = setInterval(() => options.onSecond?.(++second, rssMb(target.pid)), 1000);
  const started = performance.now();
  const cpuBefore = cpuSnapshot(target.pid, target.postgres);
  const result = await instance;
  const cpu = cpuPerRequest(
    cpuBefore,
    cpuAtLastAnswer ?? cpuSnapshot(target.pid, target.postgres),
    result.requests.total,
    target.postgres,
  );
  // autocannon notices the end of a fixed-amount run on its next one-second tick and
  // reports whole seconds; the last answer's time is the real end.
  const durationS =
    ((options.cycles !== undefined ? lastResponseAt : performance.now()) - started) / 1000;
  clearInterval(sampler);
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {}))
    statusCodes[code] = Number(count);
  return {
    scenario: scenario.name,
    connections: options.connections,
    durationS,
    requests: result.requests.total,
    reqPerSec: result.requests.total / durationS,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    p999Ms: result.latency.p99_9,
    errors: result.errors + result.timeouts + result.non2xx + result.mismatches + result.resets,
    statusCodes,
    failures,
    rssMb: rssMb(target.pid),
    cpu,
  };
}
