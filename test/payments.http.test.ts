// API.md §3.5, §4, §6 through HTTP on the engine under test: the seed's four payment endpoints
// (../shared/spec/seed-payments-api.txt) and the reads, their exact shapes, the defaults, every
// error code and warning, money in 3- and 0-decimal currencies, and `can` against what the
// actions then allow. Every refused request is checked to have changed nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Role } from '../src/db/schema.ts';
import { PAYMENT_ACTIONS, type PaymentAction } from '../src/payments/payments.rules.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

type Reply = Awaited<ReturnType<TestApp['call']>>;
type Body = Record<string, any>;
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** A well-formed id that exists nowhere. */
const MISSING = '01900000-0000-7000-8000-000000000000';
const ROLES: Role[] = ['viewer', 'cashier', 'manager', 'admin'];
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const AUDIT_KEYS = ['createdAt', 'createdBy', 'createdVia', 'updatedAt', 'updatedBy', 'updatedVia'];
/** The seed's item fields plus API.md §3.5's orderId, customerUid (and the receipt figures). */
const REFUND_KEYS = [
  'amount',
  'attrs',
  'can',
  'completedAt',
  'custom',
  'customerUid',
  'id',
  'invoiceId',
  'methodUid',
  'note',
  'orderId',
  'reversedAt',
  'sourcePaymentId',
  'status',
  'transactionRef',
  'type',
  ...AUDIT_KEYS,
].sort();
const RECEIPT_KEYS = [...REFUND_KEYS, 'refundedAmount', 'refundableAmount'].sort();
const METHOD_KEYS = ['code', 'id', 'locales', 'visible', ...AUDIT_KEYS].sort();

void describe('payments over HTTP', () => {
  let t: TestApp;
  let org: TestOrg; // SAR: 2 decimals
  let cash: string;
  let card: string;
  const defaultMethod = new Map<string, string>();

  // ---------------------------------------------------------------------------------------
  // Helpers: requests, fixtures, snapshots.

  const call = (o: TestOrg, role: Role, method: Method, url: string, params?: object) =>
    t.call(o, role, { method, url, ...(params !== undefined && { payload: { params } }) });

  /** A 200 in the full envelope; returns the body. */
  function ok(r: Reply): Body {
    assert.equal(r.statusCode, 200, r.body);
    const body = json(r);
    assert.deepEqual(Object.keys(body).sort(), [
      'app',
      'data',
      'instanceId',
      'requestId',
      'service',
      'warnings',
    ]);
    assert.equal(body.service, 'om');
    return body;
  }

  async function newMethod(o: TestOrg, code: string, visible = true): Promise<string> {
    const r = await call(o, 'admin', 'POST', '/v1/om/payment-methods', {
      locales: { ar: { name: `طريقة ${code}` }, en: { name: `Method ${code}` } },
      code,
      visible,
    });
    return ok(r).data.id as string;
  }

  async function setupOrg(currency = 'SAR'): Promise<TestOrg> {
    const o = await t.createOrg(currency);
    defaultMethod.set(o.id, await newMethod(o, 'cash'));
    return o;
  }

  async function newOrder(o: TestOrg, total: number): Promise<string> {
    return ok(await call(o, 'cashier', 'POST', '/v1/om/orders', { total })).data.id as string;
  }

  const pay = (o: TestOrg, params: object, role: Role = 'cashier') =>
    call(o, role, 'POST', '/v1/om/payments', params);

  async function payId(o: TestOrg, params: object, role: Role = 'cashier'): Promise<string> {
    return ok(await pay(o, params, role)).data.id as string;
  }

  /** A receipt with the organization's cash method (amount undefined: left out). */
  function receipt(
    o: TestOrg,
    orderId: string,
    amount: number | undefined,
    extra: object = {},
    role: Role = 'cashier',
  ): Promise<string> {
    return payId(
      o,
      {
        orderId,
        type: 'receipt',
        methodId: defaultMethod.get(o.id),
        ...(amount !== undefined && { amount }),
        ...extra,
      },
      role,
    );
  }

  function refund(
    o: TestOrg,
    orderId: string,
    sourcePaymentId: string | undefined,
    amount: number | undefined,
    extra: object = {},
    role: Role = 'cashier',
  ): Promise<string> {
    return payId(
      o,
      {
        orderId,
        type: 'refund',
        ...(sourcePaymentId !== undefined && { sourcePaymentId }),
        ...(amount !== undefined && { amount }),
        ...extra,
      },
      role,
    );
  }

  const patch = (o: TestOrg, id: string, params: object, role: Role = 'manager') =>
    call(o, role, 'PATCH', `/v1/om/payments/${id}`, params);
  const confirm = (o: TestOrg, id: string, role: Role = 'cashier', params?: object) =>
    call(o, role, 'PATCH', `/v1/om/payments/${id}/confirm`, params);
  const remove = (o: TestOrg, id: string, role: Role = 'cashier') =>
    call(o, role, 'DELETE', `/v1/om/payments/${id}`);

  async function getPayment(o: TestOrg, id: string, role: Role = 'manager'): Promise<Body> {
    return ok(await call(o, role, 'GET', `/v1/om/payments/${id}`)).data.payment;
  }
  async function getOrder(o: TestOrg, id: string): Promise<Body> {
    return ok(await call(o, 'manager', 'GET', `/v1/om/orders/${id}`)).data.order;
  }
  async function figures(o: TestOrg, id: string) {
    const { paidAmount, refundedAmount, pendingAmount, balanceDue } = await getOrder(o, id);
    return { paidAmount, refundedAmount, pendingAmount, balanceDue };
  }
  async function listIds(o: TestOrg, query: string): Promise<string[]> {
    const r = await call(o, 'manager', 'GET', `/v1/om/payments?${query}`);
    return ok(r).data.items.map((p: Body) => p.id);
  }
  async function closeOrder(o: TestOrg, id: string) {
    ok(await call(o, 'cashier', 'PATCH', `/v1/om/orders/${id}/close`));
  }
  async function setMaxPayments(o: TestOrg, maxPaymentsPerOrder: number) {
    const r = await t.app.inject({
      method: 'PATCH',
      url: `/v1/admin/organizations/${o.id}`,
      headers: { 'api-key': t.rootKey },
      payload: { params: { maxPaymentsPerOrder } },
    });
    ok(r);
  }

  async function eventCount(o: TestOrg): Promise<number> {
    const row = await t.database.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('organization_id', '=', o.id)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
  async function eventTypes(entityId: string): Promise<string[]> {
    const rows = await t.database.db
      .selectFrom('events')
      .select('type')
      .where('entity_id', '=', entityId)
      .orderBy('id')
      .execute();
    return rows.map((e) => e.type);
  }

  /** The order's figures, its payments as every read shows them, and the event count. */
  async function snapshot(o: TestOrg, orderId: string) {
    const list = ok(
      await call(o, 'manager', 'GET', `/v1/om/payments?orderId=${orderId}&limit=100`),
    ).data;
    const ofOrder = ok(await call(o, 'manager', 'GET', `/v1/om/orders/${orderId}/payments`)).data;
    return {
      order: await getOrder(o, orderId),
      items: list.items,
      paymentMethods: list.paymentMethods,
      ofOrder,
      events: await eventCount(o),
    };
  }

  /**
   * Sends a request that must fail with `status` and `code` (and the given details), and
   * checks that the order and its payments are exactly as before.
   */
  async function refused(
    o: TestOrg,
    orderId: string,
    send: () => Promise<Reply>,
    status: number,
    code: string,
    details: Record<string, unknown> = {},
  ): Promise<Body> {
    const beforeState = await snapshot(o, orderId);
    const r = await send();
    assert.equal(r.statusCode, status, r.body);
    const body = json(r);
    assert.deepEqual(Object.keys(body).sort(), ['error', 'requestId']);
    assert.equal(body.error.code, code, r.body);
    for (const [key, value] of Object.entries(details)) {
      assert.deepEqual(body.error.details?.[key], value, `details.${key}: ${r.body}`);
    }
    assert.deepEqual(await snapshot(o, orderId), beforeState, `nothing changed after ${r.body}`);
    return body.error;
  }

  before(async () => {
    t = await startTestApp({ rateLimitPerMinute: 0 });
    org = await setupOrg('SAR');
    cash = defaultMethod.get(org.id)!;
    card = await newMethod(org, 'card');
  });
  after(() => t.close());

  // ---------------------------------------------------------------------------------------
  // Shapes.

  void test('POST answers {id}; the payment reads back with the defaults, every field and the audit of the key', async () => {
    const orderId = await newOrder(org, 100);
    const body = ok(await pay(org, { orderId, type: 'receipt', methodId: cash, amount: 25.5 }));
    assert.deepEqual(body.warnings, []);
    assert.deepEqual(Object.keys(body.data), ['id']);
    const id = body.data.id as string;
    const p = await getPayment(org, id, 'cashier');
    assert.deepEqual(Object.keys(p).sort(), RECEIPT_KEYS);
    assert.match(p.createdAt, ISO);
    assert.equal(p.updatedAt, p.createdAt);
    assert.deepEqual(
      { ...p, createdAt: undefined, updatedAt: undefined },
      {
        id,
        orderId,
        type: 'receipt',
        status: 'pending',
        amount: 25.5,
        custom: true,
        methodUid: cash,
        customerUid: null,
        sourcePaymentId: null,
        transactionRef: null,
        attrs: {},
        invoiceId: null,
        note: null,
        completedAt: null,
        reversedAt: null,
        refundedAmount: 0,
        refundableAmount: 0,
        can: ['confirm', 'update', 'delete'],
        createdAt: undefined,
        createdVia: 'pos',
        createdBy: 'cashier@test',
        updatedAt: undefined,
        updatedVia: 'pos',
        updatedBy: 'cashier@test',
      },
    );
    assert.deepEqual(await figures(org, orderId), {
      paidAmount: 0,
      refundedAmount: 0,
      pendingAmount: 25.5,
      balanceDue: 100,
    });

    // A refund: no receipt figures, its source's method, and the source's remainder.
    ok(await confirm(org, id, 'manager'));
    const refundId = await refund(org, orderId, id, undefined);
    const r = await getPayment(org, refundId);
    assert.deepEqual(Object.keys(r).sort(), REFUND_KEYS);
    assert.deepEqual(
      {
        type: r.type,
        status: r.status,
        amount: r.amount,
        custom: r.custom,
        methodUid: r.methodUid,
        sourcePaymentId: r.sourcePaymentId,
        completedAt: r.completedAt,
        can: r.can,
      },
      {
        type: 'refund',
        status: 'pending',
        amount: 25.5,
        custom: false,
        methodUid: cash,
        sourcePaymentId: id,
        completedAt: null,
        can: ['confirm', 'update', 'delete'],
      },
    );
    const source = await getPayment(org, id);
    assert.equal(source.status, 'complete');
    assert.match(source.completedAt, ISO);
    assert.equal(source.updatedBy, 'manager@test');
    assert.equal(source.refundedAmount, 0, 'only complete refunds count as refunded');
    assert.equal(source.refundableAmount, 0, 'the pending refund reserves the rest');
  });

  void test("the seed's create example is accepted as written, with real ids", async () => {
    // A fresh organization, so the seed's literal "text" transactionRef is free.
    const seed = await setupOrg('SAR');
    const orderId = await newOrder(seed, 10);
    const methodId = defaultMethod.get(seed.id)!;
    const invoiceId = ok(await call(seed, 'manager', 'POST', '/v1/om/invoices', { orderId })).data
      .id as string;
    const earlier = await receipt(seed, orderId, 5, { status: 'complete' });
    const example = {
      orderId,
      type: 'receipt',
      custom: true,
      amount: 1,
      methodId,
      customerUid: 'text',
      status: 'complete',
      sourcePaymentId: earlier,
      transactionRef: 'text',
      attrs: {},
      invoiceId,
      note: 'text',
    };
    // The seed pairs type "receipt" with a sourcePaymentId; API.md §3.5 gives a source to
    // refunds only, so exactly that combination is refused...
    await refused(seed, orderId, () => pay(seed, example), 400, 'InvalidParameter', {
      field: 'sourcePaymentId',
    });
    // ...and the example is accepted once the rules are met: as a receipt without that one
    // field, and unchanged but for its type as a refund of the earlier receipt.
    const asReceipt: Partial<typeof example> = { ...example };
    delete asReceipt.sourcePaymentId;
    const receiptId = ok(await pay(seed, asReceipt)).data.id as string;
    const refundId = ok(await pay(seed, { ...example, type: 'refund' })).data.id as string;
    for (const [id, type, sourcePaymentId] of [
      [receiptId, 'receipt', null],
      [refundId, 'refund', earlier],
    ] as const) {
      const p = await getPayment(seed, id);
      assert.deepEqual(
        {
          orderId: p.orderId,
          type: p.type,
          custom: p.custom,
          amount: p.amount,
          methodUid: p.methodUid,
          customerUid: p.customerUid,
          status: p.status,
          sourcePaymentId: p.sourcePaymentId,
          transactionRef: p.transactionRef,
          attrs: p.attrs,
          invoiceId: p.invoiceId,
          note: p.note,
        },
        {
          orderId,
          type,
          custom: true,
          amount: 1,
          methodUid: methodId,
          customerUid: 'text',
          status: 'complete',
          sourcePaymentId,
          transactionRef: 'text',
          attrs: {},
          invoiceId,
          note: 'text',
        },
      );
      assert.match(p.completedAt, ISO);
    }
    assert.deepEqual(await figures(seed, orderId), {
      paidAmount: 5,
      refundedAmount: 1,
      pendingAmount: 0,
      balanceDue: 5,
    });
  });

  void test("the seed's update and confirm examples are accepted as written, with real ids", async () => {
    // The update example carries a sourcePaymentId, so it is a refund's update.
    async function refundToUpdate(status: 'pending' | 'complete') {
      const o = await setupOrg('SAR');
      const orderId = await newOrder(o, 10);
      const methodId = defaultMethod.get(o.id)!;
      const source = await receipt(o, orderId, 5, { status: 'complete' });
      const id = await refund(o, orderId, source, 3, { status });
      return { o, orderId, methodId, source, id };
    }
    const example = (x: Awaited<ReturnType<typeof refundToUpdate>>) => ({
      id: x.id,
      orderId: x.orderId,
      amount: 1,
      methodId: x.methodId,
      custom: true,
      correction: true,
      customerUid: 'text',
      status: 'complete',
      sourcePaymentId: x.source,
      transactionRef: 'text',
      attrs: {},
      note: 'text',
    });

    // On a pending refund (any field may change; the cashier's update and confirm in one).
    const pending = await refundToUpdate('pending');
    const r1 = ok(await patch(pending.o, pending.id, example(pending), 'cashier'));
    assert.deepEqual(r1.data, { success: true });
    // As a manager's correction of a complete refund.
    const complete = await refundToUpdate('complete');
    const r2 = ok(await patch(complete.o, complete.id, example(complete), 'manager'));
    assert.deepEqual(r2.data, { success: true });
    assert.deepEqual(
      r2.warnings.map((w: Body) => w.code),
      ['CORRECTION_RECORDED'],
    );
    for (const x of [pending, complete]) {
      const p = await getPayment(x.o, x.id);
      assert.deepEqual(
        [p.status, p.amount, p.custom, p.customerUid, p.transactionRef, p.note, p.attrs],
        ['complete', 1, true, 'text', 'text', 'text', {}],
      );
      assert.equal(p.sourcePaymentId, x.source);
      assert.match(p.completedAt, ISO);
      assert.deepEqual(await figures(x.o, x.orderId), {
        paidAmount: 4,
        refundedAmount: 1,
        pendingAmount: 0,
        balanceDue: 6,
      });
    }

    // The confirm example.
    const c = await setupOrg('SAR');
    const orderId = await newOrder(c, 10);
    const id = await receipt(c, orderId, 4);
    const r3 = ok(
      await confirm(c, id, 'cashier', {
        id,
        orderId,
        customerUid: 'text',
        transactionRef: 'text',
        attrs: {},
      }),
    );
    assert.deepEqual(Object.keys(r3.data).sort(), ['items', 'paymentMethods']);
    const p = await getPayment(c, id);
    assert.deepEqual(
      [p.status, p.customerUid, p.transactionRef, p.attrs],
      ['complete', 'text', 'text', {}],
    );
    assert.match(p.completedAt, ISO);
  });

  void test("DELETE and confirm answer the order's remaining payments and their methods", async () => {
    const orderId = await newOrder(org, 100);
    const a = await receipt(org, orderId, 10, { status: 'complete' });
    const gone = await receipt(org, orderId, 3, { status: 'complete' });
    ok(await patch(org, gone, { status: 'reversed' }));
    const b = await receipt(org, orderId, 20, { methodId: card });
    const c = await receipt(org, orderId, 5);
    const f = await refund(org, orderId, a, 4);
    const check = (data: Body, expected: [string, string][]) => {
      assert.deepEqual(Object.keys(data).sort(), ['items', 'paymentMethods']);
      assert.deepEqual(
        data.items.map((p: Body) => [p.id, p.status]),
        expected,
        'newest first, every status, deleted ones excluded',
      );
      for (const p of data.items) {
        assert.deepEqual(Object.keys(p).sort(), p.type === 'receipt' ? RECEIPT_KEYS : REFUND_KEYS);
        assert.equal(p.orderId, orderId);
      }
      assert.deepEqual(data.paymentMethods.map((m: Body) => m.id).sort(), [cash, card].sort());
      for (const m of data.paymentMethods) {
        assert.deepEqual(Object.keys(m).sort(), METHOD_KEYS);
        assert.deepEqual(Object.keys(m.locales).sort(), ['ar', 'en']);
        assert.deepEqual(Object.keys(m.locales.ar).sort(), ['description', 'name']);
        assert.equal(m.visible, true);
      }
    };

    const deleted = ok(await remove(org, c));
    check(deleted.data, [
      [f, 'pending'],
      [b, 'pending'],
      [gone, 'reversed'],
      [a, 'complete'],
    ]);
    const confirmed = ok(await confirm(org, b));
    check(confirmed.data, [
      [f, 'pending'],
      [b, 'complete'],
      [gone, 'reversed'],
      [a, 'complete'],
    ]);
    // The same view as the order's own payments read, for the same caller.
    assert.deepEqual(
      confirmed.data,
      ok(await call(org, 'cashier', 'GET', `/v1/om/orders/${orderId}/payments`)).data,
    );
    const item = confirmed.data.items.find((p: Body) => p.id === b);
    assert.equal(item.updatedBy, 'cashier@test');
    assert.match(item.completedAt, ISO);
    assert.deepEqual(await figures(org, orderId), {
      paidAmount: 30,
      refundedAmount: 0,
      pendingAmount: 0,
      balanceDue: 70,
    });

    // Deleting the last payment of an order answers empty lists.
    const lone = await newOrder(org, 5);
    const only = await receipt(org, lone, 5);
    assert.deepEqual(ok(await remove(org, only)).data, { items: [], paymentMethods: [] });
  });

  void test('Prefer: return=minimal: confirm and DELETE answer {success: true}, with the same effect and warnings', async () => {
    const minimal = (id: string, method: 'PATCH' | 'DELETE', prefer: string, key?: string) =>
      t.call(org, 'cashier', {
        method,
        url: method === 'PATCH' ? `/v1/om/payments/${id}/confirm` : `/v1/om/payments/${id}`,
        headers: { prefer, ...(key !== undefined && { 'idempotency-key': key }) },
      });
    const orderId = await newOrder(org, 50);
    const a = await receipt(org, orderId, 30);
    const b = await receipt(org, orderId, 20);

    const first = ok(await minimal(a, 'PATCH', 'return=minimal', 'min-1'));
    assert.deepEqual(first.data, { success: true });
    assert.equal((await getPayment(org, a)).status, 'complete');
    // Other preferences beside it, in any case of the token, are ignored.
    const second = ok(await minimal(b, 'PATCH', 'respond-async, RETURN=minimal; x=1'));
    assert.deepEqual(second.data, { success: true });
    assert.deepEqual(
      second.warnings.map((w: Body) => w.code),
      ['ORDER_FULLY_PAID'],
      'warnings as without the header',
    );
    const again = ok(await minimal(b, 'PATCH', 'return=minimal'));
    assert.deepEqual(again.data, { success: true });
    assert.deepEqual(
      again.warnings.map((w: Body) => w.code),
      ['ALREADY_COMPLETE'],
    );
    // A retry under the same key replays the first answer, byte for byte.
    const replay = await minimal(a, 'PATCH', 'return=minimal', 'min-1');
    assert.equal(replay.body, JSON.stringify(first));
    // return=representation (or anything else) is the contract's answer.
    const full = ok(await minimal(a, 'PATCH', 'return=representation'));
    assert.deepEqual(Object.keys(full.data).sort(), ['items', 'paymentMethods']);
    assert.deepEqual(await figures(org, orderId), {
      paidAmount: 50,
      refundedAmount: 0,
      pendingAmount: 0,
      balanceDue: 0,
    });

    const other = await newOrder(org, 10);
    const d = await receipt(org, other, 4);
    const e = await receipt(org, other, 5);
    const deleted = ok(await minimal(d, 'DELETE', 'return=minimal'));
    assert.deepEqual(deleted.data, { success: true });
    assert.deepEqual(await listIds(org, `orderId=${other}`), [e]);
    // Refusals are refusals either way, and change nothing.
    ok(await confirm(org, e));
    await refused(org, other, () => minimal(e, 'DELETE', 'return=minimal'), 400, 'INVALID_STATUS');
  });

  void test('PATCH answers {success: true}: metadata of pending and complete payments, attrs merged', async () => {
    const orderId = await newOrder(org, 100);
    const id = await receipt(org, orderId, 10, { attrs: { till: 3 }, customerUid: 'c-1' });
    let r = ok(await patch(org, id, { note: 'first', attrs: { lane: 'b' } }, 'cashier'));
    assert.deepEqual(r.data, { success: true });
    assert.deepEqual(r.warnings, []);
    let p = await getPayment(org, id);
    assert.deepEqual([p.note, p.attrs, p.customerUid], ['first', { till: 3, lane: 'b' }, 'c-1']);
    assert.equal(p.updatedBy, 'cashier@test');
    r = ok(
      await patch(
        org,
        id,
        { amount: 12, methodId: card, customerUid: null, note: null },
        'cashier',
      ),
    );
    p = await getPayment(org, id);
    assert.deepEqual(
      [p.amount, p.methodUid, p.customerUid, p.note, p.custom],
      [12, card, null, null, true],
    );
    assert.equal((await figures(org, orderId)).pendingAmount, 12);
    ok(await confirm(org, id, 'cashier', { attrs: { gateway: 'x' } }));
    assert.deepEqual((await getPayment(org, id)).attrs, { till: 3, lane: 'b', gateway: 'x' });
    r = ok(await patch(org, id, { note: 'after', transactionRef: 'meta-1', customerUid: 'c-2' }));
    assert.deepEqual(r.warnings, [], 'metadata is not a correction');
    p = await getPayment(org, id);
    assert.deepEqual([p.note, p.transactionRef, p.customerUid], ['after', 'meta-1', 'c-2']);
    assert.equal(p.updatedBy, 'manager@test');
    // An unchanged body is a success that records nothing.
    const events = await eventCount(org);
    ok(await patch(org, id, { note: 'after' }));
    assert.equal(await eventCount(org), events);
  });

  void test('GET /payments: every filter, newest first, paging without skips or repeats', async () => {
    const o = await setupOrg('SAR');
    const oCash = defaultMethod.get(o.id)!;
    const oCard = await newMethod(o, 'card');
    const o1 = await newOrder(o, 1000);
    const o2 = await newOrder(o, 1000);
    const invoice = ok(await call(o, 'manager', 'POST', '/v1/om/invoices', { orderId: o1 })).data
      .id as string;
    interface Made {
      id: string;
      orderId: string;
      type: string;
      status: string;
      methodId: string;
      customerUid: string | null;
      invoiceId: string | null;
    }
    const made: Made[] = [];
    async function add(p: Omit<Made, 'id'>, extra: object = {}) {
      const id = await payId(o, {
        orderId: p.orderId,
        type: p.type,
        status: p.status,
        ...(p.type === 'receipt' && { methodId: p.methodId }),
        ...(p.customerUid !== null && { customerUid: p.customerUid }),
        ...(p.invoiceId !== null && { invoiceId: p.invoiceId }),
        amount: 1,
        ...extra,
      });
      made.push({ id, ...p });
      return id;
    }
    const none = { customerUid: null, invoiceId: null };
    await add({
      orderId: o1,
      type: 'receipt',
      status: 'pending',
      methodId: oCash,
      customerUid: 'alice',
      invoiceId: invoice,
    });
    const r2 = await add({
      orderId: o1,
      type: 'receipt',
      status: 'complete',
      methodId: oCard,
      customerUid: 'bob',
      invoiceId: null,
    });
    await add({ orderId: o1, type: 'receipt', status: 'complete', methodId: oCash, ...none });
    await add(
      { orderId: o1, type: 'refund', status: 'complete', methodId: oCard, ...none },
      { sourcePaymentId: r2 },
    );
    await add({ orderId: o2, type: 'receipt', status: 'pending', methodId: oCard, ...none });
    const r5 = await add({
      orderId: o2,
      type: 'receipt',
      status: 'complete',
      methodId: oCash,
      customerUid: 'alice',
      invoiceId: null,
    });
    await add(
      { orderId: o2, type: 'refund', status: 'pending', methodId: oCash, ...none },
      { sourcePaymentId: r5 },
    );
    for (let i = 0; i < 18; i++) {
      await add({
        orderId: o2,
        type: 'receipt',
        status: 'complete',
        methodId: i % 2 ? oCash : oCard,
        ...none,
      });
    }
    assert.equal(made.length, 25);
    const newestFirst = [...made].reverse();
    const expect = (pred: (p: Made) => boolean) => newestFirst.filter(pred).map((p) => p.id);
    const list = async (query: string) => {
      const r = await call(o, 'viewer', 'GET', `/v1/om/payments?${query}`);
      return ok(r).data;
    };

    // Shape, default limit.
    const first = await list('');
    assert.deepEqual(Object.keys(first).sort(), ['items', 'next', 'paymentMethods']);
    assert.equal(first.items.length, 20);
    assert.equal(typeof first.next, 'string');
    assert.deepEqual(
      first.items.map((p: Body) => p.id),
      newestFirst.slice(0, 20).map((p) => p.id),
    );
    for (const p of first.items)
      assert.deepEqual(Object.keys(p).sort(), p.type === 'receipt' ? RECEIPT_KEYS : REFUND_KEYS);
    assert.deepEqual(first.paymentMethods.map((m: Body) => m.id).sort(), [oCash, oCard].sort());

    // Filters, alone and together.
    const cases: [string, (p: Made) => boolean][] = [
      [`orderId=${o1}`, (p) => p.orderId === o1],
      ['type=refund', (p) => p.type === 'refund'],
      ['status=pending', (p) => p.status === 'pending'],
      [`methodId=${oCard}`, (p) => p.methodId === oCard],
      ['customerUid=alice', (p) => p.customerUid === 'alice'],
      [`invoiceId=${invoice}`, (p) => p.invoiceId === invoice],
      [
        `orderId=${o2}&status=pending&type=receipt`,
        (p) => p.orderId === o2 && p.status === 'pending' && p.type === 'receipt',
      ],
      [`orderId=${o1}&methodId=${oCard}`, (p) => p.orderId === o1 && p.methodId === oCard],
      [`orderId=${MISSING}`, () => false],
    ];
    for (const [query, pred] of cases) {
      const data = await list(`${query}&limit=100`);
      assert.deepEqual(
        data.items.map((p: Body) => p.id),
        expect(pred),
        query,
      );
      assert.equal(data.next, null, query);
      const methods = new Set(data.items.map((p: Body) => p.methodUid));
      assert.deepEqual(
        data.paymentMethods.map((m: Body) => m.id).sort(),
        [...methods].sort(),
        `${query}: the methods the items use`,
      );
    }

    // Created range: createdFrom inclusive, createdTo exclusive, on the server's timestamps.
    const all: Body[] = (await list('limit=100')).items;
    const pivot = all[12]!.createdAt as string;
    assert.deepEqual(
      (await list(`limit=100&createdFrom=${pivot}`)).items.map((p: Body) => p.id),
      all.filter((p) => p.createdAt >= pivot).map((p) => p.id),
    );
    assert.deepEqual(
      (await list(`limit=100&createdTo=${pivot}`)).items.map((p: Body) => p.id),
      all.filter((p) => p.createdAt < pivot).map((p) => p.id),
    );
    assert.deepEqual((await list('createdFrom=2999-01-01T00:00:00Z')).items, []);
    assert.equal((await list('limit=100&createdTo=2999-01-01T00:00:00%2B03:00')).items.length, 25);

    // Paging, then paging again with every timestamp equal (the id breaks the tie).
    async function pageAll(limit: number) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const data: Body = await list(
          `limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        assert.ok(data.items.length <= limit);
        seen.push(...data.items.map((p: Body) => p.id));
        cursor = data.next;
        pages++;
      } while (cursor !== null && pages < 50);
      return { seen, pages };
    }
    let paged = await pageAll(7);
    assert.equal(paged.pages, 4);
    assert.deepEqual(
      paged.seen,
      newestFirst.map((p) => p.id),
    );
    await t.database.db
      .updateTable('payments')
      .set({ created_at: '2026-01-01T00:00:00.000Z' })
      .where('organization_id', '=', o.id)
      .execute();
    paged = await pageAll(4);
    assert.equal(paged.pages, 7);
    assert.equal(new Set(paged.seen).size, 25);
    assert.deepEqual(
      paged.seen,
      made
        .map((p) => p.id)
        .sort()
        .reverse(),
    );

    for (const bad of [
      'type=gift',
      'status=done',
      'limit=0',
      'limit=101',
      'cursor=nonsense',
      'createdFrom=yesterday',
      'color=red',
    ]) {
      const r = await call(o, 'viewer', 'GET', `/v1/om/payments?${bad}`);
      assert.equal(r.statusCode, 400, bad);
      assert.equal(json(r).error.code, 'InvalidParameter', bad);
      assert.ok(json(r).error.details.field, bad);
    }
  });

  void test('GET /payments/{uid} answers {payment}; unknown ids are 404 NOT_FOUND on every payment route', async () => {
    const orderId = await newOrder(org, 10);
    const id = await receipt(org, orderId, 3);
    const body = ok(await call(org, 'viewer', 'GET', `/v1/om/payments/${id}`));
    assert.deepEqual(Object.keys(body.data), ['payment']);
    assert.equal(body.data.payment.id, id);
    assert.deepEqual(body.data.payment.can, [], 'a viewer may do nothing');
    const routes: [Method, string, object | undefined][] = [
      ['GET', '', undefined],
      ['GET', '/history', undefined],
      ['PATCH', '', { note: 'x' }],
      ['PATCH', '/confirm', undefined],
      ['DELETE', '', undefined],
    ];
    for (const unknown of [MISSING, 'not-a-payment', 'x'.repeat(200)]) {
      for (const [method, suffix, params] of routes) {
        const error = await refused(
          org,
          orderId,
          () => call(org, 'admin', method, `/v1/om/payments/${unknown}${suffix}`, params),
          404,
          'NOT_FOUND',
        );
        assert.deepEqual(error, { code: 'NOT_FOUND', message: 'Not found.' });
      }
    }
  });

  void test('history: the change records oldest first, with before/after values', async () => {
    const orderId = await newOrder(org, 50);
    const created = ok(await pay(org, { orderId, type: 'receipt', methodId: cash, amount: 10 }));
    const id = created.data.id as string;
    ok(await patch(org, id, { note: 'n1' }, 'cashier'));
    ok(await confirm(org, id));
    const corrected = ok(await patch(org, id, { amount: 8, correction: true }));
    assert.deepEqual(
      corrected.warnings.map((w: Body) => w.code),
      ['CORRECTION_RECORDED'],
    );
    ok(await patch(org, id, { status: 'reversed' }));
    const body = ok(await call(org, 'viewer', 'GET', `/v1/om/payments/${id}/history`));
    assert.deepEqual(Object.keys(body.data), ['items']);
    const items: Body[] = body.data.items;
    assert.deepEqual(
      items.map((e) => e.type),
      [
        'payment.created',
        'payment.updated',
        'payment.confirmed',
        'payment.corrected',
        'payment.reversed',
      ],
    );
    assert.deepEqual(
      items.map((e) => e.createdAt),
      items.map((e) => e.createdAt as string).sort(),
      'oldest first',
    );
    for (const e of items) {
      assert.deepEqual(Object.keys(e).sort(), [
        'by',
        'changes',
        'createdAt',
        'data',
        'id',
        'requestId',
        'type',
        'via',
      ]);
      assert.equal(e.via, 'pos');
      assert.equal(e.data.id, id);
    }
    assert.equal(items[0]!.changes, null);
    assert.equal(items[0]!.requestId, created.requestId, 'the request that made the change');
    assert.equal(items[0]!.by, 'cashier@test');
    assert.deepEqual(items[1]!.changes.note, { before: null, after: 'n1' });
    assert.deepEqual(items[2]!.changes.status, { before: 'pending', after: 'complete' });
    assert.equal(items[3]!.by, 'manager@test');
    assert.deepEqual(items[3]!.changes.amount, { before: 10, after: 8 });
    assert.equal(items[3]!.data.amount, 8);
    assert.deepEqual(items[4]!.changes.status, { before: 'complete', after: 'reversed' });
    assert.equal(items[4]!.changes.reversedAt.before, null);
    assert.match(items[4]!.changes.reversedAt.after, ISO);
    assert.deepEqual(await figures(org, orderId), {
      paidAmount: 0,
      refundedAmount: 0,
      pendingAmount: 0,
      balanceDue: 50,
    });
  });

  // ---------------------------------------------------------------------------------------
  // Defaults.

  void test('defaults: pending; an omitted amount takes the remainder (custom false); custom as sent', async () => {
    const orderId = await newOrder(org, 100);
    const pending = await receipt(org, orderId, 30);
    await receipt(org, orderId, 20, { status: 'complete' });
    const rest = await receipt(org, orderId, undefined);
    let p = await getPayment(org, rest);
    assert.deepEqual([p.status, p.amount, p.custom], ['pending', 50, false]);
    assert.deepEqual(await figures(org, orderId), {
      paidAmount: 20,
      refundedAmount: 0,
      pendingAmount: 80,
      balanceDue: 80,
    });
    // Nothing left: an omitted amount is LIMIT_REACHED.
    await refused(
      org,
      orderId,
      () => pay(org, { orderId, type: 'receipt', methodId: cash }),
      400,
      'LIMIT_REACHED',
      { field: 'amount', limit: 'orderTotal', available: 0 },
    );
    ok(await remove(org, rest));
    // A given amount is custom unless the caller says otherwise.
    const notCustom = await receipt(org, orderId, 10, { custom: false });
    assert.equal((await getPayment(org, notCustom)).custom, false);
    const customOmitted = await receipt(org, orderId, undefined, { custom: true });
    p = await getPayment(org, customOmitted);
    assert.deepEqual([p.amount, p.custom], [40, true]);

    // Refunds: an omitted amount takes the source's refundable remainder (pending refunds
    // reserve their share), and the source's method unless one is given.
    ok(await confirm(org, pending));
    await refund(org, orderId, pending, 5, { methodId: card });
    const remainder = await refund(org, orderId, pending, undefined);
    p = await getPayment(org, remainder);
    assert.deepEqual(
      [p.type, p.status, p.amount, p.custom, p.methodUid, p.sourcePaymentId],
      ['refund', 'pending', 25, false, cash, pending],
    );
    ok(await confirm(org, notCustom));
    const withCard = await refund(org, orderId, notCustom, 1, { methodId: card });
    p = await getPayment(org, withCard);
    assert.deepEqual([p.methodUid, p.custom], [card, true]);
    await refused(
      org,
      orderId,
      () => pay(org, { orderId, type: 'refund', sourcePaymentId: pending }),
      400,
      'LIMIT_REACHED',
      { field: 'amount', available: 0 },
    );
  });

  // ---------------------------------------------------------------------------------------
  // Errors: exact codes, details.field, and nothing changed.

  void test('INVALID_STATUS: create as reversed, bad sources, delete complete, confirm reversed, reverse with refunds, money change without correction', async () => {
    const orderId = await newOrder(org, 100);
    const other = await newOrder(org, 100);
    const done = await receipt(org, orderId, 40, { status: 'complete' });
    const waiting = await receipt(org, orderId, 10);
    const foreignDone = await receipt(org, other, 10, { status: 'complete' });
    const gone = await receipt(org, orderId, 5, { status: 'complete' });
    ok(await patch(org, gone, { status: 'reversed' }));
    const aRefund = await refund(org, orderId, done, 1, { status: 'complete' });
    const inv = (send: () => Promise<Reply>, details: Record<string, unknown> = {}) =>
      refused(org, orderId, send, 400, 'INVALID_STATUS', details);

    await inv(
      () => pay(org, { orderId, type: 'receipt', methodId: cash, amount: 1, status: 'reversed' }),
      { field: 'status' },
    );
    for (const source of [waiting, aRefund, gone, foreignDone]) {
      await inv(() => pay(org, { orderId, type: 'refund', sourcePaymentId: source, amount: 1 }), {
        field: 'sourcePaymentId',
      });
    }
    for (const role of ['cashier', 'manager'] as const) await inv(() => remove(org, done, role));
    for (const role of ['cashier', 'manager'] as const) await inv(() => confirm(org, gone, role));
    await inv(() => patch(org, gone, { status: 'complete' }));
    await inv(() => patch(org, done, { status: 'pending' }), { field: 'status' });
    // A receipt with refunds (complete, then also pending ones) cannot be reversed.
    const withComplete = await inv(() => patch(org, done, { status: 'reversed' }));
    const pendingRefund = await refund(org, orderId, done, 2);
    const withBoth = await inv(() => patch(org, done, { status: 'reversed' }));
    // Money fields of a complete payment change only with correction: true.
    for (const params of [{ amount: 39 }, { methodId: card }, { amount: 39, correction: false }]) {
      await inv(() => patch(org, done, params));
    }
    await inv(() => patch(org, aRefund, { amount: 0.5 }));
    // §6.1: the refusal to reverse a receipt with refunds names them in its details.
    const named = (error: Body, ids: string[]) =>
      ids.every((id) => JSON.stringify(error.details ?? {}).includes(id));
    assert.ok(named(withComplete, [aRefund]), JSON.stringify(withComplete));
    assert.ok(named(withBoth, [aRefund, pendingRefund]), JSON.stringify(withBoth));
  });

  void test('INVOICE_CLOSED and INVOICE_NOT_FOUND (unknown, or an invoice of another order)', async () => {
    const orderId = await newOrder(org, 100);
    const other = await newOrder(org, 100);
    const mine = ok(await call(org, 'manager', 'POST', '/v1/om/invoices', { orderId })).data.id;
    const theirs = ok(await call(org, 'manager', 'POST', '/v1/om/invoices', { orderId: other }))
      .data.id;
    const closed = ok(await call(org, 'manager', 'POST', '/v1/om/invoices', { orderId })).data.id;
    ok(await call(org, 'manager', 'PATCH', `/v1/om/invoices/${closed}/close`));
    const base = { orderId, type: 'receipt', methodId: cash, amount: 1 };
    await refused(
      org,
      orderId,
      () => pay(org, { ...base, invoiceId: closed }),
      400,
      'INVOICE_CLOSED',
      { field: 'invoiceId' },
    );
    for (const invoiceId of [MISSING, theirs]) {
      await refused(
        org,
        orderId,
        () => pay(org, { ...base, invoiceId }),
        400,
        'INVOICE_NOT_FOUND',
        { field: 'invoiceId' },
      );
    }
    const id = await payId(org, { ...base, invoiceId: mine });
    assert.equal((await getPayment(org, id)).invoiceId, mine);
  });

  void test('InvalidParameter: unknown property, no coercion, precision, zero, negative, unknown source, missing method, mismatched ids', async () => {
    const orderId = await newOrder(org, 100);
    const done = await receipt(org, orderId, 40, { status: 'complete' });
    const waiting = await receipt(org, orderId, 10);
    const base = { orderId, type: 'receipt', methodId: cash, amount: 10 };
    const bad = (send: () => Promise<Reply>, field: string) =>
      refused(org, orderId, send, 400, 'InvalidParameter', { field });

    const creates: [object, string][] = [
      [{ ...base, color: 'red' }, 'color'],
      [{ ...base, amount: '10' }, 'amount'],
      [{ ...base, amount: 10.005 }, 'amount'],
      [{ ...base, amount: 0 }, 'amount'],
      [{ ...base, amount: -5 }, 'amount'],
      [{ ...base, amount: 1e10 }, 'amount'],
      [{ ...base, custom: 'yes' }, 'custom'],
      [{ ...base, type: 'gift' }, 'type'],
      [{ type: 'receipt', methodId: cash, amount: 1 }, 'orderId'],
      [{ orderId, methodId: cash, amount: 1 }, 'type'],
      [{ orderId, type: 'receipt', amount: 1 }, 'methodId'],
      [{ ...base, sourcePaymentId: done }, 'sourcePaymentId'],
      [{ orderId, type: 'refund', sourcePaymentId: MISSING, amount: 1 }, 'sourcePaymentId'],
      [{ orderId, type: 'refund', sourcePaymentId: MISSING }, 'sourcePaymentId'],
    ];
    for (const [params, field] of creates) await bad(() => pay(org, params), field);
    // A refund without a source (a manager's) needs an amount and a method.
    await bad(() => pay(org, { orderId, type: 'refund', methodId: cash }, 'manager'), 'amount');
    await bad(() => pay(org, { orderId, type: 'refund', amount: 1 }, 'manager'), 'methodId');
    // Bodies are wrapped in params, and nothing else.
    const raw = (payload: unknown) =>
      t.call(org, 'cashier', {
        method: 'POST',
        url: '/v1/om/payments',
        payload: payload as object,
      });
    await bad(() => raw({ ...base }), 'params');
    await bad(() => raw({ params: base, extra: 1 }), 'extra');

    const patches: [string, object, string][] = [
      [waiting, { id: done }, 'id'],
      [waiting, { orderId: await newOrder(org, 1) }, 'orderId'],
      [waiting, { color: 'red' }, 'color'],
      [waiting, { amount: '10' }, 'amount'],
      [waiting, { amount: 10.001 }, 'amount'],
      [waiting, { amount: 0 }, 'amount'],
      [waiting, { sourcePaymentId: done }, 'sourcePaymentId'],
      [done, { id: waiting, note: 'x' }, 'id'],
      [done, { status: 'reversed', amount: 1, correction: true }, 'status'],
    ];
    for (const [id, params, field] of patches) await bad(() => patch(org, id, params), field);
    await bad(() => confirm(org, waiting, 'cashier', { id: done }), 'id');
    await bad(() => confirm(org, waiting, 'cashier', { orderId: MISSING }), 'orderId');
    await bad(() => confirm(org, waiting, 'cashier', { status: 'complete' }), 'status');
    // A refund moved to a source that does not exist.
    const r = await refund(org, orderId, done, 1);
    await bad(() => patch(org, r, { sourcePaymentId: MISSING }), 'sourcePaymentId');
  });

  void test('LIMIT_REACHED: over the balance, over the source counting pending refunds, over what the order net received', async () => {
    const orderId = await newOrder(org, 100);
    const a = await receipt(org, orderId, 50, { status: 'complete' });
    await receipt(org, orderId, 20, { status: 'complete' });
    const waiting = await receipt(org, orderId, 20);
    const limit = (send: () => Promise<Reply>, details: Record<string, unknown>) =>
      refused(org, orderId, send, 400, 'LIMIT_REACHED', { field: 'amount', ...details });

    // Receipts: paid 70 + pending 20 leaves 10.
    await limit(() => pay(org, { orderId, type: 'receipt', methodId: cash, amount: 10.01 }), {
      limit: 'orderTotal',
      available: 10,
    });
    await limit(() => patch(org, waiting, { amount: 30.01 }, 'cashier'), {
      limit: 'orderTotal',
      available: 30,
    });
    // Refunds against a: 50 − (pending 15 + complete 10) leaves 25.
    await refund(org, orderId, a, 15);
    await refund(org, orderId, a, 10, { status: 'complete' });
    await limit(() => pay(org, { orderId, type: 'refund', sourcePaymentId: a, amount: 25.01 }), {
      limit: 'sourceRefundable',
      available: 25,
    });
    assert.equal((await getPayment(org, a)).refundableAmount, 25);
    // What the order net received: paid 60, less pending refunds 15, less a manager's pending
    // refund without a source of 30, leaves 15, below a's own 25.
    await refund(org, orderId, undefined, 30, { methodId: cash }, 'manager');
    assert.equal((await getPayment(org, a)).refundableAmount, 15);
    await limit(() => pay(org, { orderId, type: 'refund', sourcePaymentId: a, amount: 15.01 }), {
      limit: 'orderRefundable',
      available: 15,
    });
    await limit(
      () => pay(org, { orderId, type: 'refund', methodId: cash, amount: 15.01 }, 'manager'),
      { limit: 'orderRefundable', available: 15 },
    );
    const last = await refund(org, orderId, a, undefined);
    assert.equal((await getPayment(org, last)).amount, 15);
    await limit(() => pay(org, { orderId, type: 'refund', sourcePaymentId: a }), { available: 0 });
    // a's refunds (pending and complete) now hold 40 of its 50: a correction cannot go below.
    await limit(() => patch(org, a, { amount: 39.99, correction: true }), {
      limit: 'refundedAmount',
    });
    assert.deepEqual(await figures(org, orderId), {
      paidAmount: 60,
      refundedAmount: 10,
      pendingAmount: 20,
      balanceDue: 40,
    });
  });

  void test('LIMIT_REACHED on the count: maxPaymentsPerOrder, with details.limit and details.available', async () => {
    const o = await setupOrg('SAR');
    await setMaxPayments(o, 3);
    const orderId = await newOrder(o, 100);
    const a = await receipt(o, orderId, 10, { status: 'complete' });
    await receipt(o, orderId, 10);
    const third = await receipt(o, orderId, 10);
    const receiptError = await refused(
      o,
      orderId,
      () => pay(o, { orderId, type: 'receipt', methodId: defaultMethod.get(o.id), amount: 1 }),
      400,
      'LIMIT_REACHED',
      { limit: 'maxPaymentsPerOrder' },
    );
    const refundError = await refused(
      o,
      orderId,
      () => pay(o, { orderId, type: 'refund', sourcePaymentId: a, amount: 1 }),
      400,
      'LIMIT_REACHED',
      { limit: 'maxPaymentsPerOrder' },
    );
    assert.ok(!(await getPayment(o, a)).can.includes('refund'), 'no refund offered at the limit');
    // A reversed payment still counts; a deleted one frees its place.
    ok(await remove(o, third));
    assert.ok((await getPayment(o, a)).can.includes('refund'));
    await refund(o, orderId, a, 1);
    await setMaxPayments(o, 100);
    await receipt(o, orderId, 1);
    // API.md §6.2: LIMIT_REACHED carries details.limit and details.available.
    assert.equal(receiptError.details.available, 0, JSON.stringify(receiptError));
    assert.equal(refundError.details.available, 0, JSON.stringify(refundError));
  });

  void test('MethodNotFound: unknown or hidden methods, on create and on update; existing payments keep theirs', async () => {
    const orderId = await newOrder(org, 100);
    const hidden = await newMethod(org, 'voucher');
    const used = await receipt(org, orderId, 5, { methodId: hidden });
    ok(await call(org, 'admin', 'PATCH', `/v1/om/payment-methods/${hidden}`, { visible: false }));
    const waiting = await receipt(org, orderId, 5);
    const done = await receipt(org, orderId, 5, { status: 'complete' });
    for (const methodId of [MISSING, hidden]) {
      const mnf = (send: () => Promise<Reply>) =>
        refused(org, orderId, send, 400, 'MethodNotFound', { field: 'methodId' });
      await mnf(() => pay(org, { orderId, type: 'receipt', methodId, amount: 1 }));
      await mnf(() =>
        pay(org, { orderId, type: 'refund', sourcePaymentId: done, methodId, amount: 1 }),
      );
      await mnf(() => patch(org, waiting, { methodId }, 'cashier'));
      await mnf(() => patch(org, done, { methodId, correction: true }));
    }
    const p = await getPayment(org, used);
    assert.equal(p.methodUid, hidden);
    const data = ok(await call(org, 'manager', 'GET', `/v1/om/orders/${orderId}/payments`)).data;
    const m = data.paymentMethods.find((x: Body) => x.id === hidden);
    assert.equal(m.visible, false, 'a hidden method still resolves for the payments using it');
    ok(await confirm(org, used));
    // A refund without methodId takes its source's method, hidden or not.
    const back = await refund(org, orderId, used, 1);
    assert.equal((await getPayment(org, back)).methodUid, hidden);
  });

  void test('ORDER_CANCELED, ORDER_CLOSED (receipts; a manager may still refund) and ORDER_NOT_FOUND', async () => {
    // Canceled: nothing new, no refunds, no changes to its payments.
    const canceled = await newOrder(org, 10);
    const r = await receipt(org, canceled, 10, { status: 'complete' });
    await refund(org, canceled, r, 10, { status: 'complete' });
    ok(await call(org, 'manager', 'PATCH', `/v1/om/orders/${canceled}/cancel`));
    const oc = (send: () => Promise<Reply>) => refused(org, canceled, send, 400, 'ORDER_CANCELED');
    await oc(() => pay(org, { orderId: canceled, type: 'receipt', methodId: cash, amount: 1 }));
    await oc(() =>
      pay(org, { orderId: canceled, type: 'refund', sourcePaymentId: r, amount: 1 }, 'manager'),
    );
    await oc(() => patch(org, r, { note: 'late' }));
    await oc(() => patch(org, r, { amount: 5, correction: true }));
    assert.deepEqual((await getPayment(org, r)).can, []);

    // Closed: receipts refused; refunds are a manager's call.
    const closed = await newOrder(org, 10);
    const paid = await receipt(org, closed, 10, { status: 'complete' });
    await closeOrder(org, closed);
    for (const params of [{ amount: 1 }, {}]) {
      await refused(
        org,
        closed,
        () => pay(org, { orderId: closed, type: 'receipt', methodId: cash, ...params }, 'manager'),
        400,
        'ORDER_CLOSED',
      );
    }
    await refused(
      org,
      closed,
      () =>
        pay(org, { orderId: closed, type: 'refund', sourcePaymentId: paid, amount: 1 }, 'cashier'),
      403,
      'FORBIDDEN',
    );
    const back = await refund(org, closed, paid, 1, { status: 'complete' }, 'manager');
    assert.equal((await getPayment(org, back)).status, 'complete');
    const order = await getOrder(org, closed);
    assert.deepEqual(
      [order.status, order.paidAmount, order.refundedAmount, order.balanceDue],
      ['closed', 9, 1, 1],
    );

    // Unknown order.
    const error = await refused(
      org,
      closed,
      () => pay(org, { orderId: MISSING, type: 'receipt', methodId: cash, amount: 1 }),
      400,
      'ORDER_NOT_FOUND',
      { field: 'orderId' },
    );
    assert.equal(error.message, 'The order does not exist.');
  });

  void test('DUPLICATE_TRANSACTION_REF: another amount or order on create, and on update and confirm', async () => {
    const orderId = await newOrder(org, 100);
    const other = await newOrder(org, 100);
    const held = await receipt(org, orderId, 10, { transactionRef: 'dup-1' });
    const dup = (o: string, send: () => Promise<Reply>) =>
      refused(org, o, send, 400, 'DUPLICATE_TRANSACTION_REF', {
        field: 'transactionRef',
        paymentId: held,
      });
    await dup(orderId, () =>
      pay(org, { orderId, type: 'receipt', methodId: cash, amount: 11, transactionRef: 'dup-1' }),
    );
    await dup(other, () =>
      pay(org, {
        orderId: other,
        type: 'receipt',
        methodId: cash,
        amount: 10,
        transactionRef: 'dup-1',
      }),
    );
    const second = await receipt(org, orderId, 5);
    await dup(orderId, () => patch(org, second, { transactionRef: 'dup-1' }, 'cashier'));
    await dup(orderId, () => confirm(org, second, 'cashier', { transactionRef: 'dup-1' }));
    // The namespace is per type: a refund may carry the same reference.
    ok(await confirm(org, held));
    await refund(org, orderId, held, 1, { transactionRef: 'dup-1' });
    // A deleted payment frees its reference.
    const temp = await receipt(org, other, 1, { transactionRef: 'dup-2' });
    ok(await remove(org, temp));
    await receipt(org, other, 2, { transactionRef: 'dup-2' });
  });

  void test('FORBIDDEN: viewers write nothing; cashiers neither correct, reverse, refund on closed orders, nor touch complete payments', async () => {
    const orderId = await newOrder(org, 100);
    const done = await receipt(org, orderId, 40, { status: 'complete' });
    const waiting = await receipt(org, orderId, 10);
    const no = (o: string, send: () => Promise<Reply>) => refused(org, o, send, 403, 'FORBIDDEN');
    await no(orderId, () =>
      pay(org, { orderId, type: 'receipt', methodId: cash, amount: 1 }, 'viewer'),
    );
    await no(orderId, () => patch(org, waiting, { note: 'x' }, 'viewer'));
    await no(orderId, () => confirm(org, waiting, 'viewer'));
    await no(orderId, () => confirm(org, done, 'viewer'));
    await no(orderId, () => remove(org, waiting, 'viewer'));
    await no(orderId, () => patch(org, done, { amount: 30, correction: true }, 'cashier'));
    await no(orderId, () => patch(org, done, { status: 'reversed' }, 'cashier'));
    await no(orderId, () => patch(org, done, { note: 'x' }, 'cashier'));
    await no(orderId, () =>
      pay(org, { orderId, type: 'refund', methodId: cash, amount: 1 }, 'cashier'),
    );
    const closed = await newOrder(org, 10);
    const paid = await receipt(org, closed, 10, { status: 'complete' });
    await closeOrder(org, closed);
    await no(closed, () =>
      pay(org, { orderId: closed, type: 'refund', sourcePaymentId: paid, amount: 1 }, 'cashier'),
    );
    const pendingBack = await refund(org, closed, paid, 1, {}, 'manager');
    await no(closed, () => confirm(org, pendingBack, 'cashier'));
    await no(closed, () => remove(org, pendingBack, 'cashier'));
    ok(await confirm(org, pendingBack, 'manager'));
  });

  // ---------------------------------------------------------------------------------------
  // Warnings.

  void test('warnings: ORDER_FULLY_PAID, ALREADY_COMPLETE, ALREADY_RECORDED, CORRECTION_RECORDED', async () => {
    const orderId = await newOrder(org, 30);
    let body = ok(
      await pay(org, { orderId, type: 'receipt', methodId: cash, amount: 10, status: 'complete' }),
    );
    assert.deepEqual(body.warnings, []);
    const first = body.data.id as string;
    body = ok(
      await pay(org, { orderId, type: 'receipt', methodId: cash, transactionRef: 'gw-77' }),
    );
    const rest = body.data.id as string;
    assert.deepEqual(body.warnings, [], 'a pending receipt changes nothing received');
    body = ok(await confirm(org, rest));
    assert.deepEqual(body.warnings, [
      { code: 'ORDER_FULLY_PAID', message: 'The order is now fully paid.', orderId },
    ]);

    // ALREADY_COMPLETE: a no-op.
    let beforeState = await snapshot(org, orderId);
    body = ok(await confirm(org, rest));
    assert.deepEqual(body.warnings, [
      {
        code: 'ALREADY_COMPLETE',
        message: 'The payment was already complete; nothing changed.',
        paymentId: rest,
      },
    ]);
    assert.deepEqual(
      body.data.items.map((p: Body) => p.id),
      [rest, first],
    );
    assert.deepEqual(await snapshot(org, orderId), beforeState);

    // ALREADY_RECORDED: same transactionRef, type, order and amount → the same payment.
    beforeState = await snapshot(org, orderId);
    for (const params of [{ amount: 20 }, {}]) {
      body = ok(
        await pay(org, {
          orderId,
          type: 'receipt',
          methodId: cash,
          transactionRef: 'gw-77',
          ...params,
        }),
      );
      assert.equal(body.data.id, rest);
      assert.deepEqual(body.warnings, [
        {
          code: 'ALREADY_RECORDED',
          message: 'This was already recorded; the existing record is returned.',
          paymentId: rest,
        },
      ]);
    }
    assert.deepEqual(await snapshot(org, orderId), beforeState, 'no new payment');

    // CORRECTION_RECORDED, with the balance warning of the corrected figures.
    body = ok(await patch(org, first, { amount: 9, correction: true }));
    assert.deepEqual(
      body.warnings.map((w: Body) => w.code),
      ['CORRECTION_RECORDED'],
    );
    assert.equal(body.warnings[0].paymentId, first);
    body = ok(await patch(org, first, { amount: 10, correction: true }));
    assert.deepEqual(
      body.warnings.map((w: Body) => w.code),
      ['CORRECTION_RECORDED', 'ORDER_FULLY_PAID'],
    );
    body = ok(await patch(org, first, { methodId: card, correction: true }));
    assert.deepEqual(
      body.warnings.map((w: Body) => w.code),
      ['CORRECTION_RECORDED'],
    );
    assert.equal((await getPayment(org, first)).methodUid, card);
  });

  void test('warning ORDER_OVERPAID: a reversed refund after the balance was collected again', async () => {
    // A correction cannot raise a receipt beyond the total (the payment's own amount is given
    // back, then total − paid − pending caps it), and an order's total cannot drop below what
    // is paid and pending; so through payments an order becomes overpaid only when money
    // comes back in: a complete refund reversed (or corrected down) after the balance was
    // collected again.
    const orderId = await newOrder(org, 100);
    const a = await receipt(org, orderId, 100, { status: 'complete' });
    await refused(
      org,
      orderId,
      () => patch(org, a, { amount: 100.01, correction: true }),
      400,
      'LIMIT_REACHED',
      { limit: 'orderTotal', available: 100 },
    );
    const back = await refund(org, orderId, a, 30, { status: 'complete' });
    let body = ok(await pay(org, { orderId, type: 'receipt', methodId: cash, status: 'complete' }));
    assert.deepEqual(
      body.warnings.map((w: Body) => w.code),
      ['ORDER_FULLY_PAID'],
    );
    body = ok(await patch(org, back, { status: 'reversed' }));
    assert.deepEqual(body.warnings, [
      {
        code: 'ORDER_OVERPAID',
        message: 'The order is overpaid; the excess is customer credit.',
        orderId,
        credit: 30,
      },
    ]);
    assert.deepEqual(await figures(org, orderId), {
      paidAmount: 130,
      refundedAmount: 0,
      pendingAmount: 0,
      balanceDue: -30,
    });
    // A correction lowering a complete refund does the same.
    const back2 = await refund(org, orderId, a, 40, { status: 'complete' });
    body = ok(await patch(org, back2, { amount: 10, correction: true }));
    assert.deepEqual(
      body.warnings.map((w: Body) => [w.code, w.credit]),
      [
        ['CORRECTION_RECORDED', undefined],
        ['ORDER_OVERPAID', 20],
      ],
    );
  });

  // ---------------------------------------------------------------------------------------
  // Money in other currencies.

  void test('KWD (3 decimals): receipts and refunds exact to 0.001 on the wire', async () => {
    const kwd = await setupOrg('KWD');
    const orderId = ok(await call(kwd, 'cashier', 'POST', '/v1/om/orders', { total: 12.345 })).data
      .id as string;
    const small = await receipt(kwd, orderId, 0.005, { status: 'complete' });
    const big = await receipt(kwd, orderId, 12.3);
    const rest = await receipt(kwd, orderId, undefined);
    assert.equal((await getPayment(kwd, rest)).amount, 0.04);
    assert.deepEqual(await figures(kwd, orderId), {
      paidAmount: 0.005,
      refundedAmount: 0,
      pendingAmount: 12.34,
      balanceDue: 12.34,
    });
    ok(await confirm(kwd, big));
    const last = ok(await confirm(kwd, rest));
    assert.deepEqual(
      last.warnings.map((w: Body) => w.code),
      ['ORDER_FULLY_PAID'],
    );
    for (const amount of [0.0001, 1.2345, 0.0005]) {
      await refused(
        kwd,
        orderId,
        () => pay(kwd, { orderId, type: 'refund', sourcePaymentId: big, amount }),
        400,
        'InvalidParameter',
        { field: 'amount', decimals: 3, currency: 'KWD' },
      );
    }
    await refund(kwd, orderId, big, 0.005, { status: 'complete' });
    await refund(kwd, orderId, big, 0.001);
    const whole = await refund(kwd, orderId, small, undefined, { status: 'complete' });
    assert.equal((await getPayment(kwd, whole)).amount, 0.005);
    const b = await getPayment(kwd, big);
    assert.deepEqual([b.amount, b.refundedAmount, b.refundableAmount], [12.3, 0.005, 12.294]);
    assert.deepEqual(await figures(kwd, orderId), {
      paidAmount: 12.335,
      refundedAmount: 0.01,
      pendingAmount: 0,
      balanceDue: 0.01,
    });
    await refused(
      kwd,
      orderId,
      () => pay(kwd, { orderId, type: 'refund', sourcePaymentId: big, amount: 12.295 }),
      400,
      'LIMIT_REACHED',
      { available: 12.294 },
    );
    const raw = await call(kwd, 'manager', 'GET', `/v1/om/payments/${big}`);
    assert.match(raw.body, /"amount":12\.3,/);
    assert.match(raw.body, /"refundableAmount":12\.294[,}]/);
  });

  void test('JPY (0 decimals): whole amounts only', async () => {
    const jpy = await setupOrg('JPY');
    const orderId = await newOrder(jpy, 1500);
    for (const amount of [1000.5, 0.1]) {
      await refused(
        jpy,
        orderId,
        () => pay(jpy, { orderId, type: 'receipt', methodId: defaultMethod.get(jpy.id), amount }),
        400,
        'InvalidParameter',
        { field: 'amount', decimals: 0 },
      );
    }
    const first = await receipt(jpy, orderId, 1000, { status: 'complete' });
    const rest = await receipt(jpy, orderId, undefined, { status: 'complete' });
    assert.equal((await getPayment(jpy, rest)).amount, 500);
    await refused(
      jpy,
      orderId,
      () => pay(jpy, { orderId, type: 'refund', sourcePaymentId: first, amount: 1.5 }),
      400,
      'InvalidParameter',
      { field: 'amount' },
    );
    await refund(jpy, orderId, first, 1, { status: 'complete' });
    assert.deepEqual(await figures(jpy, orderId), {
      paidAmount: 1499,
      refundedAmount: 1,
      pendingAmount: 0,
      balanceDue: 1,
    });
    const f = await getPayment(jpy, first);
    assert.deepEqual([f.refundedAmount, f.refundableAmount], [1, 999]);
  });

  // ---------------------------------------------------------------------------------------
  // Refund lifecycle and soft delete.

  void test('partial refunds up to exactly the source amount, then LIMIT_REACHED; a reversal frees its amount', async () => {
    const orderId = await newOrder(org, 10);
    const a = await receipt(org, orderId, 10, { status: 'complete' });
    const r1 = await refund(org, orderId, a, 3, { status: 'complete' });
    const r2 = await refund(org, orderId, a, 3.33, { status: 'complete' });
    const r3 = await refund(org, orderId, a, 3.66);
    const r4 = await refund(org, orderId, a, 0.01);
    ok(await confirm(org, r4));
    let p = await getPayment(org, a);
    assert.deepEqual([p.refundedAmount, p.refundableAmount], [6.34, 0]);
    assert.ok(!p.can.includes('refund'));
    for (const params of [{ amount: 0.01 }, {}]) {
      await refused(
        org,
        orderId,
        () => pay(org, { orderId, type: 'refund', sourcePaymentId: a, ...params }),
        400,
        'LIMIT_REACHED',
        { available: 0 },
      );
    }
    // Reversing a refund frees exactly its amount.
    const body = ok(await patch(org, r2, { status: 'reversed' }));
    assert.deepEqual(body.data, { success: true });
    p = await getPayment(org, r2);
    assert.equal(p.status, 'reversed');
    assert.match(p.reversedAt, ISO);
    p = await getPayment(org, a);
    assert.deepEqual([p.refundedAmount, p.refundableAmount], [3.01, 3.33]);
    await refused(
      org,
      orderId,
      () => pay(org, { orderId, type: 'refund', sourcePaymentId: a, amount: 3.34 }),
      400,
      'LIMIT_REACHED',
      { limit: 'sourceRefundable', available: 3.33 },
    );
    const again = await refund(org, orderId, a, undefined, { status: 'complete' });
    assert.equal((await getPayment(org, again)).amount, 3.33);
    assert.deepEqual(await figures(org, orderId), {
      paidAmount: 3.66,
      refundedAmount: 6.34,
      pendingAmount: 0,
      balanceDue: 6.34,
    });
    // Reversed is terminal.
    ok(await patch(org, r1, { status: 'reversed' }));
    await refused(
      org,
      orderId,
      () => patch(org, r1, { status: 'complete' }),
      400,
      'INVALID_STATUS',
    );
    // a's live refunds now hold 3.66 + 0.01 + 3.33; the order kept 6.66 with 3.66 pending out.
    assert.equal((await getPayment(org, a)).refundableAmount, 3);
    // Deleting the pending refund gives its 3.66 back.
    ok(await remove(org, r3));
    assert.equal((await getPayment(org, a)).refundableAmount, 6.66);
  });

  void test('transitions (§6.1): pending → progress → complete; staying in a state is a no-op; status complete is confirm', async () => {
    const orderId = await newOrder(org, 10);
    const id = await receipt(org, orderId, 10);
    let events = await eventCount(org);
    ok(await patch(org, id, { status: 'pending' }, 'cashier'));
    assert.equal(await eventCount(org), events, 'pending → pending changes nothing');
    ok(await patch(org, id, { status: 'progress' }, 'cashier'));
    let p = await getPayment(org, id, 'cashier');
    assert.deepEqual(
      [p.status, p.completedAt, p.can],
      ['progress', null, ['confirm', 'update', 'delete']],
    );
    assert.equal(
      (await figures(org, orderId)).pendingAmount,
      10,
      'progress is still pending money',
    );
    await refused(
      org,
      orderId,
      () => patch(org, id, { status: 'pending' }, 'cashier'),
      400,
      'INVALID_STATUS',
      { field: 'status' },
    );
    const body = ok(await patch(org, id, { status: 'complete' }, 'cashier'));
    assert.deepEqual(
      body.warnings.map((w: Body) => w.code),
      ['ORDER_FULLY_PAID'],
    );
    p = await getPayment(org, id);
    assert.equal(p.status, 'complete');
    assert.match(p.completedAt, ISO);
    assert.deepEqual(await eventTypes(id), [
      'payment.created',
      'payment.updated',
      'payment.confirmed',
    ]);
    events = await eventCount(org);
    ok(await patch(org, id, { status: 'complete' }, 'manager'));
    assert.equal(await eventCount(org), events, 'complete → complete changes nothing');

    // §3.5.3: `status: "complete"` is the same as confirm, which a cashier may send for a
    // complete payment (a no-op with ALREADY_COMPLETE).
    let beforeState = await snapshot(org, orderId);
    const viaConfirm = await confirm(org, id, 'cashier');
    const viaPatch = await patch(org, id, { status: 'complete' }, 'cashier');
    assert.deepEqual(await snapshot(org, orderId), beforeState);
    // §6.1: staying in the same state is a no-op, reversed included.
    ok(await patch(org, id, { status: 'reversed' }));
    beforeState = await snapshot(org, orderId);
    const again = await patch(org, id, { status: 'reversed' });
    assert.deepEqual(await snapshot(org, orderId), beforeState);
    assert.deepEqual(
      [viaConfirm.statusCode, viaPatch.statusCode, again.statusCode],
      [200, 200, 200],
      `confirm: ${viaConfirm.body}\nPATCH status complete (cashier): ${viaPatch.body}\nPATCH status reversed again: ${again.body}`,
    );
  });

  void test('soft delete: hidden from every read (404) while its history rows stay in the events table', async () => {
    const orderId = await newOrder(org, 20);
    const id = await receipt(org, orderId, 5, { note: 'to delete' });
    ok(await patch(org, id, { note: 'changed' }, 'cashier'));
    const beforeCount = (await getOrder(org, orderId)).pendingAmount;
    assert.equal(beforeCount, 5);
    ok(await remove(org, id));
    for (const suffix of ['', '/history']) {
      const r = await call(org, 'manager', 'GET', `/v1/om/payments/${id}${suffix}`);
      assert.equal(r.statusCode, 404, suffix);
      assert.equal(json(r).error.code, 'NOT_FOUND');
    }
    for (const [method, suffix, params] of [
      ['DELETE', '', undefined],
      ['PATCH', '', { note: 'x' }],
      ['PATCH', '/confirm', undefined],
    ] as const) {
      await refused(
        org,
        orderId,
        () => call(org, 'manager', method, `/v1/om/payments/${id}${suffix}`, params),
        404,
        'NOT_FOUND',
      );
    }
    assert.deepEqual(await listIds(org, `orderId=${orderId}`), []);
    assert.deepEqual(
      ok(await call(org, 'manager', 'GET', `/v1/om/orders/${orderId}/payments`)).data.items,
      [],
    );
    assert.deepEqual(await figures(org, orderId), {
      paidAmount: 0,
      refundedAmount: 0,
      pendingAmount: 0,
      balanceDue: 20,
    });
    assert.deepEqual(await eventTypes(id), [
      'payment.created',
      'payment.updated',
      'payment.deleted',
    ]);
    const stored = await t.database.db
      .selectFrom('payments')
      .select(['deleted_at', 'note'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    assert.match(stored.deleted_at!, ISO);
    assert.equal(stored.note, 'changed');
  });

  void test('a receipt cannot be reversed or corrected below what its order has refunded', async () => {
    // API.md §5/§6.2: refunds never exceed what the order received. A manager's refund
    // without a source returns the order's money; the receipt that brought it in must not
    // then disappear (reversal) or shrink (correction) and leave paidAmount negative.
    const outcomes: string[] = [];
    for (const change of [{ status: 'reversed' }, { amount: 50, correction: true }]) {
      const orderId = await newOrder(org, 100);
      const a = await receipt(org, orderId, 100, { status: 'complete' });
      await refund(org, orderId, undefined, 100, { methodId: cash, status: 'complete' }, 'manager');
      assert.equal((await getOrder(org, orderId)).paidAmount, 0);
      const beforeState = await snapshot(org, orderId);
      const r = await patch(org, a, change);
      const order = await getOrder(org, orderId);
      outcomes.push(
        `${JSON.stringify(change)} → ${r.statusCode} ${json(r).error?.code ?? ''}, paidAmount ${order.paidAmount}, balanceDue ${order.balanceDue}`,
      );
      if (r.statusCode === 400) assert.deepEqual(await snapshot(org, orderId), beforeState);
      // Nothing was refunded from the receipt itself, so its own figures allow both changes;
      // the order-wide check is what refuses them, and `can` says so beforehand.
      assert.ok(!(await getPayment(org, a)).can.includes('reverse'));
    }
    assert.deepEqual(outcomes, [
      '{"status":"reversed"} → 400 LIMIT_REACHED, paidAmount 0, balanceDue 100',
      '{"amount":50,"correction":true} → 400 LIMIT_REACHED, paidAmount 0, balanceDue 100',
    ]);
  });

  // ---------------------------------------------------------------------------------------
  // `can` against the actions.

  void test('`can` lists what the actions then allow, for representative states and every role', async () => {
    interface State {
      target: string;
      orderId: string;
      amount: number;
    }
    // Each state on a fresh order of 100, built by a manager.
    const states: Record<string, () => Promise<State>> = {
      'pending receipt': async () => {
        const orderId = await newOrder(org, 100);
        return { orderId, target: await receipt(org, orderId, 40), amount: 40 };
      },
      'complete receipt': async () => {
        const orderId = await newOrder(org, 100);
        const target = await receipt(org, orderId, 40, { status: 'complete' });
        return { orderId, target, amount: 40 };
      },
      'complete receipt with a refund': async () => {
        const orderId = await newOrder(org, 100);
        const target = await receipt(org, orderId, 40, { status: 'complete' });
        await refund(org, orderId, target, 10, { status: 'complete' });
        return { orderId, target, amount: 40 };
      },
      'complete receipt, closed order': async () => {
        const orderId = await newOrder(org, 100);
        const target = await receipt(org, orderId, 100, { status: 'complete' });
        await closeOrder(org, orderId);
        return { orderId, target, amount: 100 };
      },
      'pending refund': async () => {
        const orderId = await newOrder(org, 100);
        const source = await receipt(org, orderId, 40, { status: 'complete' });
        return { orderId, target: await refund(org, orderId, source, 10), amount: 10 };
      },
      'complete refund': async () => {
        const orderId = await newOrder(org, 100);
        const source = await receipt(org, orderId, 40, { status: 'complete' });
        const target = await refund(org, orderId, source, 10, { status: 'complete' });
        return { orderId, target, amount: 10 };
      },
      'reversed receipt': async () => {
        const orderId = await newOrder(org, 100);
        const target = await receipt(org, orderId, 40, { status: 'complete' });
        ok(await patch(org, target, { status: 'reversed' }));
        return { orderId, target, amount: 40 };
      },
    };
    const perform = (s: State, role: Role, action: PaymentAction): Promise<Reply> => {
      switch (action) {
        case 'confirm':
          return confirm(org, s.target, role);
        case 'update':
          return patch(org, s.target, { note: 'checked' }, role);
        case 'correct':
          return patch(org, s.target, { amount: s.amount - 1, correction: true }, role);
        case 'delete':
          return remove(org, s.target, role);
        case 'reverse':
          return patch(org, s.target, { status: 'reversed' }, role);
        case 'refund':
          return pay(
            org,
            { orderId: s.orderId, type: 'refund', sourcePaymentId: s.target, amount: 1 },
            role,
          );
      }
    };
    const expectedCan: Record<string, Record<Role, PaymentAction[]>> = {
      'pending receipt': {
        viewer: [],
        cashier: ['confirm', 'update', 'delete'],
        manager: ['confirm', 'update', 'delete'],
        admin: ['confirm', 'update', 'delete'],
      },
      'complete receipt': {
        viewer: [],
        cashier: ['refund'],
        manager: ['update', 'correct', 'reverse', 'refund'],
        admin: ['update', 'correct', 'reverse', 'refund'],
      },
      'complete receipt with a refund': {
        viewer: [],
        cashier: ['refund'],
        manager: ['update', 'correct', 'refund'],
        admin: ['update', 'correct', 'refund'],
      },
      'complete receipt, closed order': {
        viewer: [],
        cashier: [],
        manager: ['update', 'correct', 'reverse', 'refund'],
        admin: ['update', 'correct', 'reverse', 'refund'],
      },
      'pending refund': {
        viewer: [],
        cashier: ['confirm', 'update', 'delete'],
        manager: ['confirm', 'update', 'delete'],
        admin: ['confirm', 'update', 'delete'],
      },
      'complete refund': {
        viewer: [],
        cashier: [],
        manager: ['update', 'correct', 'reverse'],
        admin: ['update', 'correct', 'reverse'],
      },
      'reversed receipt': { viewer: [], cashier: [], manager: [], admin: [] },
    };
    let checked = 0;
    for (const [name, build] of Object.entries(states)) {
      for (const role of ROLES) {
        const probe = await build();
        const can: PaymentAction[] = (await getPayment(org, probe.target, role)).can;
        assert.deepEqual(can, expectedCan[name]![role], `${name} × ${role}: can`);
        // The lists show the same `can` as the single read.
        const listed = ok(await call(org, role, 'GET', `/v1/om/payments?orderId=${probe.orderId}`));
        assert.deepEqual(
          listed.data.items.find((p: Body) => p.id === probe.target).can,
          can,
          `${name} × ${role}: can in the list`,
        );
        for (const action of PAYMENT_ACTIONS) {
          const s = await build();
          const status = (await getPayment(org, s.target)).status as string;
          const beforeState = await snapshot(org, s.orderId);
          const r = await perform(s, role, action);
          const label = `${name} × ${role} × ${action}: ${r.body}`;
          const restates =
            (action === 'confirm' && status === 'complete') ||
            (action === 'reverse' && status === 'reversed');
          if (restates && role !== 'viewer') {
            // Confirming a complete payment again, or reversing a reversed one, is a no-op
            // success (§3.5.4 ALREADY_COMPLETE, §6.1 "staying in the same state is a no-op"),
            // so neither is offered in `can`: there is nothing left to do.
            assert.equal(r.statusCode, 200, label);
            if (action === 'confirm')
              assert.equal(json(r).warnings[0].code, 'ALREADY_COMPLETE', label);
            assert.deepEqual(await snapshot(org, s.orderId), beforeState, label);
          } else if (action === 'correct' && (status === 'pending' || status === 'progress')) {
            // A payment that is not complete yet has nothing to correct: changing its amount
            // is an ordinary update (§3.5.3), allowed exactly when `update` is.
            assert.equal(r.statusCode === 200, can.includes('update'), label);
          } else {
            assert.equal(r.statusCode === 200, can.includes(action), label);
          }
          if (r.statusCode !== 200) {
            assert.deepEqual(await snapshot(org, s.orderId), beforeState, label);
            assert.ok([400, 403].includes(r.statusCode), label);
          }
          checked++;
        }
      }
    }
    assert.equal(checked, 7 * 4 * 6);
  });

  // ---------------------------------------------------------------------------------------
  // Documentation.

  void test('the OpenAPI document lists the four seed endpoints and the three reads with their schemas', async () => {
    const doc = json(await t.app.inject({ method: 'GET', url: '/openapi.json' }));
    const deref = (schema: Body): Body => {
      if (typeof schema.$ref !== 'string') return schema;
      const name = schema.$ref.replace('#/components/schemas/', '');
      return deref(doc.components.schemas[name]);
    };
    const operation = (path: string, method: string): Body => {
      const op = doc.paths[path]?.[method];
      assert.ok(op, `${method.toUpperCase()} ${path}`);
      return op;
    };
    const dataOf = (op: Body): Body =>
      deref(deref(op.responses['200'].content['application/json'].schema).properties.data);
    const paramsOf = (op: Body): Body => {
      let body = deref(op.requestBody.content['application/json'].schema);
      if (body.anyOf) body = deref(body.anyOf.find((s: Body) => s.type === 'object'));
      return deref(body.properties.params);
    };
    const itemOf = (data: Body): Body => deref(data.properties.items.items);

    const create = operation('/v1/om/payments', 'post');
    assert.deepEqual(Object.keys(paramsOf(create).properties).sort(), [
      'amount',
      'attrs',
      'custom',
      'customerUid',
      'invoiceId',
      'methodId',
      'note',
      'orderId',
      'sourcePaymentId',
      'status',
      'transactionRef',
      'type',
    ]);
    assert.deepEqual(paramsOf(create).required.sort(), ['orderId', 'type']);
    assert.deepEqual(Object.keys(dataOf(create).properties), ['id']);

    const update = operation('/v1/om/payments/{uid}', 'patch');
    assert.deepEqual(Object.keys(paramsOf(update).properties).sort(), [
      'amount',
      'attrs',
      'correction',
      'custom',
      'customerUid',
      'id',
      'methodId',
      'note',
      'orderId',
      'sourcePaymentId',
      'status',
      'transactionRef',
    ]);
    assert.deepEqual(Object.keys(dataOf(update).properties), ['success']);

    const confirmOp = operation('/v1/om/payments/{uid}/confirm', 'patch');
    assert.deepEqual(Object.keys(paramsOf(confirmOp).properties).sort(), [
      'attrs',
      'customerUid',
      'id',
      'orderId',
      'transactionRef',
    ]);
    const del = operation('/v1/om/payments/{uid}', 'delete');
    for (const op of [confirmOp, del]) {
      // The order's payments, or `{success: true}` under `Prefer: return=minimal`.
      const shapes = (dataOf(op).anyOf as Body[]).map(deref);
      assert.deepEqual(
        shapes.map((shape) => Object.keys(shape.properties).sort()),
        [['items', 'paymentMethods'], ['success']],
      );
      const data = shapes[0]!;
      assert.deepEqual(Object.keys(data.properties).sort(), ['items', 'paymentMethods']);
      assert.deepEqual(Object.keys(itemOf(data).properties).sort(), RECEIPT_KEYS);
      assert.deepEqual(
        Object.keys(deref(data.properties.paymentMethods.items).properties).sort(),
        METHOD_KEYS,
      );
    }

    const list = operation('/v1/om/payments', 'get');
    assert.deepEqual(Object.keys(dataOf(list).properties).sort(), [
      'items',
      'next',
      'paymentMethods',
    ]);
    assert.deepEqual(Object.keys(itemOf(dataOf(list)).properties).sort(), RECEIPT_KEYS);
    const queryNames = list.parameters
      .filter((p: Body) => p.in === 'query')
      .map((p: Body) => p.name);
    for (const name of [
      'orderId',
      'type',
      'status',
      'methodId',
      'customerUid',
      'invoiceId',
      'createdFrom',
      'createdTo',
      'limit',
      'cursor',
    ])
      assert.ok(queryNames.includes(name), name);
    const one = operation('/v1/om/payments/{uid}', 'get');
    assert.deepEqual(
      Object.keys(deref(dataOf(one).properties.payment).properties).sort(),
      RECEIPT_KEYS,
    );
    const history = operation('/v1/om/payments/{uid}/history', 'get');
    assert.deepEqual(Object.keys(deref(dataOf(history).properties.items.items).properties).sort(), [
      'by',
      'changes',
      'createdAt',
      'data',
      'id',
      'requestId',
      'type',
      'via',
    ]);
    for (const op of [create, update, confirmOp, del, list, one, history]) {
      // Both headers are the operation's security requirement (src/http/route.ts).
      assert.deepEqual(op.security, [{ apiKey: [], organizationId: [] }]);
      assert.equal(doc.components.securitySchemes.organizationId.name, 'organization-id');
      assert.equal(doc.components.securitySchemes.organizationId.in, 'header');
      for (const status of ['400', '401', '403', '429', '500', '503'])
        assert.ok(op.responses[status], `${op.summary}: ${status}`);
      if (op !== create && op !== list) assert.ok(op.responses['404'], `${op.summary}: 404`);
    }
  });
});
