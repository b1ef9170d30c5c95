// GET /v1/om/reports/payments-summary (API.md §8) on the engine under test: the figures of
// real payments, days cut in time zones with and without DST, the checks of its query, a
// property test against an independent computation, and the plan of its statement.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CompiledQuery, sql } from 'kysely';
import type { Database } from '../src/db/engine.ts';
import { summaryQuery } from '../src/reports/reports.repository.ts';
import { daysOfRange } from '../src/reports/reports.rules.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';
import { TEST_ENGINE } from './support/database.ts';

const URL = '/v1/om/reports/payments-summary';
type Body = Record<string, any>;

let t: TestApp;
before(async () => {
  t = await startTestApp({ rateLimitPerMinute: 0 });
});
after(async () => {
  await t.close();
});

async function ok(org: TestOrg, method: string, url: string, params?: object): Promise<Body> {
  const r = await t.call(org, 'admin', {
    method: method as 'GET',
    url,
    ...(params && { payload: { params } }),
  });
  assert.equal(r.statusCode, 200, `${method} ${url}: ${r.body}`);
  return json(r).data;
}

async function method(org: TestOrg, name: string): Promise<string> {
  const made = await ok(org, 'POST', '/v1/om/payment-methods', {
    code: name,
    locales: { ar: { name: `ع ${name}` }, en: { name } },
    visible: true,
  });
  return made.id as string;
}

const report = (
  org: TestOrg,
  query: Record<string, string>,
  role: 'manager' | 'admin' | 'cashier' | 'viewer' = 'manager',
) => t.call(org, role, { method: 'GET', url: `${URL}?${new URLSearchParams(query).toString()}` });

/** Moves a payment's timestamps, as history written at another time would hold them. */
async function setTimes(id: string, times: { created?: string; completed?: string }) {
  const db = t.database.db;
  if (times.created !== undefined)
    await db
      .updateTable('payments')
      .set({ created_at: times.created })
      .where('id', '=', id)
      .execute();
  if (times.completed !== undefined)
    await db
      .updateTable('payments')
      .set({ completed_at: times.completed })
      .where('id', '=', id)
      .execute();
}

void describe('payments summary over real payments', () => {
  let org: TestOrg;
  let cash: string;
  let card: string;
  const around = () => ({
    from: new Date(Date.now() - 3_600_000).toISOString(),
    to: new Date(Date.now() + 3_600_000).toISOString(),
  });
  before(async () => {
    org = await t.createOrg('SAR');
    cash = await method(org, 'cash');
    card = await method(org, 'card');
    const order = (await ok(org, 'POST', '/v1/om/orders', { total: 1000 })).id;
    const pay = async (params: object) =>
      (await ok(org, 'POST', '/v1/om/payments', { orderId: order, ...params })).id as string;
    const r1 = await pay({ type: 'receipt', methodId: cash, amount: 10.05, status: 'complete' });
    await pay({ type: 'receipt', methodId: card, amount: 20, status: 'complete' });
    await pay({ type: 'receipt', methodId: cash, amount: 5.5 }); // pending
    const progress = await pay({ type: 'receipt', methodId: card, amount: 1.25 });
    await ok(org, 'PATCH', `/v1/om/payments/${progress}`, { status: 'progress' });
    await pay({ type: 'refund', sourcePaymentId: r1, amount: 3.01, status: 'complete' });
    const reversed = await pay({ type: 'receipt', methodId: card, amount: 7, status: 'complete' });
    await ok(org, 'PATCH', `/v1/om/payments/${reversed}`, { status: 'reversed' });
    const deleted = await pay({ type: 'receipt', methodId: cash, amount: 2 });
    await ok(org, 'DELETE', `/v1/om/payments/${deleted}`);
    // Another organization's payments are never counted.
    const other = await t.createOrg('SAR');
    const otherCash = await method(other, 'cash');
    const otherOrder = (await ok(other, 'POST', '/v1/om/orders', { total: 50 })).id;
    await ok(other, 'POST', '/v1/om/payments', {
      orderId: otherOrder,
      type: 'receipt',
      methodId: otherCash,
      amount: 50,
      status: 'complete',
    });
  });

  void test('by method (the default): receipts, refunds, net and pending; reversed and deleted in neither', async () => {
    const r = await report(org, around());
    assert.equal(r.statusCode, 200, r.body);
    const data = json(r).data;
    assert.equal(data.currency, 'SAR');
    assert.equal(data.timeZone, 'Asia/Riyadh');
    assert.equal(data.groupBy, 'method');
    const [first, second] = [cash, card].sort();
    const figures: Record<string, Body> = {
      [cash]: {
        methodId: cash,
        receipts: { count: 1, amount: 10.05 },
        refunds: { count: 1, amount: 3.01 },
        net: 7.04,
        pending: { count: 1, amount: 5.5 },
      },
      [card]: {
        methodId: card,
        receipts: { count: 1, amount: 20 },
        refunds: { count: 0, amount: 0 },
        net: 20,
        pending: { count: 1, amount: 1.25 },
      },
    };
    assert.deepEqual(data.groups, [figures[first!], figures[second!]]);
    assert.deepEqual(data.totals, {
      receipts: { count: 2, amount: 30.05 },
      refunds: { count: 1, amount: 3.01 },
      net: 27.04,
      pending: { count: 2, amount: 6.75 },
    });
  });

  void test('by day: one group per local day, in the organization’s zone', async () => {
    const r = await report(org, { ...around(), groupBy: 'day' });
    const data = json(r).data;
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Riyadh' }).format(new Date());
    assert.ok(data.groups.length >= 1 && data.groups.length <= 2, r.body);
    assert.ok(data.groups.every((g: Body) => !('methodId' in g) && typeof g.day === 'string'));
    assert.ok(data.groups.some((g: Body) => g.day === today));
    assert.equal(data.totals.net, 27.04);
  });

  void test('an empty range answers no groups and zero totals', async () => {
    const r = await report(org, { from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z' });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(json(r).data.groups, []);
    assert.deepEqual(json(r).data.totals, {
      receipts: { count: 0, amount: 0 },
      refunds: { count: 0, amount: 0 },
      net: 0,
      pending: { count: 0, amount: 0 },
    });
  });

  void test('manager and admin may read it; cashier and viewer may not', async () => {
    for (const role of ['manager', 'admin'] as const)
      assert.equal((await report(org, around(), role)).statusCode, 200, role);
    for (const role of ['cashier', 'viewer'] as const) {
      const r = await report(org, around(), role);
      assert.equal(r.statusCode, 403, role);
      assert.equal(json(r).error.code, 'FORBIDDEN');
    }
  });

  void test('bad queries are InvalidParameter naming the field', async () => {
    const { from, to } = around();
    const cases: [Record<string, string>, string][] = [
      [{ to }, 'from'],
      [{ from }, 'to'],
      [{ from: 'yesterday', to }, 'from'],
      [{ from: '2026-01-01', to }, 'from'], // a date is not an instant
      [{ from: to, to: from }, 'to'],
      [{ from, to: from }, 'to'],
      [{ from: '2026-01-01T00:00:00Z', to: '2026-04-03T00:00:01Z' }, 'to'], // 92 days + 1 s
      [{ from, to, timeZone: 'Mars/Olympus' }, 'timeZone'],
      [{ from, to, timeZone: '+03:00' }, 'timeZone'],
      [{ from, to, groupBy: 'week' }, 'groupBy'],
      [{ from, to, extra: '1' }, 'extra'],
    ];
    for (const [query, field] of cases) {
      const r = await report(org, query);
      assert.equal(r.statusCode, 400, `${JSON.stringify(query)}: ${r.body}`);
      assert.equal(json(r).error.code, 'InvalidParameter');
      assert.equal(json(r).error.details.field, field, JSON.stringify(query));
    }
    const long = await report(org, { from: '2026-01-01T00:00:00Z', to: '2026-04-03T00:00:01Z' });
    assert.equal(json(long).error.details.maxDays, 92);
    const exactly92 = await report(org, {
      from: '2026-01-01T00:00:00Z',
      to: '2026-04-03T00:00:00Z',
    });
    assert.equal(exactly92.statusCode, 200, exactly92.body);
  });

  void test('GET /v1/om/organization shows the time zone the report defaults to', async () => {
    const got = await ok(org, 'GET', '/v1/om/organization');
    assert.equal(got.organization.settings.timeZone, 'Asia/Riyadh');
  });
});

void describe('days cut at local midnight', () => {
  let org: TestOrg;
  let cash: string;
  let card: string;
  before(async () => {
    org = await t.createOrg('KWD');
    cash = await method(org, 'cash');
    card = await method(org, 'card');
    const order = (await ok(org, 'POST', '/v1/om/orders', { total: 1000 })).id;
    const pay = async (params: object) =>
      (await ok(org, 'POST', '/v1/om/payments', { orderId: order, ...params })).id as string;
    // Around Europe/Berlin's spring-forward (2026-03-29 02:00 CET → 03:00 CEST).
    const complete = [
      ['2026-03-28T22:59:59.999Z', cash, 1.001], // Berlin 28th 23:59; Riyadh 29th 01:59
      ['2026-03-28T23:00:00.000Z', cash, 2.002], // Berlin 29th 00:00
      ['2026-03-29T01:30:00.000Z', card, 3.003], // Berlin 29th 03:30 CEST
      ['2026-03-29T20:59:59.999Z', card, 4.004], // Riyadh 29th 23:59; Berlin 29th 22:59
      ['2026-03-29T21:00:00.000Z', cash, 5.005], // Riyadh 30th 00:00; Berlin 29th 23:00
      ['2026-03-29T22:00:00.000Z', cash, 6.006], // Berlin 30th 00:00 CEST
    ] as const;
    for (const [when, methodId, amount] of complete) {
      const id = await pay({ type: 'receipt', methodId, amount, status: 'complete' });
      await setTimes(id, { created: '2026-03-01T00:00:00.000Z', completed: when });
    }
    // A pending receipt counts by its creation.
    const pending = await pay({ type: 'receipt', methodId: card, amount: 0.5 });
    await setTimes(pending, { created: '2026-03-29T21:30:00.000Z' });
  });
  const range = { from: '2026-03-28T00:00:00Z', to: '2026-03-31T00:00:00Z' };

  void test('Europe/Berlin across the DST change', async () => {
    const r = await report(org, { ...range, timeZone: 'Europe/Berlin', groupBy: 'day' });
    assert.equal(r.statusCode, 200, r.body);
    const groups = json(r).data.groups.map((g: Body) => [g.day, g.receipts, g.pending.count]);
    assert.deepEqual(groups, [
      ['2026-03-28', { count: 1, amount: 1.001 }, 0],
      ['2026-03-29', { count: 4, amount: 14.014 }, 1],
      ['2026-03-30', { count: 1, amount: 6.006 }, 0],
    ]);
  });

  void test('Asia/Riyadh (no DST), also as the organization’s default', async () => {
    const expected = [
      ['2026-03-29', { count: 4, amount: 10.01 }, 0],
      ['2026-03-30', { count: 2, amount: 11.011 }, 1],
    ];
    for (const query of [{ ...range, timeZone: 'Asia/Riyadh' }, range]) {
      const r = await report(org, { ...query, groupBy: 'day' });
      const data = json(r).data;
      assert.equal(data.timeZone, 'Asia/Riyadh');
      assert.deepEqual(
        data.groups.map((g: Body) => [g.day, g.receipts, g.pending.count]),
        expected,
      );
    }
  });

  void test('method,day splits each day by method; the organization’s zone is its setting', async () => {
    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/v1/admin/organizations/${org.id}`,
      headers: { 'api-key': t.rootKey },
      payload: { params: { timeZone: 'Europe/Berlin' } },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    const r = await report(org, { ...range, groupBy: 'method,day' });
    const data = json(r).data;
    assert.equal(data.timeZone, 'Europe/Berlin');
    const [first, second] = [cash, card].sort();
    const row = (g: Body) => [g.day, g.methodId, g.receipts.amount, g.pending.count];
    const want = [
      ['2026-03-28', cash, 1.001, 0],
      ['2026-03-29', first, first === cash ? 7.007 : 7.007, first === cash ? 0 : 1],
      ['2026-03-29', second, 7.007, second === cash ? 0 : 1],
      ['2026-03-30', cash, 6.006, 0],
    ];
    assert.deepEqual(data.groups.map(row), want);
  });

  void test('a range cut mid-day counts only what is inside it', async () => {
    const r = await report(org, {
      from: '2026-03-29T01:30:00.000Z',
      to: '2026-03-29T21:00:00.000Z',
      timeZone: 'Europe/Berlin',
      groupBy: 'day',
    });
    assert.deepEqual(
      json(r).data.groups.map((g: Body) => [g.day, g.receipts.count]),
      [['2026-03-29', 2]],
    );
  });
});

// ---- property test: random payments and zones against an independent computation -------

const ZONES = [
  'Asia/Riyadh',
  'Europe/Berlin',
  'America/New_York',
  'Australia/Lord_Howe', // a 30-minute DST change
  'Asia/Kathmandu', // +05:45
  'Pacific/Chatham', // +12:45 / +13:45
  'America/Santiago', // midnight skipped at its spring change
  'UTC',
];
const WINDOW_START = Date.parse('2026-03-25T00:00:00Z');
const WINDOW_MS = 10 * 86_400_000; // Berlin's and New York's March changes, Chatham's April one

/** The local date an instant has in a zone, read through another Intl path than the service. */
function independentDay(ms: number, zone: string): string {
  const text = new Date(ms).toLocaleString('en-US', {
    timeZone: zone,
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
  }); // "3/29/2026"
  const [m, d, y] = text.split('/').map(Number) as [number, number, number];
  return `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** Minor units → major, by writing the decimal out (independent of src/money). */
function major(minor: bigint, exponent: number): number {
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(exponent + 1, '0');
  const text = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  return Number(negative ? `-${text}` : text);
}

interface Generated {
  type: 'receipt' | 'refund';
  status: 'pending' | 'progress' | 'complete' | 'reversed';
  method: number;
  amountMinor: number;
  createdMs: number;
  completedAfterMs: number;
  deleted: boolean;
}

const paymentArb: fc.Arbitrary<Generated> = fc.record({
  type: fc.constantFrom('receipt', 'refund'),
  status: fc.constantFrom('pending', 'progress', 'complete', 'reversed'),
  method: fc.integer({ min: 0, max: 2 }),
  amountMinor: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 2 ** 40 })),
  createdMs: fc.integer({ min: 0, max: WINDOW_MS - 1 }),
  completedAfterMs: fc.integer({ min: 0, max: 3 * 86_400_000 }),
  deleted: fc.boolean(),
});

function expected(
  payments: Generated[],
  methods: string[],
  query: { from: number; to: number; zone: string; groupBy: string },
  exponent: number,
) {
  const groups = new Map<string, Body>();
  const zero = () => ({ rc: 0, ra: 0n, fc: 0, fa: 0n, pc: 0, pa: 0n });
  const totals = zero();
  for (const p of payments) {
    if (p.deleted && (p.status === 'pending' || p.status === 'progress')) continue;
    let when: number;
    if (p.status === 'complete') when = p.createdMs + p.completedAfterMs;
    else if (p.status === 'pending' || p.status === 'progress') when = p.createdMs;
    else continue; // reversed: counted by neither time
    const ms = WINDOW_START + when;
    if (ms < query.from || ms >= query.to) continue;
    const methodId = methods[p.method] ?? null;
    const day = independentDay(ms, query.zone);
    const key = JSON.stringify([
      query.groupBy.includes('method') ? methodId : undefined,
      query.groupBy.includes('day') ? day : undefined,
    ]);
    const g = groups.get(key) ?? {
      ...(query.groupBy.includes('method') && { methodId }),
      ...(query.groupBy.includes('day') && { day }),
      f: zero(),
    };
    groups.set(key, g);
    for (const f of [g.f, totals]) {
      if (p.status !== 'complete') {
        f.pc++;
        f.pa += BigInt(p.amountMinor);
      } else if (p.type === 'receipt') {
        f.rc++;
        f.ra += BigInt(p.amountMinor);
      } else {
        f.fc++;
        f.fa += BigInt(p.amountMinor);
      }
    }
  }
  const shown = (f: ReturnType<typeof zero>) => ({
    receipts: { count: f.rc, amount: major(f.ra, exponent) },
    refunds: { count: f.fc, amount: major(f.fa, exponent) },
    net: major(f.ra - f.fa, exponent),
    pending: { count: f.pc, amount: major(f.pa, exponent) },
  });
  const list = [...groups.values()]
    .map(({ f, ...keys }): Body => ({ ...keys, ...shown(f) }))
    .sort(
      (a, b) =>
        (a.day ?? '').localeCompare(b.day ?? '') ||
        (a.methodId === b.methodId
          ? 0
          : a.methodId === null
            ? 1
            : b.methodId === null
              ? -1
              : a.methodId < b.methodId
                ? -1
                : 1),
    );
  return { groups: list, totals: shown(totals) };
}

/** Writes generated payments straight into the table (one order holds them all). */
async function insertPayments(org: TestOrg, methods: string[], payments: Generated[]) {
  const order = (await ok(org, 'POST', '/v1/om/orders', { total: 1 })).id as string;
  const audit = (iso: string) => ({
    created_at: iso,
    created_via: 'test',
    created_by: 'test',
    updated_at: iso,
    updated_via: 'test',
    updated_by: 'test',
  });
  const rows = payments.map((p, i) => {
    const created = new Date(WINDOW_START + p.createdMs).toISOString();
    const completed =
      p.status === 'complete' || p.status === 'reversed'
        ? new Date(WINDOW_START + p.createdMs + p.completedAfterMs).toISOString()
        : null;
    return {
      organization_id: org.id,
      id: `${order.slice(0, 24)}${String(i).padStart(12, '0')}`,
      order_id: order,
      type: p.type,
      status: p.status,
      amount_minor: p.amountMinor,
      custom: 1,
      method_id: methods[p.method] ?? null,
      customer_uid: null,
      source_payment_id: null,
      transaction_ref: null,
      invoice_id: null,
      note: null,
      completed_at: completed,
      reversed_at: p.status === 'reversed' ? completed : null,
      deleted_at: p.deleted && !completed ? created : null,
      ...audit(created),
    };
  });
  if (rows.length > 0) await t.database.db.insertInto('payments').values(rows).execute();
}

void test('property: the summary equals an independent sum over random payments and zones', async () => {
  const exponents: Record<string, number> = { SAR: 2, KWD: 3, JPY: 0 };
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('SAR', 'KWD', 'JPY'),
      fc.array(paymentArb, { maxLength: 40 }),
      fc.constantFrom(...ZONES),
      fc.constantFrom('method', 'day', 'method,day'),
      fc.integer({ min: 0, max: WINDOW_MS }),
      fc.integer({ min: 1, max: WINDOW_MS + 3 * 86_400_000 }),
      async (currency, payments, zone, groupBy, fromOffset, length) => {
        const org = await t.createOrg(currency);
        // Method 2 stands for a payment without one (a refund of nothing).
        const methods = [await method(org, 'cash'), await method(org, 'card')];
        await insertPayments(org, methods, payments);
        const query = {
          from: WINDOW_START + fromOffset,
          to: WINDOW_START + fromOffset + length,
          zone,
          groupBy,
        };
        const r = await report(org, {
          from: new Date(query.from).toISOString(),
          to: new Date(query.to).toISOString(),
          timeZone: zone,
          groupBy,
        });
        assert.equal(r.statusCode, 200, r.body);
        const data = json(r).data;
        const want = expected(payments, methods, query, exponents[currency]!);
        assert.deepEqual(data.groups, want.groups);
        assert.deepEqual(data.totals, want.totals);
      },
    ),
    { numRuns: 60 },
  );
});

// ---- the plan: a range read of the indexes, on a table with history ----------------------

async function planOf(database: Database, query: CompiledQuery): Promise<string> {
  const explain = (prefix: string) =>
    CompiledQuery.raw(`${prefix} ${query.sql}`, [...query.parameters]) as CompiledQuery<
      Record<string, unknown>
    >;
  const rows = (
    await database.db.executeQuery(
      explain(database.engine === 'postgres' ? 'explain' : 'explain query plan'),
    )
  ).rows;
  return rows
    .map((r) => (database.engine === 'postgres' ? Object.values(r) : [r.detail]).join(' '))
    .join('\n');
}

void test('the summary reads payments_by_completed and payments_by_created, never the whole table', async () => {
  const org = await t.createOrg('SAR');
  const cash = await method(org, 'cash');
  const order = (await ok(org, 'POST', '/v1/om/orders', { total: 1 })).id as string;
  // 20,000 payments over 200 days (one every 864 s), most complete, then the statistics.
  const db = t.database.db;
  const n = 20_000;
  const start = Date.parse('2025-06-01T00:00:00Z');
  const series =
    t.database.engine === 'postgres'
      ? sql`generate_series(1, ${n}) as g(i)`
      : sql`(with recursive s(i) as (select 1 union all select i + 1 from s where i < ${n}) select i from s) as g`;
  const iso = (ms: string) =>
    t.database.engine === 'postgres'
      ? sql`to_char(to_timestamp(${sql.raw(ms)} / 1000.0) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
      : sql`strftime('%Y-%m-%dT%H:%M:%fZ', ${sql.raw(ms)} / 1000.0, 'unixepoch')`;
  const created = iso(`(${start} + cast(i as bigint) * 864000)`);
  await sql`insert into payments (organization_id, id, order_id, type, status, amount_minor, custom,
      method_id, completed_at, attrs, created_at, created_via, created_by, updated_at, updated_via, updated_by)
    select ${org.id}, ${order.slice(0, 24)} || ${t.database.engine === 'postgres' ? sql`lpad(i::text, 12, '0')` : sql`printf('%012d', i)`},
      ${order}, 'receipt', case when i % 10 = 0 then 'pending' else 'complete' end, 100, 1, ${cash},
      case when i % 10 = 0 then null else ${created} end, '{}', ${created}, 'test', 'test', ${created}, 'test', 'test'
    from ${series}`.execute(db);
  await sql.raw(t.database.engine === 'postgres' ? 'analyze payments' : 'analyze').execute(db);

  const from = '2025-09-01T00:00:00.000Z';
  const to = '2025-09-02T00:00:00.000Z';
  const r = await report(org, { from, to, groupBy: 'method,day', timeZone: 'Europe/Berlin' });
  assert.equal(json(r).data.totals.receipts.count + json(r).data.totals.pending.count, 100);
  for (const dayEnds of [
    undefined,
    daysOfRange(Date.parse(from), Date.parse(to), 'Europe/Berlin').ends.map((ms) =>
      new Date(ms).toISOString(),
    ),
  ]) {
    const plan = await planOf(
      t.database,
      summaryQuery(db, { organizationId: org.id, from, to, byMethod: true, dayEnds }),
    );
    assert.match(plan, /payments_by_completed/, plan);
    assert.match(plan, /payments_by_created/, plan);
    // No pass over the whole table: SQLite's "SCAN payments", PostgreSQL's "Seq Scan".
    assert.doesNotMatch(plan, /SCAN payments\b(?! USING)|Seq Scan on payments/, plan);
  }
});

if (TEST_ENGINE === 'postgres') {
  void test('PostgreSQL sessions plan no parallel workers (starting them cost more than the read)', async () => {
    const { rows } = await sql<{
      value: string;
    }>`select current_setting('max_parallel_workers_per_gather') as value`.execute(t.database.db);
    assert.deepEqual(rows, [{ value: '0' }]);
  });
}
