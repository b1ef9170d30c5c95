// Tenant isolation of the payment endpoints (API.md §1, §3.5): a key of organization A sees
// organization B's ids exactly as ids that do not exist, wherever they appear (path, create
// body, update body, list filters), and nothing it sends changes B. A key allowed only for A
// is refused B outright. The path and organization-id checks iterate the payment routes of
// the endpoints table (reliability/endpoints.ts), so a new payment route joins them there.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Role } from '../src/db/schema.ts';
import {
  ENDPOINTS,
  ENDPOINT_BY_ROUTE,
  ID_FIELDS,
  Maker,
  buildKit,
  documentedRoutes,
  idsOfKind,
  type Kit,
} from '../reliability/endpoints.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';
import { injectFactory } from './support/endpoints.ts';

type Reply = Awaited<ReturnType<TestApp['call']>>;
type Body = Record<string, any>;
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** The table's payment routes: under /payments, and an order's payments. */
const PAYMENT_ROUTES = ENDPOINTS.filter((e) => e.route.includes('/payments'));

/** A well-formed id that exists nowhere. */
const MISSING = '01900000-0000-7000-8000-000000000000';
const ROLES: Role[] = ['viewer', 'cashier', 'manager', 'admin'];

interface Fixtures {
  method: string;
  order: string;
  invoice: string;
  /** A complete receipt with a transactionRef. */
  receipt: string;
  /** A pending receipt. */
  pending: string;
  /** A pending refund of `receipt`. */
  refund: string;
}

void describe('payments: tenant isolation', () => {
  let t: TestApp;
  let a: TestOrg;
  let b: TestOrg;
  let A: Fixtures;
  let B: Fixtures;
  /** More of B's objects, in every state the table's routes care about. */
  let KB: Kit;

  const call = (o: TestOrg, role: Role, method: Method, url: string, params?: object) =>
    t.call(o, role, { method, url, ...(params !== undefined && { payload: { params } }) });

  function ok(r: Reply): Body {
    assert.equal(r.statusCode, 200, r.body);
    return json(r);
  }

  async function fixtures(o: TestOrg, transactionRef: string): Promise<Fixtures> {
    const id = async (r: Promise<Reply>) => ok(await r).data.id as string;
    const method = await id(
      call(o, 'admin', 'POST', '/v1/om/payment-methods', {
        locales: { ar: { name: 'نقدي' }, en: { name: 'Cash' } },
        code: 'cash',
      }),
    );
    const order = await id(call(o, 'cashier', 'POST', '/v1/om/orders', { total: 100 }));
    const invoice = await id(call(o, 'manager', 'POST', '/v1/om/invoices', { orderId: order }));
    const pay = (params: object) => id(call(o, 'cashier', 'POST', '/v1/om/payments', params));
    const receipt = await pay({
      orderId: order,
      type: 'receipt',
      methodId: method,
      amount: 50,
      status: 'complete',
      transactionRef,
      customerUid: 'shared-customer',
      invoiceId: invoice,
    });
    const pending = await pay({ orderId: order, type: 'receipt', methodId: method, amount: 20 });
    const refund = await pay({
      orderId: order,
      type: 'refund',
      sourcePaymentId: receipt,
      amount: 5,
    });
    return { method, order, invoice, receipt, pending, refund };
  }

  /** Everything of B that A's requests could touch, as B sees it, plus B's event count. */
  async function stateOfB() {
    const read = async (url: string) => ok(await call(b, 'manager', 'GET', url)).data;
    const events = await t.database.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('organization_id', '=', b.id)
      .executeTakeFirstOrThrow();
    return {
      order: await read(`/v1/om/orders/${B.order}`),
      payments: await read(`/v1/om/payments?limit=100`),
      histories: await Promise.all(
        [B.receipt, B.pending, B.refund].map((id) => read(`/v1/om/payments/${id}/history`)),
      ),
      invoice: await read(`/v1/om/invoices/${B.invoice}`),
      method: await read(`/v1/om/payment-methods/${B.method}`),
      events: Number(events.n),
    };
  }

  /** An error body with the given ids replaced, and without the requestId. */
  function errorOf(r: Reply, ids: string[] = []): Body {
    let text = r.body;
    for (const id of ids) text = text.split(id).join('<id>');
    const body = JSON.parse(text);
    assert.ok(body.error, r.body);
    assert.equal(typeof body.requestId, 'string');
    delete body.requestId;
    return body;
  }

  /**
   * A's request with one of B's ids, and the same request with an id that exists nowhere:
   * the same status and the same error, once the id itself is masked.
   */
  async function sameAsMissing(
    label: string,
    send: (id: string) => Promise<Reply>,
    foreignId: string,
    status: number,
    code: string,
  ): Promise<void> {
    const foreign = await send(foreignId);
    const missing = await send(MISSING);
    assert.equal(foreign.statusCode, status, `${label}: ${foreign.body}`);
    assert.equal(missing.statusCode, status, `${label}: ${missing.body}`);
    assert.equal(json(foreign).error.code, code, label);
    assert.deepEqual(errorOf(foreign, [foreignId]), errorOf(missing, [MISSING]), label);
    assert.ok(!foreign.body.includes(B.order) || foreignId === B.order, `${label}: leaks B`);
  }

  let bBefore: Awaited<ReturnType<typeof stateOfB>>;

  before(async () => {
    t = await startTestApp({ rateLimitPerMinute: 0 });
    a = await t.createOrg('SAR');
    b = await t.createOrg('SAR');
    A = await fixtures(a, 'ref-of-a');
    B = await fixtures(b, 'shared-ref');
    KB = await buildKit(new Maker(injectFactory(t, b, B.method)));
    bBefore = await stateOfB();
  });
  after(() => t.close());

  void test("B's payment ids in the path answer exactly like unknown ids, for every route and role", async () => {
    // Each route with a payment id in its path, with its template's body and each variant.
    const routes = PAYMENT_ROUTES.filter((e) => e.uid === 'payment').flatMap((e) => {
      const [method, path] = e.route.split(' ') as [Method, string];
      const bodies = [e.template(KB).params, ...(e.variants ?? [])];
      return bodies.map((params) => ({ method, path, params }));
    });
    assert.ok(routes.length >= 8, `${routes.length} payment path cases`);
    const foreignIds = [B.receipt, B.pending, B.refund, ...idsOfKind(KB, 'payment')];
    let checked = 0;
    for (const foreignId of foreignIds) {
      for (const role of ROLES) {
        for (const { method, path, params } of routes) {
          const label = `${role} ${method} ${path} {B} ${JSON.stringify(params)}`;
          const send = (id: string) => call(a, role, method, path.replace('{uid}', id), params);
          const foreign = await send(foreignId);
          const missing = await send(MISSING);
          // Writes by a viewer may be refused for the role before the id is looked up; in
          // every case the foreign id and the missing one must be indistinguishable.
          assert.ok([403, 404].includes(foreign.statusCode), `${label}: ${foreign.body}`);
          if (method === 'GET') assert.equal(foreign.statusCode, 404, label);
          if (role !== 'viewer') assert.equal(foreign.statusCode, 404, label);
          assert.equal(foreign.statusCode, missing.statusCode, label);
          assert.deepEqual(errorOf(foreign), errorOf(missing), label);
          checked++;
        }
      }
    }
    assert.equal(checked, foreignIds.length * ROLES.length * routes.length);
    assert.deepEqual(await stateOfB(), bBefore, 'B unchanged');
  });

  void test('ids of B inside a create body answer exactly like unknown ids', async () => {
    const create = (params: object, role: Role = 'manager') =>
      call(a, role, 'POST', '/v1/om/payments', params);
    await sameAsMissing(
      'orderId',
      (orderId) => create({ orderId, type: 'receipt', methodId: A.method, amount: 1 }),
      B.order,
      400,
      'ORDER_NOT_FOUND',
    );
    await sameAsMissing(
      'orderId of a refund',
      (orderId) => create({ orderId, type: 'refund', sourcePaymentId: A.receipt, amount: 1 }),
      B.order,
      400,
      'ORDER_NOT_FOUND',
    );
    await sameAsMissing(
      'methodId of a receipt',
      (methodId) => create({ orderId: A.order, type: 'receipt', methodId, amount: 1 }),
      B.method,
      400,
      'MethodNotFound',
    );
    await sameAsMissing(
      'methodId of a refund',
      (methodId) =>
        create({
          orderId: A.order,
          type: 'refund',
          sourcePaymentId: A.receipt,
          methodId,
          amount: 1,
        }),
      B.method,
      400,
      'MethodNotFound',
    );
    await sameAsMissing(
      'invoiceId',
      (invoiceId) =>
        create({ orderId: A.order, type: 'receipt', methodId: A.method, amount: 1, invoiceId }),
      B.invoice,
      400,
      'INVOICE_NOT_FOUND',
    );
    for (const [name, source] of [
      ['complete receipt', B.receipt],
      ['pending receipt', B.pending],
      ['refund', B.refund],
    ] as const) {
      for (const amount of [1, undefined]) {
        await sameAsMissing(
          `sourcePaymentId (B's ${name}, amount ${amount})`,
          (sourcePaymentId) =>
            create({
              orderId: A.order,
              type: 'refund',
              sourcePaymentId,
              ...(amount !== undefined && { amount }),
            }),
          source,
          400,
          'InvalidParameter',
        );
      }
    }
    const a1 = ok(await call(a, 'manager', 'GET', `/v1/om/orders/${A.order}`)).data.order;
    assert.deepEqual(
      [a1.paidAmount, a1.pendingAmount, a1.refundedAmount],
      [50, 20, 0],
      "A's order is untouched by the refused creates",
    );
    assert.deepEqual(await stateOfB(), bBefore, 'B unchanged');
  });

  void test('ids of B inside PATCH bodies answer exactly like unknown ids', async () => {
    const update = (id: string, params: object, role: Role = 'manager') =>
      call(a, role, 'PATCH', `/v1/om/payments/${id}`, params);
    await sameAsMissing(
      'methodId of a pending receipt',
      (methodId) => update(A.pending, { methodId }, 'cashier'),
      B.method,
      400,
      'MethodNotFound',
    );
    await sameAsMissing(
      'methodId in a correction',
      (methodId) => update(A.receipt, { methodId, correction: true }),
      B.method,
      400,
      'MethodNotFound',
    );
    await sameAsMissing(
      'sourcePaymentId of a pending refund',
      (sourcePaymentId) => update(A.refund, { sourcePaymentId }, 'cashier'),
      B.receipt,
      400,
      'InvalidParameter',
    );
    await sameAsMissing(
      'orderId of a payment',
      (orderId) => update(A.pending, { orderId, note: 'x' }),
      B.order,
      400,
      'InvalidParameter',
    );
    await sameAsMissing(
      'id of a payment',
      (id) => update(A.pending, { id, note: 'x' }),
      B.pending,
      400,
      'InvalidParameter',
    );
    await sameAsMissing(
      'orderId in a confirm',
      (orderId) => call(a, 'cashier', 'PATCH', `/v1/om/payments/${A.pending}/confirm`, { orderId }),
      B.order,
      400,
      'InvalidParameter',
    );
    const pending = ok(await call(a, 'manager', 'GET', `/v1/om/payments/${A.pending}`)).data
      .payment;
    assert.deepEqual(
      [pending.status, pending.methodUid, pending.note],
      ['pending', A.method, null],
    );
    assert.deepEqual(await stateOfB(), bBefore, 'B unchanged');
  });

  void test('lists filtered by ids of B show nothing; transactionRefs are per organization', async () => {
    for (const query of [
      `orderId=${B.order}`,
      `methodId=${B.method}`,
      `invoiceId=${B.invoice}`,
      `orderId=${B.order}&type=receipt&status=complete`,
    ]) {
      for (const role of ROLES) {
        const data = ok(await call(a, role, 'GET', `/v1/om/payments?${query}`)).data;
        assert.deepEqual(data, { items: [], paymentMethods: [], next: null }, `${role} ${query}`);
      }
    }
    // A's own list holds only A's payments, even for a customer both organizations share.
    const mine = ok(await call(a, 'viewer', 'GET', '/v1/om/payments?limit=100')).data;
    assert.deepEqual(
      mine.items.map((p: Body) => p.id).sort(),
      [A.receipt, A.pending, A.refund].sort(),
    );
    const shared = ok(
      await call(a, 'viewer', 'GET', '/v1/om/payments?customerUid=shared-customer'),
    ).data;
    assert.deepEqual(
      shared.items.map((p: Body) => p.id),
      [A.receipt],
    );
    assert.deepEqual(
      shared.paymentMethods.map((m: Body) => m.id),
      [A.method],
    );
    const ofOrder = await call(a, 'viewer', 'GET', `/v1/om/orders/${B.order}/payments`);
    assert.equal(ofOrder.statusCode, 404);

    // B's transactionRef is no concern of A's: no ALREADY_RECORDED, no duplicate (same
    // type, amount and reference; only the organization differs).
    const order = ok(await call(a, 'cashier', 'POST', '/v1/om/orders', { total: 50 })).data.id;
    const again = ok(
      await call(a, 'cashier', 'POST', '/v1/om/payments', {
        orderId: order,
        type: 'receipt',
        methodId: A.method,
        amount: 50,
        transactionRef: 'shared-ref',
      }),
    );
    assert.ok(![B.receipt, A.receipt].includes(again.data.id));
    assert.deepEqual(
      again.warnings.map((w: Body) => w.code),
      [],
    );
    assert.deepEqual(await stateOfB(), bBefore, 'B unchanged');
  });

  void test('a key allowed only for A, sent with organization-id B, is 403 on every payment route', async () => {
    // Every payment route of the table on B's objects (its template and variants), and each
    // list with every id filter /openapi.json documents for it, set to one of B's ids.
    const doc = json(await t.app.inject({ method: 'GET', url: '/openapi.json' }));
    assert.deepEqual(
      documentedRoutes(doc).filter((r) => r.includes('/payments') && !ENDPOINT_BY_ROUTE.has(r)),
      [],
      'payment routes of /openapi.json without an entry in reliability/endpoints.ts',
    );
    const routes: [Method, string, object | undefined][] = PAYMENT_ROUTES.flatMap((e) => {
      const [method, path] = e.route.split(' ') as [Method, string];
      const template = e.template(KB);
      const url = template.uid === undefined ? path : path.replace('{uid}', template.uid);
      const filters = (doc.paths[path]?.[method.toLowerCase()]?.parameters ?? [])
        .filter((p: Body) => p.in === 'query' && p.name in ID_FIELDS)
        .map((p: Body): [Method, string, undefined] => [
          method,
          `${url}?${p.name}=${idsOfKind(KB, ID_FIELDS[p.name]!)[0]}`,
          undefined,
        ]);
      return [
        ...[template.params, ...(e.variants ?? [])].map(
          (params): [Method, string, object | undefined] => [method, url, params],
        ),
        ...filters,
      ];
    });
    assert.ok(routes.length >= 12, `${routes.length} payment routes`);
    for (const role of ROLES) {
      for (const [method, url, params] of routes) {
        const send = (organizationId: string) =>
          t.call(a, role, {
            method,
            url,
            headers: { 'organization-id': organizationId },
            ...(params !== undefined && { payload: { params } }),
          });
        const label = `${role} ${method} ${url}`;
        const foreign = await send(b.id);
        assert.equal(foreign.statusCode, 403, `${label}: ${foreign.body}`);
        assert.equal(json(foreign).error.code, 'FORBIDDEN', label);
        // The same answer as for an organization that does not exist.
        const unknown = await send(MISSING);
        assert.equal(unknown.statusCode, 403, label);
        assert.deepEqual(errorOf(foreign), errorOf(unknown), label);
      }
    }
    // The same key with its own organization works.
    ok(await call(a, 'viewer', 'GET', `/v1/om/payments/${A.receipt}`));
    assert.deepEqual(await stateOfB(), bBefore, 'B unchanged');
  });
});
