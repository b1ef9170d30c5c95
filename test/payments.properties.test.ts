// Property tests of payments against the real service on the engine under test: random
// sequences of creates, confirmations, updates, corrections, reversals, deletions and refund
// source moves on one order (with total changes, closes, reopens and rarely a cancel between
// them), through HTTP. After every step the stored
// figures must equal what the payments make (test/support/invariants.ts), a refused step must
// change nothing, the API must agree with the rows, and `can` must predict the outcome.
//
// Reproduce a failure with the seed (and path) fast-check prints:
//   FC_SEED=<seed> FC_PATH=<path> node --import tsx --test test/payments.properties.test.ts
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import type { PaymentStatus, Role } from '../src/db/schema.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';
import {
  checkOrderInvariants,
  minorToWire,
  receiptHeadroomViolation,
  storedFigures,
} from '../reliability/invariants.ts';

const EXPONENT = 3; // KWD
const wire = (minor: number) => minorToWire(minor, EXPONENT);

const NUM_RUNS = Number(process.env.FC_RUNS ?? 100);
const MAX_STEPS = 25;

type InitialStatus = 'pending' | 'progress' | 'complete';
type Op =
  | { kind: 'receipt'; status: InitialStatus; amount: number | undefined; role: Role }
  | {
      kind: 'refund';
      source: number | null;
      status: InitialStatus;
      amount: number | undefined;
      /** Refunds without a source are a manager's; with one, cashiers may (open orders). */
      role: Role;
      /** The source is picked among all payments, not only the complete receipts. */
      anySource: boolean;
    }
  | { kind: 'confirm'; target: number; role: Role; via: 'confirm' | 'patch' }
  | { kind: 'status'; target: number; status: PaymentStatus; role: Role }
  | { kind: 'reverse'; target: number }
  | { kind: 'correct'; target: number; amount: number }
  | { kind: 'update'; target: number; amount: number; role: Role }
  | { kind: 'delete'; target: number; role: Role }
  | { kind: 'resource'; target: number; source: number; correction: boolean }
  | { kind: 'total'; amount: number | 'minimum' }
  | { kind: 'close' }
  | { kind: 'reopen' }
  | { kind: 'cancel' };

// Mostly small amounts (several fit in a total), sometimes larger than anything available.
const amountArb = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 600 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 6000 }) },
);
const maybeAmount = fc.option(amountArb, { nil: undefined, freq: 3 });
const statusArb = fc.constantFrom<InitialStatus>('pending', 'progress', 'complete');
const staffArb = fc.constantFrom<Role>('cashier', 'manager');
const target = fc.nat({ max: 30 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 24,
    arbitrary: fc.record({
      kind: fc.constant('receipt' as const),
      status: statusArb,
      amount: maybeAmount,
      role: staffArb,
    }),
  },
  {
    weight: 21,
    arbitrary: fc.record({
      kind: fc.constant('refund' as const),
      source: fc.option(target, { nil: null, freq: 2 }),
      status: statusArb,
      amount: maybeAmount,
      role: staffArb,
      anySource: fc.boolean(),
    }),
  },
  {
    weight: 18,
    arbitrary: fc.record({
      kind: fc.constant('confirm' as const),
      target,
      role: staffArb,
      // PATCH /confirm, or PATCH {status: complete} (§3.5.3: the same as confirm).
      via: fc.constantFrom<'confirm' | 'patch'>('confirm', 'confirm', 'patch'),
    }),
  },
  {
    weight: 6,
    // PATCH {status} to any status: forward moves, restatements and refused backward ones.
    arbitrary: fc.record({
      kind: fc.constant('status' as const),
      target,
      status: fc.constantFrom<PaymentStatus>(
        'pending',
        'progress',
        'progress',
        'complete',
        'reversed',
      ),
      role: staffArb,
    }),
  },
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('reverse' as const), target }) },
  {
    weight: 12,
    arbitrary: fc.record({ kind: fc.constant('correct' as const), target, amount: amountArb }),
  },
  {
    weight: 9,
    arbitrary: fc.record({
      kind: fc.constant('update' as const),
      target,
      amount: amountArb,
      role: staffArb,
    }),
  },
  {
    weight: 9,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), target, role: staffArb }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('resource' as const),
      target,
      source: target,
      correction: fc.boolean(),
    }),
  },
  {
    // The order's total: any amount, or the least allowed (paid + pending), which settles an
    // order with nothing in flight so that it can be closed.
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('total' as const),
      amount: fc.oneof(amountArb, fc.constant('minimum' as const)),
    }),
  },
  { weight: 6, arbitrary: fc.constant({ kind: 'close' as const }) },
  { weight: 6, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  // Canceling ends what a run can do: rare.
  { weight: 1, arbitrary: fc.constant({ kind: 'cancel' as const }) },
);

const scenarioArb = fc.record({
  /** On the organization whose maxPaymentsPerOrder is small, so the count limit is met. */
  tight: fc.boolean(),
  total: fc.integer({ min: 100, max: 3000 }),
  ops: fc.array(opArb, { minLength: 8, maxLength: MAX_STEPS, size: 'max' }),
});

void describe('payments: properties of the real service', () => {
  let t: TestApp;
  let roomy: TestOrg;
  let tight: TestOrg;
  const methods = new Map<string, string>();
  const stats = { runs: 0, steps: 0, byStatus: new Map<string, number>() };

  before(async () => {
    // Thousands of calls per key in seconds: the per-key rate limit is not under test here.
    t = await startTestApp({ rateLimitPerMinute: 0 });
    roomy = await t.createOrg('KWD');
    tight = await t.createOrg('KWD');
    await t.database.db
      .updateTable('organizations')
      .set({ max_payments_per_order: 6 })
      .where('id', '=', tight.id)
      .execute();
    for (const org of [roomy, tight]) {
      const r = await t.call(org, 'admin', {
        method: 'POST',
        url: '/v1/om/payment-methods',
        payload: { params: { locales: { ar: { name: 'نقدي' }, en: { name: 'Cash' } } } },
      });
      assert.equal(r.statusCode, 200, r.body);
      methods.set(org.id, json(r).data.id as string);
    }
  });
  after(() => t.close());

  const db = () => t.database.db;

  /** Everything a refused request must leave as it was. */
  async function snapshot(org: TestOrg, orderId: string) {
    const order = await db()
      .selectFrom('orders')
      .selectAll()
      .where('organization_id', '=', org.id)
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow();
    const payments = await db()
      .selectFrom('payments')
      .selectAll()
      .where('organization_id', '=', org.id)
      .where('order_id', '=', orderId)
      .orderBy('id')
      .execute();
    const events = await db()
      .selectFrom('events')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('organization_id', '=', org.id)
      .executeTakeFirstOrThrow();
    return { order, payments, events: Number(events.n) };
  }

  /** The order's non-deleted payments, oldest first: what op targets index into. */
  async function livePayments(org: TestOrg, orderId: string) {
    return db()
      .selectFrom('payments')
      .select(['id', 'type', 'status', 'amount_minor'])
      .where('organization_id', '=', org.id)
      .where('order_id', '=', orderId)
      .where('deleted_at', 'is', null)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  async function canOf(org: TestOrg, role: Role, id: string): Promise<string[]> {
    const r = await t.call(org, role, { method: 'GET', url: `/v1/om/payments/${id}` });
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data.payment.can as string[];
  }

  /** (e) The API shows the stored figures and rows, in major units. */
  async function apiViolations(org: TestOrg, orderId: string): Promise<string[]> {
    const out: string[] = [];
    const stored = (await storedFigures(db(), org.id, orderId))!;
    const r = await t.call(org, 'viewer', { method: 'GET', url: `/v1/om/orders/${orderId}` });
    if (r.statusCode !== 200) return [`(e) GET order answered ${r.statusCode}: ${r.body}`];
    const order = json(r).data.order;
    const want = {
      status: stored.status,
      total: wire(stored.totalMinor),
      paidAmount: wire(stored.paidMinor),
      refundedAmount: wire(stored.refundedMinor),
      pendingAmount: wire(stored.pendingMinor),
      balanceDue: wire(stored.totalMinor - stored.paidMinor),
    };
    for (const [key, value] of Object.entries(want)) {
      if (order[key] !== value) out.push(`(e) GET order ${key} is ${order[key]}, stored ${value}`);
    }
    const listed = await t.call(org, 'viewer', {
      method: 'GET',
      url: `/v1/om/orders/${orderId}/payments`,
    });
    if (listed.statusCode !== 200)
      return [...out, `(e) GET payments answered ${listed.statusCode}`];
    const items = json(listed).data.items as Record<string, any>[];
    const rows = await db()
      .selectFrom('payments')
      .selectAll()
      .where('organization_id', '=', org.id)
      .where('order_id', '=', orderId)
      .where('deleted_at', 'is', null)
      .execute();
    if (items.length !== rows.length)
      out.push(`(e) GET payments lists ${items.length}, ${rows.length} stored`);
    const orderRefundable = Math.max(0, stored.paidMinor - stored.pendingRefundsMinor);
    for (const row of rows) {
      const item = items.find((i) => i.id === row.id);
      if (item === undefined) {
        out.push(`(e) payment ${row.id} missing from GET payments`);
        continue;
      }
      const expected: Record<string, unknown> = {
        type: row.type,
        status: row.status,
        amount: wire(Number(row.amount_minor)),
        sourcePaymentId: row.source_payment_id,
      };
      if (row.type === 'receipt') {
        expected.refundedAmount = wire(Number(row.refunded_minor));
        expected.refundableAmount = wire(
          row.status === 'complete'
            ? Math.max(
                0,
                Math.min(
                  Number(row.amount_minor) - Number(row.refunds_reserved_minor),
                  orderRefundable,
                ),
              )
            : 0,
        );
      }
      for (const [key, value] of Object.entries(expected)) {
        if (item[key] !== value)
          out.push(
            `(e) payment ${row.id}: ${key} is ${String(item[key])}, expected ${String(value)}`,
          );
      }
    }
    return out;
  }

  interface Outcome {
    response: LightMyRequestResponse;
    role: Role;
    /** The type of the payment the step touched (receipt changes keep paid + pending ≤ total). */
    touches: 'receipt' | 'refund' | 'total' | null;
    /** What `can` (fetched just before, with the same role) says the outcome must be. */
    predicted?: { succeeds: boolean; why: string };
    /** A warning a success must carry (§6.4). */
    warns?: string;
  }

  async function run(org: TestOrg, orderId: string, op: Op): Promise<Outcome | null> {
    const methodId = methods.get(org.id)!;
    const live = await livePayments(org, orderId);
    const pick = (i: number) => (live.length === 0 ? undefined : live[i % live.length]!);
    const patch = (role: Role, id: string, params: object, suffix = '') =>
      t.call(org, role, {
        method: 'PATCH',
        url: `/v1/om/payments/${id}${suffix}`,
        payload: { params },
      });
    const orderAction = (role: Role, action: string) =>
      t.call(org, role, { method: 'PATCH', url: `/v1/om/orders/${orderId}/${action}` });

    switch (op.kind) {
      case 'receipt': {
        const params = {
          orderId,
          type: 'receipt',
          status: op.status,
          methodId,
          ...(op.amount !== undefined && { amount: wire(op.amount) }),
        };
        const response = await t.call(org, op.role, {
          method: 'POST',
          url: '/v1/om/payments',
          payload: { params },
        });
        return { response, role: op.role, touches: 'receipt' };
      }
      case 'refund': {
        const sources = op.anySource
          ? live
          : live.filter((p) => p.type === 'receipt' && p.status === 'complete');
        const source =
          op.source === null
            ? undefined
            : (sources[op.source % Math.max(1, sources.length)] ?? pick(op.source));
        if (op.source !== null && source === undefined) return null;
        const role: Role = source === undefined ? 'manager' : op.role;
        const params = {
          orderId,
          type: 'refund',
          status: op.status,
          ...(source === undefined ? { methodId } : { sourcePaymentId: source.id }),
          ...(op.amount !== undefined && { amount: wire(op.amount) }),
        };
        // With a source and no amount, the refund takes what is refundable: it succeeds
        // exactly when the source offers `refund`.
        const predicted =
          source !== undefined && op.amount === undefined
            ? {
                succeeds: (await canOf(org, role, source.id)).includes('refund'),
                why: 'refund in the source’s can',
              }
            : undefined;
        const response = await t.call(org, role, {
          method: 'POST',
          url: '/v1/om/payments',
          payload: { params },
        });
        return { response, role, touches: 'refund', ...(predicted && { predicted }) };
      }
      case 'confirm': {
        const p = pick(op.target);
        if (p === undefined) return null;
        const can = await canOf(org, op.role, p.id);
        // Confirming a complete payment again is a no-op success, not offered in `can`.
        const predicted = {
          succeeds: can.includes('confirm') || p.status === 'complete',
          why: `confirm in can ${JSON.stringify(can)} (status ${p.status})`,
        };
        const response =
          op.via === 'confirm'
            ? await patch(op.role, p.id, {}, '/confirm')
            : await patch(op.role, p.id, { status: 'complete' });
        if (op.via === 'patch' && p.status === 'complete') {
          // PATCH {status: complete} on a complete payment is a metadata update (manager).
          return { response, role: op.role, touches: p.type };
        }
        return {
          response,
          role: op.role,
          touches: p.type,
          predicted,
          ...(p.status === 'complete' && { warns: 'ALREADY_COMPLETE' }),
        };
      }
      case 'status': {
        const p = pick(op.target);
        if (p === undefined) return null;
        const response = await patch(op.role, p.id, { status: op.status });
        return { response, role: op.role, touches: p.type };
      }
      case 'reverse': {
        const p = pick(op.target);
        if (p === undefined) return null;
        const can = await canOf(org, 'manager', p.id);
        const predicted = {
          // Reversing a reversed payment again restates its status: a no-op success (§6.1).
          succeeds: can.includes('reverse') || p.status === 'reversed',
          why: `reverse in can ${JSON.stringify(can)} (status ${p.status})`,
        };
        const response = await patch('manager', p.id, { status: 'reversed' });
        return { response, role: 'manager', touches: p.type, predicted };
      }
      case 'correct': {
        const p = pick(op.target);
        if (p === undefined) return null;
        const can = await canOf(org, 'manager', p.id);
        // On an in-flight payment the flag changes nothing: it is an update. On a complete or
        // reversed one a real change not offered in `can` is refused; one offered may still
        // meet an amount limit.
        const changes =
          Number(p.amount_minor) !== op.amount && p.status !== 'pending' && p.status !== 'progress';
        const predicted =
          changes && !can.includes('correct')
            ? { succeeds: false, why: `correct not in can ${JSON.stringify(can)}` }
            : undefined;
        const response = await patch('manager', p.id, {
          amount: wire(op.amount),
          correction: true,
        });
        return {
          response,
          role: 'manager',
          touches: p.type,
          ...(predicted && { predicted }),
          ...(changes && { warns: 'CORRECTION_RECORDED' }),
        };
      }
      case 'update': {
        const p = pick(op.target);
        if (p === undefined) return null;
        const can = await canOf(org, op.role, p.id);
        const changes = Number(p.amount_minor) !== op.amount;
        const predicted =
          changes && !can.includes('update')
            ? { succeeds: false, why: `update not in can ${JSON.stringify(can)}` }
            : undefined;
        const response = await patch(op.role, p.id, { amount: wire(op.amount) });
        return { response, role: op.role, touches: p.type, ...(predicted && { predicted }) };
      }
      case 'delete': {
        const p = pick(op.target);
        if (p === undefined) return null;
        const can = await canOf(org, op.role, p.id);
        const predicted = {
          succeeds: can.includes('delete'),
          why: `delete in can ${JSON.stringify(can)}`,
        };
        const response = await t.call(org, op.role, {
          method: 'DELETE',
          url: `/v1/om/payments/${p.id}`,
        });
        return { response, role: op.role, touches: p.type, predicted };
      }
      case 'resource': {
        // Move a refund to another source (a correction once it is complete).
        const p = pick(op.target);
        const source = pick(op.source);
        if (p === undefined || source === undefined) return null;
        const response = await patch('manager', p.id, {
          sourcePaymentId: source.id,
          ...(op.correction && { correction: true }),
        });
        return { response, role: 'manager', touches: p.type };
      }
      case 'total': {
        const figures = (await storedFigures(db(), org.id, orderId))!;
        const minor =
          op.amount === 'minimum'
            ? Math.max(1, figures.paidMinor + figures.pendingMinor)
            : op.amount;
        const response = await t.call(org, 'cashier', {
          method: 'PATCH',
          url: `/v1/om/orders/${orderId}`,
          payload: { params: { total: wire(minor) } },
        });
        return { response, role: 'cashier', touches: 'total' };
      }
      case 'close':
        return { response: await orderAction('cashier', 'close'), role: 'cashier', touches: null };
      case 'reopen':
        return { response: await orderAction('manager', 'reopen'), role: 'manager', touches: null };
      case 'cancel':
        return { response: await orderAction('manager', 'cancel'), role: 'manager', touches: null };
    }
  }

  /**
   * Runs `ops` on a new order, checking everything after each step. Returns the outcome code
   * of each step that ran ('ok' or the error code; '-' for a step with nothing to act on).
   */
  async function runScenario(useTight: boolean, total: number, ops: readonly Op[]) {
    const org = useTight ? tight : roomy;
    const created = await t.call(org, 'cashier', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total: wire(total) } },
    });
    assert.equal(created.statusCode, 200, created.body);
    const orderId = json(created).data.id as string;
    stats.runs++;

    const log: string[] = [];
    const codes: string[] = [];
    for (const [i, op] of ops.entries()) {
      const before = await snapshot(org, orderId);
      const figuresBefore = (await storedFigures(db(), org.id, orderId))!;
      const outcome = await run(org, orderId, op);
      if (outcome === null) {
        codes.push('-');
        continue;
      }
      stats.steps++;
      const { response, role } = outcome;
      const code =
        response.statusCode === 200
          ? 'ok'
          : ((json(response).error?.code as string | undefined) ?? String(response.statusCode));
      codes.push(code);
      const key = `${op.kind}:${code}`;
      stats.byStatus.set(key, (stats.byStatus.get(key) ?? 0) + 1);
      log.push(`#${i} ${JSON.stringify(op)} → ${response.statusCode} ${code}`);
      const where = () =>
        `step ${i} of an order of ${total}: ${JSON.stringify(op)}\n${log.join('\n')}\n${response.body}`;

      assert.ok(response.statusCode < 500, `5xx at ${where()}`);
      const allowed = role === 'cashier' ? [200, 400, 403] : [200, 400];
      assert.ok(allowed.includes(response.statusCode), `unexpected status at ${where()}`);
      if (response.statusCode !== 200) {
        assert.deepEqual(
          await snapshot(org, orderId),
          before,
          `a refusal changed state at ${where()}`,
        );
      }
      if (outcome.predicted !== undefined) {
        assert.equal(
          response.statusCode === 200,
          outcome.predicted.succeeds,
          `can disagrees with the outcome (${outcome.predicted.why}) at ${where()}`,
        );
      }
      const violations = await checkOrderInvariants(db(), org.id, orderId);
      const figuresAfter = (await storedFigures(db(), org.id, orderId))!;
      // Receipts and the total both keep paid + pending within the total (refund reversals
      // may legitimately overpay an order, so this is checked per step, not at rest).
      if (
        (outcome.touches === 'receipt' || outcome.touches === 'total') &&
        response.statusCode === 200
      ) {
        const broken = receiptHeadroomViolation(figuresBefore, figuresAfter);
        if (broken !== null) violations.push(broken);
      }
      if (response.statusCode === 200 && outcome.touches !== null) {
        // §6.4: a change that brings balanceDue to 0 says so; an overpaying one too.
        const warnings = (json(response).warnings as { code: string }[]).map((w) => w.code);
        const paidChanged = figuresAfter.paidMinor !== figuresBefore.paidMinor;
        const totalChanged = figuresAfter.totalMinor !== figuresBefore.totalMinor;
        const due = figuresAfter.totalMinor - figuresAfter.paidMinor;
        if ((paidChanged || totalChanged) && due === 0 && !warnings.includes('ORDER_FULLY_PAID'))
          violations.push(
            `(w) balanceDue became 0 without ORDER_FULLY_PAID: ${warnings.join(', ')}`,
          );
        if ((paidChanged || totalChanged) && due < 0 && !warnings.includes('ORDER_OVERPAID'))
          violations.push(
            `(w) the order is overpaid by ${-due} without ORDER_OVERPAID: ${warnings.join(', ')}`,
          );
        if (!paidChanged && !totalChanged && warnings.includes('ORDER_FULLY_PAID'))
          violations.push(`(w) ORDER_FULLY_PAID on a step that changed no figure`);
        if (outcome.warns !== undefined && !warnings.includes(outcome.warns))
          violations.push(`(w) no ${outcome.warns} warning: ${warnings.join(', ')}`);
      }
      violations.push(...(await apiViolations(org, orderId)));
      assert.deepEqual(violations, [], `invariants broken at ${where()}`);
    }
    return { orderId, codes };
  }

  void test(`random sequences of payment changes keep every invariant (${NUM_RUNS} runs × ≤ ${MAX_STEPS} steps)`, async () => {
    const property = fc.asyncProperty(scenarioArb, async ({ tight: useTight, total, ops }) => {
      await runScenario(useTight, total, ops);
    });
    await fc.assert(property, {
      numRuns: NUM_RUNS,
      includeErrorInReport: true,
      ...(process.env.FC_SEED !== undefined && { seed: Number(process.env.FC_SEED) }),
      ...(process.env.FC_PATH !== undefined && { path: process.env.FC_PATH }),
    });
    console.log(
      `# ${stats.runs} runs, ${stats.steps} steps: ${JSON.stringify(Object.fromEntries([...stats.byStatus].sort()))}`,
    );
    // The runs reached the interesting outcomes, not only refusals (unless replaying one).
    if (process.env.FC_PATH !== undefined || NUM_RUNS < 40) return;
    const seen = (prefix: string) =>
      [...stats.byStatus.entries()].some(([k, n]) => k.startsWith(prefix) && n > 0);
    for (const outcome of [
      'receipt:ok',
      'refund:ok',
      'confirm:ok',
      'reverse:ok',
      'correct:ok',
      'delete:ok',
      'update:ok',
      'receipt:LIMIT_REACHED',
      'refund:LIMIT_REACHED',
    ]) {
      assert.ok(seen(outcome), `no step ended ${outcome}: ${JSON.stringify([...stats.byStatus])}`);
    }
  });

  // Fixed sequences for what random ones meet rarely (same checks after every step).
  const receipt = (amount: number, status: InitialStatus = 'complete'): Op => ({
    kind: 'receipt',
    status,
    amount,
    role: 'cashier',
  });
  const refund = (
    source: number | null,
    amount: number | undefined,
    status: InitialStatus,
  ): Op => ({
    kind: 'refund',
    source,
    status,
    amount,
    role: 'manager',
    anySource: true,
  });

  void test('a receipt cannot be reversed or lowered below what refunds without a source took', async () => {
    const { codes } = await runScenario(false, 1000, [
      receipt(1000), // paid 1000
      refund(null, 600, 'complete'), // paid 400
      refund(null, 300, 'pending'), // kept: 400 − 300 = 100
      { kind: 'reverse', target: 0 }, // would leave paid −600
      { kind: 'correct', target: 0, amount: 850 }, // would leave kept −50
      { kind: 'correct', target: 0, amount: 900 }, // kept exactly 0
      { kind: 'reverse', target: 2 }, // the pending refund cannot be reversed (not complete)
      { kind: 'delete', target: 2, role: 'cashier' }, // kept 300
      { kind: 'reverse', target: 1 }, // the refund's money is kept again: paid 900
      { kind: 'correct', target: 0, amount: 1000 },
    ]);
    assert.deepEqual(codes, [
      'ok',
      'ok',
      'ok',
      'LIMIT_REACHED',
      'LIMIT_REACHED',
      'ok',
      'INVALID_STATUS',
      'ok',
      'ok',
      'ok',
    ]);
  });

  void test('refunds move between sources, and a source keeps its totals exact', async () => {
    const { codes } = await runScenario(false, 1000, [
      receipt(400), // 0
      receipt(600), // 1
      refund(0, 300, 'pending'), // 2: R0 reserves 300
      { kind: 'resource', target: 2, source: 1, correction: false }, // now R1 reserves 300
      { kind: 'update', target: 2, amount: 600, role: 'cashier' }, // R1 fully reserved
      { kind: 'resource', target: 2, source: 0, correction: false }, // 600 > 400: refused
      { kind: 'confirm', target: 2, role: 'cashier', via: 'patch' }, // R1 refunded 600
      { kind: 'resource', target: 2, source: 0, correction: false }, // complete: needs the flag
      { kind: 'correct', target: 2, amount: 400 }, // corrected down on R1
      { kind: 'resource', target: 2, source: 0, correction: true }, // R0 refunded 400, R1 free
      { kind: 'reverse', target: 1 }, // R1 has no refunds now; kept 600 − 600 = 0
      { kind: 'resource', target: 2, source: 1, correction: true }, // R1 is reversed
      { kind: 'reverse', target: 0 }, // R0 has a refund
      { kind: 'reverse', target: 2 }, // the refund: R0 free again
      { kind: 'reverse', target: 0 },
    ]);
    assert.deepEqual(codes, [
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'LIMIT_REACHED',
      'ok',
      'INVALID_STATUS',
      'ok',
      'ok',
      'ok',
      'INVALID_STATUS',
      'INVALID_STATUS',
      'ok',
      'ok',
    ]);
  });

  void test('the count limit counts every non-deleted payment, reversed ones included', async () => {
    const { codes } = await runScenario(true, 3000, [
      receipt(100),
      receipt(100),
      receipt(100, 'pending'),
      refund(0, undefined, 'complete'), // takes all 100 of R0
      { kind: 'reverse', target: 3 },
      refund(1, 50, 'pending'), // 5th
      receipt(100), // 6th of 6
      refund(1, 10, 'pending'),
      { kind: 'delete', target: 2, role: 'cashier' },
      receipt(100),
      receipt(100),
    ]);
    assert.deepEqual(codes, [
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'LIMIT_REACHED',
      'ok',
      'ok',
      'LIMIT_REACHED',
    ]);
  });
});
