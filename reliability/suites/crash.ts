// Crash suite: the real server is killed -9 mid-load and restarted, repeatedly; then two
// instances share the database and one of them is killed -9 mid-burst while the clients fail
// over to the survivor with their keys (API.md §5, §9: several instances on one database); on PostgreSQL
// the database itself is also stopped abruptly (`pg_ctl stop -m immediate`) under load and
// started again while the service keeps running. Every write carries a fresh Idempotency-Key;
// a write whose answer never arrived is retried afterwards with the same key and body, as a
// client would (API.md §5), until it gets one. Then the stored rows are compared with the
// answers: nothing acknowledged may be missing, no key may have produced two effects, every
// order's figures must be exactly what the answered writes make, and the database invariants
// must hold. During a database outage every answer must be 503 with Retry-After (API.md §1),
// and the service must recover by itself once the database is back.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { checkDatabaseInvariants, minorToWire, storedFigures } from '../invariants.ts';
import {
  ENGINE,
  atLeast,
  atMost,
  exactly,
  fixture,
  headersFor,
  makeOrganization,
  sleep,
  startServer,
  type Figure,
  type Fixture,
  type OrgKeys,
  type Profile,
  type ServerHandle,
  type SuiteResult,
} from '../lib.ts';

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

const WRITERS = 8;
/** A write whose answer is a refusal (503, connection refused) is retried with its key … */
const REFUSED_RETRY_DELAY_MS = 50;
/** … for at most this long while the load runs (then it is parked for the retry phase). */
const IN_LOAD_RETRY_LIMIT_MS = 20_000;
/** The retry phase: every unanswered write, same key and body, at most this many times. */
const PARKED_RETRY_ATTEMPTS = 60;
const PARKED_RETRY_DELAY_MS = 250;
const REQUEST_TIMEOUT_MS = 15_000;
/** Writes acknowledged this shortly before a crash are also read back over HTTP. */
const PRE_CRASH_WINDOW_MS = 400;
const RECOVERY_MARK_MS = 15_000;
const RECOVERY_GIVE_UP_MS = 30_000;
/** A killed worker must be running again (src/cluster.ts) within this; see its figure. */
const WORKER_REPLACED_MARK_MS = 25_000;

const PLAN = {
  ci: { cycles: 3, loadMs: 2000, outages: 1, outageMs: 2000, instanceCycles: 2 },
  full: { cycles: 10, loadMs: 2000, outages: 3, outageMs: 2000, instanceCycles: 6 },
} as const;

// ---------------------------------------------------------------------------------------------
// The ledger: every write, every attempt, and what the answers say the database must hold
// ---------------------------------------------------------------------------------------------

type Outcome = 'ok' | 'refused' | 'unknown';
type Kind = 'order' | 'receipt' | 'refund' | 'confirm';

interface Answer {
  status: number;
  body: any;
  headers: Headers;
  /** ok: an answer (2xx/4xx/5xx≠503); refused: 503 or connection refused; unknown: no answer. */
  outcome: Outcome;
  sentAt: number;
  answeredAt: number;
  cause?: string;
}

interface ModelPayment {
  id: string;
  type: 'receipt' | 'refund';
  amountMinor: number;
  status: 'pending' | 'complete';
  sourceId: string | null;
}

interface ModelOrder {
  id?: string;
  totalMinor: number;
  payments: ModelPayment[];
}

interface Op {
  seq: number;
  phase: string;
  kind: Kind;
  method: 'POST' | 'PATCH';
  path: string;
  body: unknown;
  key: string;
  order: ModelOrder;
  /** receipt/refund: what is created; confirm: undefined (see `target`). */
  create?: Omit<ModelPayment, 'id'>;
  /** confirm: the payment it completes. */
  target?: ModelPayment;
  attempts: number;
  /** The answer that settles the write (anything but no answer, 503 or 409 in progress). */
  final?: Answer;
  /** Answered by the retry phase (after the crash / outage), not during the load. */
  settledByRetry: boolean;
  parked: boolean;
}

interface Counters {
  sent: number;
  ok: number;
  refused503: number;
  refusedConnection: number;
  unknown: number;
  inProgress409: number;
  server5xxNot503: number;
  unexpected4xx: number;
  retriedWrites: number;
  retryAttempts: number;
  retriesReplayed: number;
  /** Writes refused (503 / connection refused) whose retry found them done: replayed. */
  replayedAfterRefusal: number;
}

const newCounters = (): Counters => ({
  sent: 0,
  ok: 0,
  refused503: 0,
  refusedConnection: 0,
  unknown: 0,
  inProgress409: 0,
  server5xxNot503: 0,
  unexpected4xx: 0,
  retriedWrites: 0,
  retryAttempts: 0,
  retriesReplayed: 0,
  replayedAfterRefusal: 0,
});

/** One part of the suite (kill -9 cycles, or database outages), on its own organization. */
interface Part {
  org: OrgKeys;
  headers: Record<string, string>;
  ops: Op[];
  orders: ModelOrder[];
  counters: Counters;
  /** Every attempt and the instance it went to, for the outage and survivor analyses. */
  attempts: { op: Op; answer: Answer; base: string }[];
  /** Moments of crashes / outages, to pick the writes acknowledged just before. */
  crashes: number[];
  unexpected: string[];
}

let seq = 0;
const now = () => performance.now();
const randInt = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
const wire = (minor: number) => minorToWire(minor, 2); // SAR

function connectionRefused(error: unknown): boolean {
  const seen = new Set<unknown>();
  const walk = (e: unknown): boolean => {
    if (typeof e !== 'object' || e === null || seen.has(e)) return false;
    seen.add(e);
    if ((e as { code?: unknown }).code === 'ECONNREFUSED') return true;
    if (e instanceof AggregateError && e.errors.some(walk)) return true;
    return walk((e as { cause?: unknown }).cause);
  };
  return walk(error);
}

function describeError(error: unknown): string {
  const e = error as { cause?: { code?: string; message?: string }; message?: string };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(error);
}

/**
 * One attempt of a write. `call()` of lib.ts folds every network failure into status 0; here a
 * connection that was refused (nothing reached the server: a definite refusal) is told apart
 * from one that broke after the request may have been received (unknown).
 */
async function send(base: string, headers: Record<string, string>, op: Op): Promise<Answer> {
  const sentAt = now();
  try {
    const r = await fetch(base + op.path, {
      method: op.method,
      headers: { 'content-type': 'application/json', ...headers, 'idempotency-key': op.key },
      body: JSON.stringify(op.body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await r.text();
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    return {
      status: r.status,
      body,
      headers: r.headers,
      outcome: r.status === 503 ? 'refused' : 'ok',
      sentAt,
      answeredAt: now(),
    };
  } catch (error) {
    return {
      status: 0,
      body: null,
      headers: new Headers(),
      outcome: connectionRefused(error) ? 'refused' : 'unknown',
      sentAt,
      answeredAt: now(),
      cause: describeError(error),
    };
  }
}

class Load {
  stopped = false;
  readonly bases: readonly string[];
  constructor(
    readonly part: Part,
    /**
     * The instances, as behind a load balancer: a write's attempts take them in turn, so a
     * client whose instance died retries on another one with the same key.
     */
    bases: string | readonly string[],
    public phase: string,
  ) {
    this.bases = typeof bases === 'string' ? [bases] : bases;
  }

  async attempt(op: Op, retry: boolean): Promise<Answer> {
    const { counters } = this.part;
    const base = this.bases[(op.seq + op.attempts) % this.bases.length]!;
    op.attempts++;
    const a = await send(base, this.part.headers, op);
    counters.sent++;
    if (retry) counters.retryAttempts++;
    if (a.outcome === 'ok') counters.ok++;
    else if (a.outcome === 'unknown') counters.unknown++;
    else if (a.status === 503) counters.refused503++;
    else counters.refusedConnection++;
    if (a.status === 409) counters.inProgress409++;
    if (a.status >= 500 && a.status !== 503) {
      counters.server5xxNot503++;
      this.part.unexpected.push(`${op.kind} ${op.path}: ${a.status} ${JSON.stringify(a.body)}`);
    }
    this.part.attempts.push({ op, answer: a, base });
    return a;
  }

  /** Records the answer that settles `op` and what a 200 means for the model. */
  settle(op: Op, a: Answer, byRetry: boolean): void {
    op.final = a;
    op.parked = false;
    op.settledByRetry = byRetry;
    if (a.status !== 200) {
      if (a.status < 500) this.part.counters.unexpected4xx++;
      this.part.unexpected.push(
        `${op.kind} ${op.method} ${op.path} answered ${a.status}: ${JSON.stringify(a.body?.error ?? a.body)}`,
      );
      return;
    }
    const id = a.body?.data?.id as string | undefined;
    if (op.kind === 'order') op.order.id = id;
    else if (op.kind === 'confirm') op.target!.status = 'complete';
    else if (id !== undefined) op.order.payments.push({ ...op.create!, id });
  }

  /**
   * Sends a write until it is settled. A refusal (503, connection refused: nothing done, or at
   * least nothing acknowledged) is retried with the same key; a write with no answer is parked
   * for the retry phase and its chain abandoned. True when the answer was 200.
   */
  async step(op: Op): Promise<boolean> {
    this.part.ops.push(op);
    const started = now();
    let refusedBefore = false;
    for (;;) {
      const a = await this.attempt(op, false);
      if (a.outcome === 'unknown') {
        op.parked = true;
        return false;
      }
      if (a.outcome === 'refused' || a.status === 409) {
        if (this.stopped || now() - started > IN_LOAD_RETRY_LIMIT_MS) {
          op.parked = true;
          return false;
        }
        refusedBefore = true;
        await sleep(a.status === 0 ? 20 : REFUSED_RETRY_DELAY_MS);
        continue;
      }
      if (refusedBefore && a.headers.get('idempotent-replayed') === 'true')
        this.part.counters.replayedAfterRefusal++;
      this.settle(op, a, false);
      return a.status === 200;
    }
  }

  op(
    kind: Kind,
    method: Op['method'],
    url: string,
    body: unknown,
    order: ModelOrder,
    extra: Partial<Op> = {},
  ): Op {
    return {
      seq: seq++,
      phase: this.phase,
      kind,
      method,
      path: url,
      body,
      key: `crash-${randomUUID()}`,
      order,
      attempts: 0,
      settledByRetry: false,
      parked: false,
      ...extra,
    };
  }

  async createPayment(
    order: ModelOrder,
    create: Omit<ModelPayment, 'id'>,
  ): Promise<ModelPayment | undefined> {
    const params: Record<string, unknown> = {
      orderId: order.id,
      type: create.type,
      amount: wire(create.amountMinor),
      status: create.status,
    };
    if (create.type === 'receipt') params.methodId = this.part.org.method;
    if (create.sourceId !== null) params.sourcePaymentId = create.sourceId;
    const op = this.op(create.type, 'POST', '/v1/om/payments', { params }, order, { create });
    if (!(await this.step(op))) return undefined;
    return order.payments.find((p) => p.id === op.final?.body?.data?.id);
  }

  async confirm(order: ModelOrder, target: ModelPayment): Promise<boolean> {
    const op = this.op(
      'confirm',
      'PATCH',
      `/v1/om/payments/${target.id}/confirm`,
      { params: { orderId: order.id } },
      order,
      { target },
    );
    return this.step(op);
  }

  /**
   * One order and its payments: receipts (pending then confirmed, or complete at once) and
   * refunds of part of them (complete, or pending then confirmed). Every step is valid, so any
   * answer but 200 is a finding; the chain stops at the first write it cannot be sure of.
   */
  async chain(): Promise<void> {
    const order: ModelOrder = { totalMinor: randInt(50_000, 100_000), payments: [] };
    this.part.orders.push(order);
    const create = this.op(
      'order',
      'POST',
      '/v1/om/orders',
      { params: { total: wire(order.totalMinor) } },
      order,
    );
    if (!(await this.step(create))) return;
    for (let round = 0; round < 3 && !this.stopped; round++) {
      const a = await this.createPayment(order, {
        type: 'receipt',
        amountMinor: randInt(200, 5000),
        status: 'pending',
        sourceId: null,
      });
      if (a === undefined || !(await this.confirm(order, a))) return;
      const r1 = await this.createPayment(order, {
        type: 'refund',
        amountMinor: randInt(1, Math.floor(a.amountMinor / 2)),
        status: 'complete',
        sourceId: a.id,
      });
      if (r1 === undefined) return;
      const b = await this.createPayment(order, {
        type: 'receipt',
        amountMinor: randInt(200, 5000),
        status: 'complete',
        sourceId: null,
      });
      if (b === undefined) return;
      const r2 = await this.createPayment(order, {
        type: 'refund',
        amountMinor: randInt(1, Math.floor(b.amountMinor / 2)),
        status: 'pending',
        sourceId: b.id,
      });
      if (r2 === undefined || !(await this.confirm(order, r2))) return;
    }
  }

  private writers: Promise<void>[] = [];
  start(): void {
    this.stopped = false;
    this.writers = Array.from({ length: WRITERS }, async () => {
      while (!this.stopped) await this.chain();
    });
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.writers);
  }

  /** Every parked write again, same key and body, until it is answered (bounded). */
  async retryParked(): Promise<{ retried: number; ms: number }> {
    const t0 = now();
    const parked = this.part.ops.filter((o) => o.parked && o.final === undefined);
    this.part.counters.retriedWrites += parked.length;
    await Promise.all(
      parked.map(async (op) => {
        for (let i = 0; i < PARKED_RETRY_ATTEMPTS; i++) {
          const a = await this.attempt(op, true);
          if (a.outcome === 'ok' && a.status !== 409) {
            if (a.headers.get('idempotent-replayed') === 'true')
              this.part.counters.retriesReplayed++;
            this.settle(op, a, true);
            return;
          }
          await sleep(PARKED_RETRY_DELAY_MS);
        }
      }),
    );
    return { retried: parked.length, ms: Math.round(now() - t0) };
  }
}

// ---------------------------------------------------------------------------------------------
// Checking the stored rows against the answers
// ---------------------------------------------------------------------------------------------

interface Verdict {
  acknowledged: number;
  lost: number;
  duplicates: number;
  figuresOff: number;
  invariants: number;
  unresolved: number;
  httpChecked: number;
  details: string[];
}

/** Retries a read through a connection pool that may still hold connections of a dead server. */
async function tolerant<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (error) {
      if (i >= 10) throw error;
      await sleep(500);
    }
  }
}

async function verify(f: Fixture, base: string, part: Part): Promise<Verdict> {
  const db = f.database.db;
  const orgId = part.org.id;
  const details: string[] = [];
  const lost = new Set<number>();
  const note = (op: Op, why: string) => {
    lost.add(op.seq);
    if (details.length < 20) details.push(`lost ${op.kind} (key ${op.key}): ${why}`);
  };

  const [payments, orders, events] = await tolerant(() =>
    Promise.all([
      db.selectFrom('payments').selectAll().where('organization_id', '=', orgId).execute(),
      db.selectFrom('orders').selectAll().where('organization_id', '=', orgId).execute(),
      db
        .selectFrom('events')
        .select(['entity_id', 'type'])
        .where('organization_id', '=', orgId)
        .where('entity_type', '=', 'payment')
        .execute(),
    ]),
  );
  const paymentById = new Map(payments.map((p) => [p.id, p]));
  const orderById = new Map(orders.map((o) => [o.id, o]));

  const acked = part.ops.filter((o) => o.final?.status === 200);
  const createdIds = new Map<string, Op>();
  for (const op of acked) {
    const id = op.final!.body?.data?.id as string | undefined;
    if (op.kind === 'order' || op.kind === 'receipt' || op.kind === 'refund') {
      if (id === undefined) {
        note(op, 'a 200 without data.id');
        continue;
      }
      const other = createdIds.get(id);
      if (other !== undefined) note(op, `the same id ${id} as key ${other.key}`);
      createdIds.set(id, op);
    }
    if (op.kind === 'order') {
      const row = orderById.get(id!);
      if (row === undefined) note(op, `order ${id} is not stored`);
      else if (Number(row.total_minor) !== op.order.totalMinor)
        note(op, `order ${id} total ${row.total_minor}, answered for ${op.order.totalMinor}`);
    } else if (op.kind === 'receipt' || op.kind === 'refund') {
      const row = paymentById.get(id!);
      const c = op.create!;
      if (row === undefined) note(op, `payment ${id} is not stored`);
      else if (row.deleted_at !== null) note(op, `payment ${id} is deleted`);
      else if (
        row.type !== c.type ||
        Number(row.amount_minor) !== c.amountMinor ||
        row.order_id !== op.order.id ||
        row.source_payment_id !== c.sourceId
      )
        note(op, `payment ${id} is stored as ${row.type} ${row.amount_minor} on ${row.order_id}`);
    } else {
      const row = paymentById.get(op.target!.id);
      if (row?.status !== 'complete' || row.completed_at === null)
        note(op, `confirmed payment ${op.target!.id} is ${row?.status ?? 'absent'}`);
    }
  }

  // Writes acknowledged just before a crash or an outage: read back through the API as well.
  const recent = acked.filter((op) =>
    part.crashes.some(
      (t) => op.final!.answeredAt <= t && op.final!.answeredAt > t - PRE_CRASH_WINDOW_MS,
    ),
  );
  let httpChecked = 0;
  for (const op of recent.slice(-300)) {
    httpChecked++;
    const url =
      op.kind === 'order'
        ? `/v1/om/orders/${op.order.id}`
        : `/v1/om/payments/${op.kind === 'confirm' ? op.target!.id : op.final!.body.data.id}`;
    const r = await get(base, part.headers, url);
    if (r.status !== 200) {
      note(op, `GET ${url} answered ${r.status}`);
      continue;
    }
    if (op.kind === 'order') {
      if (r.body.data.order.total !== wire(op.order.totalMinor))
        note(op, `GET ${url}: total ${r.body.data.order.total}`);
    } else if (op.kind === 'confirm') {
      if (r.body.data.payment.status !== 'complete')
        note(op, `GET ${url}: status ${r.body.data.payment.status}`);
    } else if (r.body.data.payment.amount !== wire(op.create!.amountMinor)) {
      note(op, `GET ${url}: amount ${r.body.data.payment.amount}`);
    }
  }

  // Effects no answered key accounts for, and effects recorded twice.
  let duplicates = 0;
  const dup = (why: string) => {
    duplicates++;
    if (details.length < 40) details.push(`duplicate: ${why}`);
  };
  for (const p of payments)
    if (!createdIds.has(p.id)) dup(`payment ${p.id} (${p.type} ${p.amount_minor}) has no key`);
  for (const o of orders) if (!createdIds.has(o.id)) dup(`order ${o.id} has no key`);
  const eventCount = new Map<string, number>();
  for (const e of events) {
    const k = `${e.entity_id} ${e.type}`;
    eventCount.set(k, (eventCount.get(k) ?? 0) + 1);
  }
  for (const [k, n] of eventCount) {
    if (n > 1 && (k.endsWith(' payment.created') || k.endsWith(' payment.confirmed')))
      dup(`${n} events ${k}`);
  }

  // Each order's stored figures are exactly what its answered writes make.
  let figuresOff = 0;
  for (const order of part.orders) {
    if (order.id === undefined) continue;
    const stored = await tolerant(() => storedFigures(db, orgId, order.id!));
    const sum = (type: ModelPayment['type'], status: ModelPayment['status']) =>
      order.payments
        .filter((p) => p.type === type && p.status === status)
        .reduce((s, p) => s + p.amountMinor, 0);
    const want = {
      paidMinor: sum('receipt', 'complete') - sum('refund', 'complete'),
      refundedMinor: sum('refund', 'complete'),
      pendingMinor: sum('receipt', 'pending'),
      pendingRefundsMinor: sum('refund', 'pending'),
      paymentCount: order.payments.length,
    };
    const off = Object.entries(want).filter(([k, v]) => stored?.[k as keyof typeof want] !== v);
    if (stored === undefined || off.length > 0) {
      figuresOff++;
      if (details.length < 60)
        details.push(
          `order ${order.id}: stored ${JSON.stringify(stored)}, answers make ${JSON.stringify(want)}`,
        );
    }
  }

  const violations = await tolerant(() => checkDatabaseInvariants(db));
  details.push(...violations.slice(0, 20));

  const unresolved = part.ops.filter((o) => o.final === undefined).length;
  return {
    acknowledged: acked.length,
    lost: lost.size,
    duplicates,
    figuresOff,
    invariants: violations.length,
    unresolved,
    httpChecked,
    details,
  };
}

async function get(base: string, headers: Record<string, string>, url: string) {
  try {
    const r = await fetch(base + url, {
      headers,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await r.text();
    let body: any = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    return { status: r.status, body, headers: r.headers };
  } catch {
    return { status: 0, body: null as any, headers: new Headers() };
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL control (the cluster of scripts/with-postgres.sh)
// ---------------------------------------------------------------------------------------------

interface PgControl {
  stop(): Promise<void>;
  start(): Promise<void>;
  running(): Promise<boolean>;
}

function pgControl(): PgControl | string {
  const bin = process.env.OM_TEST_PG_BIN;
  const data = process.env.OM_TEST_PG_DATA;
  const log = process.env.OM_TEST_PG_LOG;
  const runas = process.env.OM_TEST_PG_RUNAS;
  if (!bin || !data || !log || !runas)
    return 'OM_TEST_PG_BIN/DATA/LOG/RUNAS are not set (run under scripts/with-postgres.sh)';
  const pgCtl = (args: string[]) =>
    new Promise<{ code: number; stderr: string }>((resolve, reject) => {
      const asRoot = process.getuid?.() === 0;
      const [cmd, argv] = asRoot
        ? ['runuser', ['-u', runas, '--', path.join(bin, 'pg_ctl'), ...args]]
        : [path.join(bin, 'pg_ctl'), args];
      // From the cluster's own directory: its user may not be able to read ours.
      const child = spawn(cmd, argv, {
        cwd: path.dirname(data),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.once('error', reject);
      // 'exit', not 'close': the postmaster pg_ctl leaves behind must not hold us.
      child.once('exit', (code) => resolve({ code: code ?? -1, stderr }));
    });
  const must = async (args: string[]) => {
    const r = await pgCtl(args);
    if (r.code !== 0) throw new Error(`pg_ctl ${args[0]} failed (${r.code}): ${r.stderr}`);
  };
  return {
    stop: () => must(['stop', '-D', data, '-m', 'immediate', '-w', '-t', '60']),
    start: () => must(['start', '-D', data, '-l', log, '-w', '-t', '60']),
    running: async () => (await pgCtl(['status', '-D', data])).code === 0,
  };
}

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

function newPart(org: OrgKeys): Part {
  return {
    org,
    headers: headersFor(org, 'manager'),
    ops: [],
    orders: [],
    counters: newCounters(),
    attempts: [],
    crashes: [],
    unexpected: [],
  };
}

function verdictFigures(prefix: string, v: Verdict, c: Counters): Figure[] {
  return [
    atLeast(`${prefix}: acknowledged writes`, v.acknowledged, 1),
    exactly(`${prefix}: acknowledged writes lost`, v.lost, 0),
    exactly(`${prefix}: duplicate effects`, v.duplicates, 0),
    exactly(`${prefix}: order figures off the answers`, v.figuresOff, 0),
    exactly(`${prefix}: invariant violations`, v.invariants, 0),
    exactly(`${prefix}: unknown requests unresolved`, v.unresolved, 0),
    exactly(`${prefix}: 5xx answers other than 503`, c.server5xxNot503, 0),
  ];
}

async function killCycles(server: ServerHandle, part: Part, cycles: number, loadMs: number) {
  const timings: Record<string, number>[] = [];
  for (let cycle = 1; cycle <= cycles; cycle++) {
    const load = new Load(part, server.url, `kill ${cycle}`);
    const before = { ...part.counters };
    const t0 = now();
    load.start();
    const killAfter = randInt(Math.round(loadMs * 0.3), Math.round(loadMs * 0.6));
    await sleep(killAfter);
    const inFlightAtKill = part.counters.sent;
    part.crashes.push(now());
    await server.kill('SIGKILL');
    const tKilled = now();
    await server.restart();
    const restartMs = Math.round(now() - tKilled);
    await sleep(Math.max(300, loadMs - (now() - t0)));
    await load.stop();
    const loadEnd = now();
    const retry = await load.retryParked();
    timings.push({
      cycle,
      killAtMs: killAfter,
      restartMs,
      loadMs: Math.round(loadEnd - t0),
      retryMs: retry.ms,
      sent: part.counters.sent - before.sent,
      sentBeforeKill: inFlightAtKill - before.sent,
      unknown: part.counters.unknown - before.unknown,
      refused: part.counters.refusedConnection - before.refusedConnection,
      retried: retry.retried,
    });
  }
  return timings;
}

/**
 * Two instances on one database, the writers' attempts spread over both: one instance is
 * killed -9 mid-burst and stays down for the rest of the load and the retries, which the
 * survivor must serve alone (the clients fail over, same key and body); then it is started
 * again and the next cycle kills the other one.
 */
async function instanceKillCycles(
  servers: readonly [ServerHandle, ServerHandle],
  part: Part,
  cycles: number,
  loadMs: number,
) {
  const timings: Record<string, number>[] = [];
  let fewestSurvivor200 = Number.POSITIVE_INFINITY;
  for (let cycle = 1; cycle <= cycles; cycle++) {
    const victim = servers[(cycle - 1) % 2]!;
    const survivor = servers[cycle % 2]!;
    const load = new Load(
      part,
      servers.map((s) => s.url),
      `instance kill ${cycle}`,
    );
    const before = { ...part.counters };
    const t0 = now();
    load.start();
    const killAfter = randInt(Math.round(loadMs * 0.3), Math.round(loadMs * 0.5));
    await sleep(killAfter);
    part.crashes.push(now());
    const tKill = now();
    await victim.kill('SIGKILL');
    await sleep(Math.max(500, loadMs - (now() - t0)));
    await load.stop();
    const loadEnd = now();
    const retry = await load.retryParked();
    // Writes the survivor acknowledged while the other instance was down (load and retries).
    const survivor200 = part.attempts.filter(
      (x) =>
        x.op.phase === load.phase &&
        x.base === survivor.url &&
        x.answer.sentAt >= tKill &&
        x.answer.status === 200,
    ).length;
    fewestSurvivor200 = Math.min(fewestSurvivor200, survivor200);
    await victim.restart();
    timings.push({
      cycle,
      killAtMs: killAfter,
      loadMs: Math.round(loadEnd - t0),
      retryMs: retry.ms,
      sent: part.counters.sent - before.sent,
      unknown: part.counters.unknown - before.unknown,
      refused: part.counters.refusedConnection - before.refusedConnection,
      retried: retry.retried,
      survivor200,
    });
  }
  return { timings, fewestSurvivor200 };
}

/** The worker processes of a WORKERS>1 instance: its children running the service (Linux). */
function workerPids(primary: number): number[] {
  let children: number[];
  try {
    children = fs
      .readFileSync(`/proc/${primary}/task/${primary}/children`, 'utf8')
      .split(/\s+/)
      .filter((t) => t !== '')
      .map(Number);
  } catch {
    return [];
  }
  return children.filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('om-payments.js');
    } catch {
      return false; // gone meanwhile
    }
  });
}

/** Waits (bounded) until the instance runs `count` workers, and names them. */
async function allWorkers(server: ServerHandle, count: number): Promise<number[]> {
  const started = now();
  for (;;) {
    const pids = workerPids(server.pid);
    if (pids.length === count) return pids;
    if (now() - started > RECOVERY_GIVE_UP_MS)
      throw new Error(`instance ${server.pid}: ${pids.length} workers, expected ${count}`);
    await sleep(50);
  }
}

/**
 * One instance with WORKERS=2: one worker is killed -9 mid-burst; the other keeps answering on
 * the port while the primary starts a replacement; writes cut off are retried with their keys.
 */
async function workerKillCycles(
  server: ServerHandle,
  workers: number,
  part: Part,
  cycles: number,
  loadMs: number,
) {
  const timings: Record<string, number>[] = [];
  let fewestAfterKill200 = Number.POSITIVE_INFINITY;
  let slowestReplacementMs = 0;
  for (let cycle = 1; cycle <= cycles; cycle++) {
    const load = new Load(part, server.url, `worker kill ${cycle}`);
    const before = { ...part.counters };
    await allWorkers(server, workers);
    const t0 = now();
    load.start();
    const killAfter = randInt(Math.round(loadMs * 0.3), Math.round(loadMs * 0.5));
    await sleep(killAfter);
    const pids = await allWorkers(server, workers);
    const victim = pids[cycle % pids.length]!;
    part.crashes.push(now());
    const tKill = now();
    process.kill(victim, 'SIGKILL');
    await sleep(Math.max(500, loadMs - (now() - t0)));
    await load.stop();
    const loadEnd = now();
    const retry = await load.retryParked();
    const after200 = part.attempts.filter(
      (x) => x.op.phase === load.phase && x.answer.sentAt >= tKill && x.answer.status === 200,
    ).length;
    fewestAfterKill200 = Math.min(fewestAfterKill200, after200);
    // The primary replaces the worker by itself (src/cluster.ts).
    let replacedMs = -1;
    while (now() - tKill < RECOVERY_GIVE_UP_MS + 10_000) {
      const current = workerPids(server.pid);
      if (current.length === workers && !current.includes(victim)) {
        replacedMs = Math.round(now() - tKill);
        break;
      }
      await sleep(50);
    }
    slowestReplacementMs = Math.max(
      slowestReplacementMs,
      replacedMs < 0 ? RECOVERY_GIVE_UP_MS + 10_000 : replacedMs,
    );
    timings.push({
      cycle,
      killAtMs: killAfter,
      loadMs: Math.round(loadEnd - t0),
      retryMs: retry.ms,
      sent: part.counters.sent - before.sent,
      unknown: part.counters.unknown - before.unknown,
      refused: part.counters.refusedConnection - before.refusedConnection,
      retried: retry.retried,
      answered200AfterKill: after200,
      replacedMs,
    });
  }
  return { timings, fewestAfterKill200, slowestReplacementMs };
}

async function outages(
  server: ServerHandle,
  part: Part,
  pg: PgControl,
  count: number,
  outageMs: number,
  state: { pgStopped: boolean },
) {
  const timings: Record<string, number>[] = [];
  let outageAnswers = 0;
  let outage503 = 0;
  let outageNot503 = 0;
  let outageNoRetryAfter = 0;
  let outageUnanswered = 0;
  const samples: string[] = [];
  let worstRecoveryMs = 0;
  const readyz: Record<string, number> = {};
  for (let n = 1; n <= count; n++) {
    const load = new Load(part, server.url, `outage ${n}`);
    load.start();
    await sleep(800);
    part.crashes.push(now());
    const tStop = now();
    state.pgStopped = true;
    await pg.stop();
    const stopDone = now();
    // Reads and the readiness check during the outage too, besides the writers' writes.
    const probeUntil = stopDone + outageMs;
    while (now() < probeUntil) {
      const t = now();
      const [read, ready] = await Promise.all([
        get(server.url, part.headers, '/v1/om/orders?limit=1'),
        get(server.url, {}, '/readyz'),
      ]);
      if (now() > probeUntil) break;
      outageAnswers++;
      if (read.status === 503) {
        outage503++;
        const ra = read.headers.get('retry-after');
        if (ra === null || !/^\d+$/.test(ra) || Number(ra) < 1) outageNoRetryAfter++;
      } else if (read.status === 0) {
        outageUnanswered++;
      } else {
        outageNot503++;
        if (read.status >= 500) part.counters.server5xxNot503++;
        if (samples.length < 10)
          samples.push(`GET orders: ${read.status} ${JSON.stringify(read.body)}`);
      }
      readyz[String(ready.status)] = (readyz[String(ready.status)] ?? 0) + 1;
      await sleep(Math.max(0, 100 - (now() - t)));
    }
    await sleep(Math.max(0, probeUntil - now()));
    const startBegan = now();
    await pg.start();
    state.pgStopped = false;
    const back = now();
    // The service must come back by itself: the first 200 after the database is back.
    let probe200: number | undefined;
    while (probe200 === undefined && now() - back < RECOVERY_GIVE_UP_MS) {
      const r = await get(server.url, part.headers, '/v1/om/orders?limit=1');
      if (r.status === 200) probe200 = now();
      else {
        if (r.status >= 500 && r.status !== 503) part.counters.server5xxNot503++;
        await sleep(25);
      }
    }
    await sleep(500);
    await load.stop();
    const retry = await load.retryParked();

    const firstWrite200 = part.attempts
      .filter(
        (x) => x.op.phase === load.phase && x.answer.status === 200 && x.answer.sentAt >= back,
      )
      .reduce((m, x) => Math.min(m, x.answer.answeredAt), Number.POSITIVE_INFINITY);
    const first200 = Math.min(probe200 ?? Number.POSITIVE_INFINITY, firstWrite200);
    const recoveryMs = Number.isFinite(first200)
      ? Math.round(first200 - back)
      : RECOVERY_GIVE_UP_MS;
    worstRecoveryMs = Math.max(worstRecoveryMs, recoveryMs);

    // Sent and answered while the database was down: each must be 503 with Retry-After.
    for (const { op, answer } of part.attempts) {
      if (op.phase !== load.phase) continue;
      if (answer.sentAt < stopDone || answer.answeredAt > startBegan) continue;
      outageAnswers++;
      if (answer.status === 0) {
        outageUnanswered++;
        if (samples.length < 10) samples.push(`${op.kind}: no answer (${answer.cause})`);
      } else if (answer.status !== 503) {
        outageNot503++;
        if (samples.length < 10)
          samples.push(`${op.kind}: ${answer.status} ${JSON.stringify(answer.body)}`);
      } else {
        outage503++;
        const ra = answer.headers.get('retry-after');
        if (ra === null || !/^\d+$/.test(ra) || Number(ra) < 1) outageNoRetryAfter++;
      }
    }
    timings.push({
      outage: n,
      stopMs: Math.round(stopDone - tStop),
      downMs: Math.round(startBegan - stopDone),
      startMs: Math.round(back - startBegan),
      probeFirst200Ms: probe200 === undefined ? -1 : Math.round(probe200 - back),
      writeFirst200Ms: Number.isFinite(firstWrite200) ? Math.round(firstWrite200 - back) : -1,
      recoveryMs,
      retryMs: retry.ms,
      retried: retry.retried,
    });
  }
  return {
    timings,
    outageAnswers,
    outage503,
    outageNot503,
    outageNoRetryAfter,
    outageUnanswered,
    samples,
    worstRecoveryMs,
    readyz,
  };
}

export const suite = {
  name: 'crash',
  async run(profile: Profile): Promise<SuiteResult> {
    const plan = PLAN[profile];
    const started = now();
    const figures: Figure[] = [];
    const info: Record<string, unknown> = { writers: WRITERS, plan };
    const f = await fixture();
    let server: ServerHandle | undefined;
    const others: ServerHandle[] = [];
    const pgState = { pgStopped: false };
    const pg = ENGINE === 'postgres' ? pgControl() : undefined;
    try {
      server = await startServer(f.testDatabase.url);

      // Part 1: kill -9 mid-load, restart, retry what went unanswered.
      const killPart = newPart(await makeOrganization(server.url, f.rootKey));
      const cycleTimings = await killCycles(server, killPart, plan.cycles, plan.loadMs);
      const v1 = await verify(f, server.url, killPart);
      figures.push(...verdictFigures('kill -9', v1, killPart.counters));
      info.kill = {
        cycles: plan.cycles,
        requests: {
          ...killPart.counters,
          refused: killPart.counters.refused503 + killPart.counters.refusedConnection,
        },
        writes: killPart.ops.length,
        acknowledged: v1.acknowledged,
        readBackOverHttp: v1.httpChecked,
        timings: cycleTimings,
        findings: [...v1.details, ...killPart.unexpected.slice(0, 20)],
      };

      // Part 2: two instances on the database, one killed -9 mid-burst; the survivor serves
      // alone while the clients fail over to it with their keys.
      const second = await startServer(f.testDatabase.url);
      others.push(second);
      const instancePart = newPart(await makeOrganization(server.url, f.rootKey));
      const pair = await instanceKillCycles(
        [server, second],
        instancePart,
        plan.instanceCycles,
        plan.loadMs,
      );
      const v3 = await verify(f, server.url, instancePart);
      figures.push(
        ...verdictFigures('2 instances, kill -9 of one', v3, instancePart.counters),
        atLeast(
          '2 instances: writes the survivor acknowledged while the other was down (fewest of a cycle)',
          pair.fewestSurvivor200,
          1,
        ),
      );
      info.instances = {
        cycles: plan.instanceCycles,
        requests: {
          ...instancePart.counters,
          refused: instancePart.counters.refused503 + instancePart.counters.refusedConnection,
        },
        writes: instancePart.ops.length,
        acknowledged: v3.acknowledged,
        readBackOverHttp: v3.httpChecked,
        timings: pair.timings,
        findings: [...v3.details, ...instancePart.unexpected.slice(0, 20)],
      };
      await second.kill('SIGTERM');

      // Part 3: one instance of two workers (WORKERS=2), one worker killed -9 mid-burst.
      const clustered = await startServer(f.testDatabase.url, { WORKERS: '2' });
      others.push(clustered);
      const workerPart = newPart(await makeOrganization(clustered.url, f.rootKey));
      const w = await workerKillCycles(clustered, 2, workerPart, plan.instanceCycles, plan.loadMs);
      const v4 = await verify(f, clustered.url, workerPart);
      figures.push(
        ...verdictFigures('WORKERS=2, kill -9 of a worker', v4, workerPart.counters),
        atLeast(
          'WORKERS=2: writes acknowledged after a worker was killed (fewest of a cycle)',
          w.fewestAfterKill200,
          1,
        ),
        atMost(
          // A start compiles the TypeScript sources (tsx): ~2 s on an idle machine, ~12 s
          // measured on this shared one under load; the other worker serves meanwhile.
          'WORKERS=2: ms until the worker was replaced',
          w.slowestReplacementMs,
          WORKER_REPLACED_MARK_MS,
        ),
      );
      info.workers = {
        cycles: plan.instanceCycles,
        requests: {
          ...workerPart.counters,
          refused: workerPart.counters.refused503 + workerPart.counters.refusedConnection,
        },
        writes: workerPart.ops.length,
        acknowledged: v4.acknowledged,
        timings: w.timings,
        findings: [...v4.details, ...workerPart.unexpected.slice(0, 20)],
      };
      await clustered.kill('SIGTERM');

      // Part 4 (PostgreSQL): the database stops abruptly under load; the service stays up.
      if (pg === undefined) {
        info.outage = 'skipped: SQLite has no database server to stop (PostgreSQL only)';
      } else if (typeof pg === 'string') {
        info.outage = `skipped: ${pg}`;
      } else {
        const outagePart = newPart(await makeOrganization(server.url, f.rootKey));
        const o = await outages(server, outagePart, pg, plan.outages, plan.outageMs, pgState);
        const v2 = await verify(f, server.url, outagePart);
        figures.push(
          atLeast('db outage: 503 answers during the outage', o.outage503, 1),
          exactly(
            'db outage: answers during the outage not 503',
            o.outageNot503 + o.outageUnanswered,
            0,
          ),
          exactly('db outage: 503 without Retry-After', o.outageNoRetryAfter, 0),
          atMost('db outage: ms to first 200 after db back', o.worstRecoveryMs, RECOVERY_MARK_MS),
          ...verdictFigures('db outage', v2, outagePart.counters),
        );
        info.outage = {
          outages: plan.outages,
          requests: {
            ...outagePart.counters,
            refused: outagePart.counters.refused503 + outagePart.counters.refusedConnection,
          },
          writes: outagePart.ops.length,
          acknowledged: v2.acknowledged,
          readBackOverHttp: v2.httpChecked,
          answersDuringOutage: o.outageAnswers,
          unansweredDuringOutage: o.outageUnanswered,
          readyzDuringOutage: o.readyz,
          timings: o.timings,
          findings: [...o.samples, ...v2.details, ...outagePart.unexpected.slice(0, 20)],
        };
      }
    } finally {
      if (pg !== undefined && typeof pg !== 'string') {
        try {
          if (pgState.pgStopped || !(await pg.running())) await pg.start();
        } catch (error) {
          console.error('crash: could not start PostgreSQL again:', error);
        }
      }
      await Promise.all(
        [server, ...others].flatMap((s) => (s === undefined ? [] : [s.kill('SIGKILL')])),
      );
      await f.close().catch((error: unknown) => console.error('crash: fixture close:', error));
    }
    return {
      suite: 'crash',
      engine: ENGINE,
      profile,
      durationMs: Math.round(now() - started),
      figures,
      info,
    };
  },
};
