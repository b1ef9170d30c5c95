// API.md §5 and §6 under contention: many requests racing for one order's money must never
// over-refund, over-collect, double-confirm or lose an update, and never answer 5xx.
//
// Every scenario runs through two transports of the engine under test:
// - PostgreSQL: the service functions called directly over 10 separate Database instances
//   (10 pools of 5: the 50 calls of a race hold 50 different connections), and HTTP through
//   two Fastify apps, each with its own Database, taking turns — two service instances
//   sharing one PostgreSQL.
// - SQLite: one app taking concurrent HTTP requests, and the service functions over two
//   Database instances on the same file (each waits for the write lock asynchronously).
// After each race the stored figures are recomputed from the payments themselves.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { buildApp } from '../src/app.ts';
import { createDatabase, type Database } from '../src/db/engine.ts';
import type { PaymentStatus, Role } from '../src/db/schema.ts';
import { AppError } from '../src/errors.ts';
import { maxMinorFor } from '../src/money/amount.ts';
import * as payments from '../src/payments/payments.service.ts';
import type { OrganizationRef, RequestContext } from '../src/shared/context.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';
import { TEST_ENGINE } from './support/database.ts';

/** One request of a race. */
type Op =
  | { kind: 'create'; params: payments.CreatePaymentInput }
  | { kind: 'confirm' | 'delete' | 'reverse'; id: string }
  | { kind: 'setRef'; id: string; transactionRef: string };

/** What a request was answered, whichever transport carried it. */
interface Outcome {
  status: number;
  code: string | null;
  warnings: string[];
  id: string | null;
  detail: string;
}

interface Transport {
  name: string;
  run(op: Op, index: number): Promise<Outcome>;
}

const TRANSPORTS =
  TEST_ENGINE === 'postgres'
    ? ['service over 10 pools', 'http over 2 apps']
    : ['http over 1 app', 'service over 2 connections'];

/** Reversal and refunds on closed orders are a manager's; everything else here a cashier's. */
const roleOf = (op: Op): Role => (op.kind === 'reverse' ? 'manager' : 'cashier');

const inFlight = (s: PaymentStatus) => s === 'pending' || s === 'progress';

let requestSeq = 0;
const nextRequestId = (prefix: string) => `${prefix}-${++requestSeq}`;

void describe(`payments under concurrency (${TEST_ENGINE})`, () => {
  let t: TestApp;
  let org: TestOrg;
  let orgRef: OrganizationRef;
  let methodId: string;
  const transports = new Map<string, Transport>();
  /** Databases and apps this file opened besides the test app's own. */
  const extraDatabases: Database[] = [];
  const extraApps: FastifyInstance[] = [];

  const contextFor = (role: Role, requestId: string): RequestContext => ({
    keyId: null,
    principal: `${role}@concurrency`,
    via: 'test',
    role,
    allOrganizations: false,
    organizationIds: new Set([org.id]),
    requestId,
    organization: orgRef,
  });

  /** The op through the service functions on `database`, errors mapped like the HTTP layer. */
  async function viaService(database: Database, op: Op): Promise<Outcome> {
    const ctx = contextFor(roleOf(op), nextRequestId('svc'));
    try {
      switch (op.kind) {
        case 'create': {
          const r = await payments.createPayment(database, ctx, op.params);
          return ok(r.data.id, r.warnings);
        }
        case 'confirm': {
          const r = await payments.confirmPayment(database, ctx, op.id);
          return ok(null, r.warnings);
        }
        case 'delete':
          await payments.deletePayment(database, ctx, op.id);
          return ok(null, []);
        case 'reverse': {
          const r = await payments.updatePayment(database, ctx, op.id, { status: 'reversed' });
          return ok(null, r.warnings);
        }
        case 'setRef': {
          const { transactionRef } = op;
          const r = await payments.updatePayment(database, ctx, op.id, { transactionRef });
          return ok(null, r.warnings);
        }
      }
    } catch (error) {
      if (error instanceof AppError) {
        return {
          status: error.status,
          code: error.code,
          warnings: [],
          id: null,
          detail: JSON.stringify(error.details ?? null),
        };
      }
      const e = error as { code?: unknown; message?: unknown };
      return {
        status: 500,
        code: 'INTERNAL',
        warnings: [],
        id: null,
        detail: `${String(e.code)}: ${String(e.message)}`,
      };
    }
  }

  function ok(id: string | null, warnings: { code: string }[]): Outcome {
    return { status: 200, code: null, warnings: warnings.map((w) => w.code), id, detail: '' };
  }

  /** The op through one app's real routing, validation and error handling. */
  async function viaHttp(app: FastifyInstance, op: Op): Promise<Outcome> {
    const requestId = nextRequestId('http');
    const headers = {
      'api-key': org.keys[roleOf(op)],
      'organization-id': org.id,
      'x-request-id': requestId,
      // A key of its own, as a till sends: the race then runs inside the idempotent request's
      // transaction, where a refused statement must not spoil the answer (API.md §5).
      'idempotency-key': requestId,
    };
    let r;
    switch (op.kind) {
      case 'create':
        r = await app.inject({
          method: 'POST',
          url: '/v1/om/payments',
          headers,
          payload: { params: op.params },
        });
        break;
      case 'confirm':
        r = await app.inject({
          method: 'PATCH',
          url: `/v1/om/payments/${op.id}/confirm`,
          headers,
          payload: { params: {} },
        });
        break;
      case 'delete':
        r = await app.inject({ method: 'DELETE', url: `/v1/om/payments/${op.id}`, headers });
        break;
      case 'reverse':
        r = await app.inject({
          method: 'PATCH',
          url: `/v1/om/payments/${op.id}`,
          headers,
          payload: { params: { status: 'reversed' } },
        });
        break;
      case 'setRef':
        r = await app.inject({
          method: 'PATCH',
          url: `/v1/om/payments/${op.id}`,
          headers,
          payload: { params: { transactionRef: op.transactionRef } },
        });
        break;
    }
    let body: any;
    try {
      body = json(r);
    } catch {
      return { status: r.statusCode, code: null, warnings: [], id: null, detail: r.body };
    }
    if (r.statusCode === 200) {
      return {
        status: 200,
        code: null,
        warnings: (body.warnings as { code: string }[]).map((w) => w.code),
        id: (body.data?.id as string | undefined) ?? null,
        detail: '',
      };
    }
    return {
      status: r.statusCode,
      code: (body.error?.code as string | undefined) ?? null,
      warnings: [],
      id: null,
      detail: r.body,
    };
  }

  before(async () => {
    t = await startTestApp();
    org = await t.createOrg('KWD'); // 3 decimals: 10.000 KWD = 10000 minor units
    const row = await t.database.db
      .selectFrom('organizations')
      .selectAll()
      .where('id', '=', org.id)
      .executeTakeFirstOrThrow();
    orgRef = {
      id: row.id,
      currency: row.currency,
      currencyExponent: row.currency_exponent,
      maxAmountMinor: maxMinorFor(t.config.maxAmountMajor, row.currency_exponent),
      maxPaymentsPerOrder: row.max_payments_per_order,
    };
    const method = await t.call(org, 'admin', {
      method: 'POST',
      url: '/v1/om/payment-methods',
      payload: { params: { locales: { ar: { name: 'نقدي' }, en: { name: 'Cash' } } } },
    });
    assert.equal(method.statusCode, 200, method.body);
    methodId = json(method).data.id as string;

    const config = t.testDatabase.config;
    if (config.engine === 'postgres') {
      const pools: Database[] = [];
      for (let i = 0; i < 10; i++) pools.push(createDatabase({ ...config, poolSize: 5 }));
      extraDatabases.push(...pools);
      transports.set(TRANSPORTS[0]!, {
        name: TRANSPORTS[0]!,
        run: (op, i) => viaService(pools[i % pools.length]!, op),
      });
      // A second service instance: its own Database (pool) and its own app.
      const second = createDatabase(config);
      extraDatabases.push(second);
      const appB = await buildApp({ config: t.config, database: second, logger: false });
      await appB.ready();
      extraApps.push(appB);
      const apps = [t.app, appB];
      transports.set(TRANSPORTS[1]!, {
        name: TRANSPORTS[1]!,
        run: (op, i) => viaHttp(apps[i % apps.length]!, op),
      });
    } else {
      transports.set(TRANSPORTS[0]!, {
        name: TRANSPORTS[0]!,
        run: (op) => viaHttp(t.app, op),
      });
      const connections = [createDatabase(config), createDatabase(config)];
      extraDatabases.push(...connections);
      transports.set(TRANSPORTS[1]!, {
        name: TRANSPORTS[1]!,
        run: (op, i) => viaService(connections[i % connections.length]!, op),
      });
    }
  });
  after(async () => {
    for (const app of extraApps) await app.close();
    await Promise.all(extraDatabases.map((d) => d.close()));
    await t?.close();
  });

  // -------------------------------------------------------------------------------------
  // Setup through the test app, one request at a time.

  async function createOrder(total: number): Promise<string> {
    const r = await t.call(org, 'cashier', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total } },
    });
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data.id as string;
  }

  async function setupPayment(params: payments.CreatePaymentInput): Promise<string> {
    const r = await t.call(org, 'manager', {
      method: 'POST',
      url: '/v1/om/payments',
      payload: { params },
    });
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data.id as string;
  }

  const receipt = (
    orderId: string,
    amount: number,
    status: PaymentStatus = 'complete',
    extra: Partial<payments.CreatePaymentInput> = {},
  ): payments.CreatePaymentInput => ({
    orderId,
    type: 'receipt',
    amount,
    methodId,
    status,
    ...extra,
  });

  // -------------------------------------------------------------------------------------
  // Racing, counting, reporting.

  /** Fires all ops at once (op i through the transport's i-th client) and waits for all. */
  async function race(
    transport: Transport,
    ops: Op[],
  ): Promise<{ outcomes: Outcome[]; ms: number }> {
    const started = performance.now();
    const outcomes = await Promise.all(ops.map((op, i) => transport.run(op, i)));
    const ms = performance.now() - started;
    const errors = outcomes.filter((o) => o.status >= 500);
    assert.deepEqual(
      errors,
      [],
      `${transport.name}: no request may be answered 5xx (${errors.length} of ${ops.length})`,
    );
    return { outcomes, ms };
  }

  /** Outcomes by answer: `200`, `200:WARNING`, `400:CODE`, … */
  function tally(outcomes: Outcome[]): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const o of outcomes) {
      const key =
        o.status === 200 ? ['200', ...o.warnings].join(':') : `${o.status}:${o.code ?? 'no-code'}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
  }

  function report(
    scenario: string,
    transport: Transport,
    requests: number,
    ms: number,
    extra: object,
  ) {
    console.log(
      JSON.stringify({
        scenario,
        engine: TEST_ENGINE,
        transport: transport.name,
        requests,
        ms: Math.round(ms),
        ...extra,
      }),
    );
  }

  // -------------------------------------------------------------------------------------
  // Invariants, read straight from the database.

  const figureColumns = [
    'paid_minor',
    'refunded_minor',
    'pending_minor',
    'pending_refunds_minor',
    'payment_count',
  ] as const;

  /**
   * The order's stored figures equal the sums over its non-deleted payments (§3.2); each
   * receipt's refund totals equal the sums over its refunds; no refund total exceeds its
   * source; the order never holds more than its total or gives back more than it received.
   */
  async function checkInvariants(orderId: string) {
    const db = t.database.db;
    const order = await db
      .selectFrom('orders')
      .selectAll()
      .where('organization_id', '=', org.id)
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow();
    const all = await db
      .selectFrom('payments')
      .selectAll()
      .where('organization_id', '=', org.id)
      .where('order_id', '=', orderId)
      .execute();
    const live = all.filter((p) => p.deleted_at === null);
    const sum = (pred: (p: (typeof live)[number]) => boolean) =>
      live.filter(pred).reduce((s, p) => s + Number(p.amount_minor), 0);
    const completeRefunds = sum((p) => p.type === 'refund' && p.status === 'complete');
    const expected = {
      paid_minor: sum((p) => p.type === 'receipt' && p.status === 'complete') - completeRefunds,
      refunded_minor: completeRefunds,
      pending_minor: sum((p) => p.type === 'receipt' && inFlight(p.status)),
      pending_refunds_minor: sum((p) => p.type === 'refund' && inFlight(p.status)),
      payment_count: live.length,
    };
    const stored = Object.fromEntries(figureColumns.map((c) => [c, Number(order[c])]));
    assert.deepEqual(stored, expected, `order ${orderId}: stored figures = sums of its payments`);
    assert.ok(expected.paid_minor >= 0, `order ${orderId}: never refunds more than received`);
    assert.ok(
      expected.paid_minor + expected.pending_minor <= Number(order.total_minor),
      `order ${orderId}: paid + pending within the total`,
    );
    for (const r of live.filter((p) => p.type === 'receipt')) {
      const refunds = live.filter((p) => p.type === 'refund' && p.source_payment_id === r.id);
      const reserved = refunds.filter((p) => p.status !== 'reversed');
      const want = {
        refunds_reserved_minor: reserved.reduce((s, p) => s + Number(p.amount_minor), 0),
        refunded_minor: refunds
          .filter((p) => p.status === 'complete')
          .reduce((s, p) => s + Number(p.amount_minor), 0),
        live_refunds: reserved.length,
      };
      assert.deepEqual(
        {
          refunds_reserved_minor: Number(r.refunds_reserved_minor),
          refunded_minor: Number(r.refunded_minor),
          live_refunds: Number(r.live_refunds),
        },
        want,
        `receipt ${r.id}: refund totals = sums of its refunds`,
      );
      assert.ok(
        want.refunds_reserved_minor <= Number(r.amount_minor),
        `receipt ${r.id}: refunds within its amount`,
      );
    }
    for (const f of live.filter((p) => p.type === 'refund' && p.source_payment_id !== null)) {
      const source = live.find((p) => p.id === f.source_payment_id);
      assert.ok(source?.type === 'receipt', `refund ${f.id}: its source is a live receipt`);
    }
    return { order, payments: all };
  }

  async function events(entityId: string, type: string): Promise<number> {
    const rows = await t.database.db
      .selectFrom('events')
      .select('id')
      .where('organization_id', '=', org.id)
      .where('entity_id', '=', entityId)
      .where('type', '=', type)
      .execute();
    return rows.length;
  }

  /**
   * PostgreSQL under scripts/with-postgres.sh: how many inserts its unique index on
   * transactionRef has refused so far (the race the service must answer like its own check).
   */
  function uniqueViolationsLogged(): number | undefined {
    const log = process.env.OM_TEST_PG_LOG;
    if (TEST_ENGINE !== 'postgres' || log === undefined) return undefined;
    try {
      return fs.readFileSync(log, 'utf8').split('"payments_transaction_ref_unique"').length - 1;
    } catch {
      return undefined;
    }
  }

  // -------------------------------------------------------------------------------------
  // 1. Refunds racing for one receipt.

  for (const name of TRANSPORTS) {
    for (const mode of ['complete', 'mixed'] as const) {
      void test(`[${name}] 50 refunds of 1/10 of a receipt (${mode}): 10 succeed, 40 LIMIT_REACHED`, async () => {
        const transport = transports.get(name)!;
        const orderId = await createOrder(100);
        const receiptId = await setupPayment(receipt(orderId, 100));
        const status = (i: number): PaymentStatus =>
          mode === 'complete' || i % 2 === 0 ? 'complete' : 'pending';
        const ops: Op[] = Array.from({ length: 50 }, (_, i) => ({
          kind: 'create',
          params: {
            orderId,
            type: 'refund',
            amount: 10,
            sourcePaymentId: receiptId,
            status: status(i),
          },
        }));
        const { outcomes, ms } = await race(transport, ops);
        const counts = tally(outcomes);
        let connections: number | undefined;
        if (TEST_ENGINE === 'postgres' && name === TRANSPORTS[0]) {
          const r = await sql<{ n: number | string }>`select count(*) as n from pg_stat_activity
            where datname = current_database()`.execute(t.database.db);
          connections = Number(r.rows[0]!.n);
        }
        report('1 refunds racing for one receipt', transport, ops.length, ms, {
          mode,
          counts,
          ...(connections !== undefined && { connectionsOpen: connections }),
        });
        assert.deepEqual(counts, { '200': 10, '400:LIMIT_REACHED': 40 });
        const ids = outcomes.filter((o) => o.status === 200).map((o) => o.id);
        assert.equal(new Set(ids).size, 10, 'ten distinct refunds');

        const { order, payments: rows } = await checkInvariants(orderId);
        const source = rows.find((p) => p.id === receiptId)!;
        assert.equal(Number(source.refunds_reserved_minor), 100_000, 'refunds total the receipt');
        assert.equal(Number(source.live_refunds), 10);
        const refunds = rows.filter((p) => p.type === 'refund');
        assert.equal(refunds.length, 10);
        const completed = refunds.filter((p) => p.status === 'complete').length;
        assert.equal(Number(source.refunded_minor), completed * 10_000);
        assert.equal(Number(order.refunded_minor), completed * 10_000);
        assert.equal(Number(order.paid_minor), 100_000 - completed * 10_000);
        assert.equal(Number(order.pending_refunds_minor), (10 - completed) * 10_000);
        assert.equal(Number(order.payment_count), 11);
        if (mode === 'complete') assert.equal(completed, 10);
        if (connections !== undefined) {
          assert.ok(connections >= 50, `50 calls on separate connections (${connections} open)`);
        }
      });
    }
  }

  // -------------------------------------------------------------------------------------
  // 2. Receipts racing for an order's remaining balance.

  for (const name of TRANSPORTS) {
    for (const mode of ['complete', 'pending'] as const) {
      void test(`[${name}] 30 ${mode} receipts of 1/10 of the total: 10 succeed, 20 LIMIT_REACHED`, async () => {
        const transport = transports.get(name)!;
        const orderId = await createOrder(10);
        const ops: Op[] = Array.from({ length: 30 }, () => ({
          kind: 'create',
          params: receipt(orderId, 1, mode),
        }));
        const { outcomes, ms } = await race(transport, ops);
        const counts = tally(outcomes);
        report('2 receipts racing for the balance', transport, ops.length, ms, { mode, counts });
        // The receipt that completes the balance says so (§6.4); pending ones move nothing paid.
        assert.deepEqual(
          counts,
          mode === 'complete'
            ? { '200': 9, '200:ORDER_FULLY_PAID': 1, '400:LIMIT_REACHED': 20 }
            : { '200': 10, '400:LIMIT_REACHED': 20 },
        );
        const { order } = await checkInvariants(orderId);
        assert.equal(Number(order.paid_minor) + Number(order.pending_minor), 10_000);
        assert.equal(Number(order[mode === 'complete' ? 'paid_minor' : 'pending_minor']), 10_000);
        assert.equal(Number(order.payment_count), 10);
      });
    }
  }

  for (const name of TRANSPORTS) {
    void test(`[${name}] amounts left out: one receipt takes the balance, one refund the receipt`, async () => {
      const transport = transports.get(name)!;
      const orderId = await createOrder(10);
      const receipts: Op[] = Array.from({ length: 10 }, () => ({
        kind: 'create',
        params: { orderId, type: 'receipt', methodId, status: 'complete' },
      }));
      const first = await race(transport, receipts);
      const receiptCounts = tally(first.outcomes);
      const receiptId = first.outcomes.find((o) => o.status === 200)?.id;
      assert.ok(receiptId, 'one receipt took the balance');
      const refunds: Op[] = Array.from({ length: 10 }, () => ({
        kind: 'create',
        params: { orderId, type: 'refund', sourcePaymentId: receiptId, status: 'pending' },
      }));
      const second = await race(transport, refunds);
      const refundCounts = tally(second.outcomes);
      report(
        '2b amounts left out',
        transport,
        receipts.length + refunds.length,
        first.ms + second.ms,
        {
          receiptCounts,
          refundCounts,
        },
      );
      assert.deepEqual(receiptCounts, { '200:ORDER_FULLY_PAID': 1, '400:LIMIT_REACHED': 9 });
      assert.deepEqual(refundCounts, { '200': 1, '400:LIMIT_REACHED': 9 });
      const { order, payments: rows } = await checkInvariants(orderId);
      assert.deepEqual(rows.map((p) => [p.type, Number(p.amount_minor)]).sort(), [
        ['receipt', 10_000],
        ['refund', 10_000],
      ]);
      assert.equal(Number(order.pending_refunds_minor), 10_000);
    });
  }

  // -------------------------------------------------------------------------------------
  // 3. Concurrent confirm / delete / reverse on one payment.

  for (const name of TRANSPORTS) {
    void test(`[${name}] 20 confirms of one pending receipt: one confirmation, 19 ALREADY_COMPLETE`, async () => {
      const transport = transports.get(name)!;
      const orderId = await createOrder(10);
      const id = await setupPayment(receipt(orderId, 5, 'pending'));
      const ops: Op[] = Array.from({ length: 20 }, () => ({ kind: 'confirm', id }));
      const { outcomes, ms } = await race(transport, ops);
      const counts = tally(outcomes);
      const confirmedEvents = await events(id, 'payment.confirmed');
      report('3a concurrent confirms', transport, ops.length, ms, { counts, confirmedEvents });
      assert.deepEqual(counts, { '200': 1, '200:ALREADY_COMPLETE': 19 });
      assert.equal(confirmedEvents, 1);
      const { order, payments: rows } = await checkInvariants(orderId);
      assert.equal(rows[0]!.status, 'complete');
      assert.equal(Number(order.paid_minor), 5_000);
      assert.equal(Number(order.pending_minor), 0);
    });

    void test(`[${name}] delete and confirm racing on pending payments: exactly one wins each`, async () => {
      const transport = transports.get(name)!;
      const orderId = await createOrder(20); // never fully paid: no balance warnings
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) ids.push(await setupPayment(receipt(orderId, 1, 'pending')));
      // Per payment 3 deletes and 3 confirms, interleaved; all 60 at once.
      const ops: Op[] = [];
      for (let round = 0; round < 3; round++) {
        // Half the payments see a delete first, half a confirm first.
        ids.forEach((id, n) => {
          const pair: Op[] = [
            { kind: 'delete', id },
            { kind: 'confirm', id },
          ];
          ops.push(...(n % 2 === 0 ? pair : pair.reverse()));
        });
      }
      const { outcomes, ms } = await race(transport, ops);
      const { order, payments: rows } = await checkInvariants(orderId);
      let deletedWins = 0;
      let confirmedWins = 0;
      for (const id of ids) {
        const mine = (kind: Op['kind']) =>
          outcomes.filter((_, i) => {
            const op = ops[i]!;
            return op.kind === kind && op.kind !== 'create' && op.id === id;
          });
        const row = rows.find((p) => p.id === id)!;
        const deletes = tally(mine('delete'));
        const confirms = tally(mine('confirm'));
        const deletedEvents = await events(id, 'payment.deleted');
        const confirmedEvents = await events(id, 'payment.confirmed');
        const seen = JSON.stringify({
          deletes,
          confirms,
          status: row.status,
          deletedAt: row.deleted_at,
        });
        if (row.deleted_at !== null) {
          deletedWins++;
          assert.equal(row.status, 'pending', seen);
          assert.deepEqual(deletes, { '200': 1, '404:NOT_FOUND': 2 }, seen);
          assert.deepEqual(confirms, { '404:NOT_FOUND': 3 }, seen);
          assert.deepEqual([deletedEvents, confirmedEvents], [1, 0], seen);
        } else {
          confirmedWins++;
          assert.equal(row.status, 'complete', seen);
          assert.deepEqual(deletes, { '400:INVALID_STATUS': 3 }, seen);
          assert.deepEqual(confirms, { '200': 1, '200:ALREADY_COMPLETE': 2 }, seen);
          assert.deepEqual([deletedEvents, confirmedEvents], [0, 1], seen);
        }
      }
      report('3b delete vs confirm', transport, ops.length, ms, {
        payments: ids.length,
        deletedWins,
        confirmedWins,
        counts: tally(outcomes),
      });
      assert.equal(deletedWins + confirmedWins, ids.length);
      assert.equal(Number(order.paid_minor), confirmedWins * 1_000);
      assert.equal(Number(order.pending_minor), 0);
      assert.equal(Number(order.payment_count), confirmedWins);
    });

    void test(`[${name}] 10 reversals of one complete refund: one payment.reversed, figures restored`, async () => {
      const transport = transports.get(name)!;
      const orderId = await createOrder(10);
      const receiptId = await setupPayment(receipt(orderId, 10));
      const refundId = await setupPayment({
        orderId,
        type: 'refund',
        amount: 4,
        sourcePaymentId: receiptId,
        status: 'complete',
      });
      const ops: Op[] = Array.from({ length: 10 }, () => ({ kind: 'reverse', id: refundId }));
      const { outcomes, ms } = await race(transport, ops);
      const counts = tally(outcomes);
      const reversedEvents = await events(refundId, 'payment.reversed');
      report('3c concurrent reversals of a refund', transport, ops.length, ms, {
        counts,
        reversedEvents,
      });
      assert.equal(reversedEvents, 1);
      assert.ok(
        outcomes.some((o) => o.status === 200),
        'the reversal itself succeeded',
      );
      // Reversals that lost the race meet a reversed refund: refused (INVALID_STATUS) today;
      // a 200 no-op (§6.1 "staying in the same state is a no-op") would pass too.
      for (const o of outcomes.filter((x) => x.status !== 200)) {
        assert.equal(o.code, 'INVALID_STATUS', o.detail);
      }
      const { order, payments: rows } = await checkInvariants(orderId);
      const refund = rows.find((p) => p.id === refundId)!;
      const source = rows.find((p) => p.id === receiptId)!;
      assert.equal(refund.status, 'reversed');
      assert.deepEqual(
        [
          Number(order.paid_minor),
          Number(order.refunded_minor),
          Number(order.pending_refunds_minor),
        ],
        [10_000, 0, 0],
      );
      assert.deepEqual(
        [
          Number(source.refunded_minor),
          Number(source.refunds_reserved_minor),
          Number(source.live_refunds),
        ],
        [0, 0, 0],
      );
    });

    void test(`[${name}] reversing a receipt while refunds against it are created: never both`, async () => {
      const transport = transports.get(name)!;
      const rounds = 5;
      const orders: string[] = [];
      const receipts: string[] = [];
      for (let i = 0; i < rounds; i++) {
        orders.push(await createOrder(10));
        receipts.push(await setupPayment(receipt(orders[i]!, 10)));
      }
      const ops: Op[] = [];
      for (let k = 0; k < 3; k++) {
        for (let i = 0; i < rounds; i++) {
          const pair: Op[] = [
            { kind: 'reverse', id: receipts[i]! },
            {
              kind: 'create',
              params: {
                orderId: orders[i]!,
                type: 'refund',
                amount: 1,
                sourcePaymentId: receipts[i]!,
                status: 'complete',
              },
            },
          ];
          // Some receipts see a reversal first, others a refund first.
          ops.push(...(i % 2 === 0 ? pair : pair.reverse()));
        }
      }
      const { outcomes, ms } = await race(transport, ops);
      let reversedWins = 0;
      let refundWins = 0;
      for (let i = 0; i < rounds; i++) {
        const { payments: rows } = await checkInvariants(orders[i]!);
        const source = rows.find((p) => p.id === receipts[i])!;
        const refunds = rows.filter((p) => p.type === 'refund');
        const mine = outcomes.filter((_, j) => {
          const op = ops[j]!;
          return op.kind === 'create'
            ? op.params.sourcePaymentId === receipts[i]
            : op.id === receipts[i];
        });
        const seen = JSON.stringify({
          status: source.status,
          refunds: refunds.length,
          counts: tally(mine),
        });
        if (source.status === 'reversed') {
          reversedWins++;
          assert.equal(refunds.length, 0, `a reversed receipt has no refunds: ${seen}`);
          assert.equal(await events(receipts[i]!, 'payment.reversed'), 1, seen);
        } else {
          refundWins++;
          assert.equal(source.status, 'complete', seen);
          assert.equal(refunds.length, 3, `all three refunds fit: ${seen}`);
          assert.equal(await events(receipts[i]!, 'payment.reversed'), 0, seen);
        }
        for (const o of mine.filter((x) => x.status !== 200)) {
          assert.equal(o.code, 'INVALID_STATUS', o.detail);
        }
      }
      report('3d reverse receipt vs refunds', transport, ops.length, ms, {
        rounds,
        reversedWins,
        refundWins,
        counts: tally(outcomes),
      });
    });
  }

  // -------------------------------------------------------------------------------------
  // 4. One transactionRef, many creates.

  for (const name of TRANSPORTS) {
    void test(`[${name}] 20 creates with one transactionRef on one order: one payment, one id`, async () => {
      const transport = transports.get(name)!;
      const orderId = await createOrder(10);
      const ref = `gw-same-${name}-${Date.now()}`;
      const ops: Op[] = Array.from({ length: 20 }, () => ({
        kind: 'create',
        params: receipt(orderId, 2, 'complete', { transactionRef: ref }),
      }));
      const { outcomes, ms } = await race(transport, ops);
      const counts = tally(outcomes);
      report('4a same transactionRef, same order and amount', transport, ops.length, ms, {
        counts,
      });
      assert.deepEqual(counts, { '200': 1, '200:ALREADY_RECORDED': 19 });
      assert.equal(new Set(outcomes.map((o) => o.id)).size, 1, 'every answer names one payment');
      const { order, payments: rows } = await checkInvariants(orderId);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.id, outcomes[0]!.id);
      assert.equal(Number(order.paid_minor), 2_000);
    });

    void test(`[${name}] one transactionRef with two amounts on one order: one amount wins`, async () => {
      const transport = transports.get(name)!;
      const orderId = await createOrder(10);
      const ref = `gw-amounts-${name}-${Date.now()}`;
      const ops: Op[] = Array.from({ length: 10 }, (_, i) => ({
        kind: 'create',
        params: receipt(orderId, i % 2 === 0 ? 1 : 2, 'complete', { transactionRef: ref }),
      }));
      const { outcomes, ms } = await race(transport, ops);
      const counts = tally(outcomes);
      report('4a2 same transactionRef, two amounts', transport, ops.length, ms, { counts });
      assert.deepEqual(counts, {
        '200': 1,
        '200:ALREADY_RECORDED': 4,
        '400:DUPLICATE_TRANSACTION_REF': 5,
      });
      const { payments: rows } = await checkInvariants(orderId);
      assert.equal(rows.length, 1);
      const winnerAmount = Number(rows[0]!.amount_minor) / 1000;
      outcomes.forEach((o, i) => {
        const op = ops[i]!;
        const amount = op.kind === 'create' ? op.params.amount : undefined;
        if (amount === winnerAmount) assert.equal(o.id, rows[0]!.id);
        else assert.equal(o.code, 'DUPLICATE_TRANSACTION_REF');
      });
    });

    void test(`[${name}] one transactionRef on two orders at once: one wins, the other DUPLICATE_TRANSACTION_REF`, async () => {
      const transport = transports.get(name)!;
      const orderA = await createOrder(100);
      const orderB = await createOrder(100);
      const refs = Array.from({ length: 10 }, (_, k) => `gw-two-${name}-${Date.now()}-${k}`);
      // Per ref 3 creates on each order, interleaved; all 60 at once.
      const ops: Op[] = [];
      for (let round = 0; round < 3; round++) {
        for (const ref of refs) {
          for (const orderId of [orderA, orderB]) {
            ops.push({
              kind: 'create',
              params: receipt(orderId, 1, 'complete', { transactionRef: ref }),
            });
          }
        }
      }
      const violationsBefore = uniqueViolationsLogged();
      const { outcomes, ms } = await race(transport, ops);
      const violationsAfter = uniqueViolationsLogged();
      const a = await checkInvariants(orderA);
      const b = await checkInvariants(orderB);
      const stored = [...a.payments, ...b.payments];
      let winsA = 0;
      for (const ref of refs) {
        const holders = stored.filter((p) => p.transaction_ref === ref);
        assert.equal(holders.length, 1, `one payment holds ${ref}`);
        const holder = holders[0]!;
        if (holder.order_id === orderA) winsA++;
        const mine = outcomes
          .map((o, i) => ({ o, op: ops[i]! }))
          .filter(({ op }) => op.kind === 'create' && op.params.transactionRef === ref);
        for (const { o, op } of mine) {
          const onWinner = op.kind === 'create' && op.params.orderId === holder.order_id;
          if (onWinner) {
            assert.equal(o.status, 200, o.detail);
            assert.equal(o.id, holder.id);
          } else {
            assert.equal(o.code, 'DUPLICATE_TRANSACTION_REF', `${o.status} ${o.detail}`);
          }
        }
        assert.equal(
          mine.filter(({ o }) => o.status === 200 && o.warnings.length === 0).length,
          1,
          `exactly one create of ${ref} recorded it`,
        );
      }
      const counts = tally(outcomes);
      report('4b same transactionRef, two orders', transport, ops.length, ms, {
        refs: refs.length,
        winsA,
        winsB: refs.length - winsA,
        ...(violationsBefore !== undefined &&
          violationsAfter !== undefined && {
            uniqueIndexRefusals: violationsAfter - violationsBefore,
          }),
        counts,
      });
      assert.deepEqual(counts, {
        '200': 10,
        '200:ALREADY_RECORDED': 20,
        '400:DUPLICATE_TRANSACTION_REF': 30,
      });
    });
  }
  for (const name of TRANSPORTS) {
    void test(`[${name}] one transactionRef set on payments of ten orders at once: one holds it`, async () => {
      const transport = transports.get(name)!;
      const ids: string[] = [];
      for (let i = 0; i < 10; i++)
        ids.push(await setupPayment(receipt(await createOrder(10), 1, 'pending')));
      const ref = `gw-set-${name}-${Date.now()}`;
      const ops: Op[] = ids.map((id) => ({ kind: 'setRef', id, transactionRef: ref }));
      const { outcomes, ms } = await race(transport, ops);
      const counts = tally(outcomes);
      report('4c one transactionRef set on ten payments', transport, ops.length, ms, { counts });
      assert.deepEqual(counts, { '200': 1, '400:DUPLICATE_TRANSACTION_REF': 9 });
      const { rows } = await sql<{
        id: string;
      }>`select id from payments where transaction_ref = ${ref}`.execute(t.database.db);
      assert.deepEqual(
        rows.map((r) => r.id),
        [ids[outcomes.findIndex((o) => o.status === 200)]],
      );
    });
  }
});
