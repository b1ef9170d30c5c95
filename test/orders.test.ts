// API.md §3.2 through HTTP on the engine under test.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Role } from '../src/db/schema.ts';
import { ORDER_ACTIONS } from '../src/orders/orders.rules.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

void describe('orders', () => {
  let t: TestApp;
  let org: TestOrg; // KWD: 3 decimals
  let other: TestOrg;

  before(async () => {
    t = await startTestApp();
    org = await t.createOrg('KWD');
    other = await t.createOrg('SAR');
  });
  after(() => t.close());

  const post = (o: TestOrg, params: object, role: Role = 'cashier') =>
    t.call(o, role, { method: 'POST', url: '/v1/om/orders', payload: { params } });
  const get = async (o: TestOrg, id: string, role: Role = 'viewer') =>
    json(await t.call(o, role, { method: 'GET', url: `/v1/om/orders/${id}` })).data.order;
  const createOrder = async (o: TestOrg, params: object = { total: 10 }) => {
    const r = await post(o, params);
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data.id as string;
  };
  const eventTypes = async (id: string) =>
    (
      await t.database.db
        .selectFrom('events')
        .select('type')
        .where('entity_id', '=', id)
        .orderBy('id')
        .execute()
    ).map((e) => e.type);

  /** Puts an order's figures where payments would have put them (payments are another module). */
  async function setFigures(
    id: string,
    figures: {
      paid?: number;
      pending?: number;
      pendingRefunds?: number;
      status?: 'open' | 'closed' | 'canceled';
    },
  ) {
    if (Object.keys(figures).length === 0) return;
    await t.database.db
      .updateTable('orders')
      .set({
        ...(figures.paid !== undefined && { paid_minor: figures.paid }),
        ...(figures.pending !== undefined && { pending_minor: figures.pending }),
        ...(figures.pendingRefunds !== undefined && {
          pending_refunds_minor: figures.pendingRefunds,
        }),
        ...(figures.status !== undefined && { status: figures.status }),
      })
      .where('id', '=', id)
      .execute();
  }

  void test('create: exact amounts in the currency, all fields, audit from the key, one event', async () => {
    const id = await createOrder(org, {
      total: 12.345,
      customerUid: 'cust-1',
      externalRef: 'pos-17',
    });
    const order = await get(org, id);
    assert.deepEqual(
      { ...order, createdAt: undefined, updatedAt: undefined },
      {
        id,
        number: order.number,
        status: 'open',
        total: 12.345,
        paidAmount: 0,
        refundedAmount: 0,
        pendingAmount: 0,
        balanceDue: 12.345,
        customerUid: 'cust-1',
        externalRef: 'pos-17',
        closedAt: null,
        canceledAt: null,
        can: [],
        createdAt: undefined,
        createdVia: 'pos',
        createdBy: 'cashier@test',
        updatedAt: undefined,
        updatedVia: 'pos',
        updatedBy: 'cashier@test',
      },
    );
    assert.ok(Number.isInteger(order.number) && order.number >= 1);
    const stored = await t.database.db
      .selectFrom('orders')
      .select('total_minor')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    assert.equal(stored.total_minor, 12345);
    assert.deepEqual(await eventTypes(id), ['order.created']);
  });

  void test('JPY has no decimals', async () => {
    const jpy = await t.createOrg('JPY');
    const id = await createOrder(jpy, { total: 1500 });
    assert.equal((await get(jpy, id)).total, 1500);
    const r = await post(jpy, { total: 1500.5 });
    assert.equal(json(r).error.code, 'InvalidParameter');
    assert.equal(json(r).error.details.field, 'total');
  });

  void test('invalid totals are InvalidParameter naming total, and store nothing', async () => {
    const before = await t.database.db
      .selectFrom('orders')
      .select('id')
      .where('organization_id', '=', org.id)
      .execute();
    for (const total of [0, -1, 1.2345, '10', 1e308, null, true]) {
      const r = await post(org, { total });
      assert.equal(r.statusCode, 400, `${String(total)}: ${r.body}`);
      assert.equal(json(r).error.code, 'InvalidParameter');
      assert.equal(json(r).error.details.field, 'total');
    }
    for (const params of [
      {},
      { total: 1, customerUid: '' },
      { total: 1, externalRef: 'x'.repeat(129) },
      { total: 1, status: 'closed' },
      { total: 1, paidAmount: 1 },
    ]) {
      const r = await post(org, params);
      assert.equal(json(r).error.code, 'InvalidParameter', JSON.stringify(params));
    }
    const after = await t.database.db
      .selectFrom('orders')
      .select('id')
      .where('organization_id', '=', org.id)
      .execute();
    assert.equal(after.length, before.length);
  });

  void test('externalRef: a repeat converges on one order; other content is DUPLICATE_EXTERNAL_REF', async () => {
    const id = await createOrder(org, { total: 5, externalRef: 'web-1' });
    const again = await post(org, { total: 5, externalRef: 'web-1' });
    assert.equal(json(again).data.id, id);
    assert.equal(json(again).warnings[0].code, 'ALREADY_RECORDED');
    const different = await post(org, { total: 6, externalRef: 'web-1' });
    assert.equal(json(different).error.code, 'DUPLICATE_EXTERNAL_REF');
    // The same externalRef in another organization is independent.
    const elsewhere = await post(other, { total: 5, externalRef: 'web-1' });
    assert.notEqual(json(elsewhere).data.id, id);
  });

  void test('concurrent creates with one externalRef make exactly one order', async () => {
    const replies = await Promise.all(
      Array.from({ length: 12 }, () => post(org, { total: 7, externalRef: 'race-1' })),
    );
    for (const r of replies) assert.equal(r.statusCode, 200, r.body);
    assert.equal(new Set(replies.map((r) => json(r).data.id)).size, 1);
    const rows = await t.database.db
      .selectFrom('orders')
      .select('id')
      .where('organization_id', '=', org.id)
      .where('external_ref', '=', 'race-1')
      .execute();
    assert.equal(rows.length, 1);
  });

  void test('order numbers are a per-organization sequence with no duplicates under concurrency', async () => {
    const fresh = await t.createOrg('SAR');
    const ids = await Promise.all(
      Array.from({ length: 40 }, () => createOrder(fresh, { total: 1 })),
    );
    const numbers = (
      await t.database.db
        .selectFrom('orders')
        .select('number')
        .where('organization_id', '=', fresh.id)
        .execute()
    )
      .map((r) => r.number)
      .sort((a, b) => a - b);
    assert.equal(ids.length, 40);
    assert.deepEqual(
      numbers,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
  });

  void test('paging through 250 orders with equal timestamps skips and repeats nothing', async () => {
    const paged = await t.createOrg('SAR');
    const ids = await Promise.all(
      Array.from({ length: 250 }, () => createOrder(paged, { total: 1 })),
    );
    await t.database.db
      .updateTable('orders')
      .set({ created_at: '2026-01-01T00:00:00.000Z' })
      .where('organization_id', '=', paged.id)
      .execute();
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await t.call(paged, 'viewer', {
        method: 'GET',
        url: `/v1/om/orders?limit=23${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      });
      const page: any = json(r).data;
      seen.push(...page.items.map((o: any) => o.id));
      cursor = page.next;
      pages++;
    } while (cursor !== null && pages < 50);
    assert.equal(pages, Math.ceil(250 / 23));
    assert.equal(seen.length, 250);
    assert.equal(new Set(seen).size, 250);
    assert.deepEqual(new Set(seen), new Set(ids));
    assert.deepEqual(seen, [...seen].sort().reverse(), 'ties broken by id, newest first');
  });

  void test('list filters: status, customerUid, created range', async () => {
    const f = await t.createOrg('SAR');
    const a = await createOrder(f, { total: 1, customerUid: 'alice' });
    const b = await createOrder(f, { total: 1, customerUid: 'bob' });
    await setFigures(b, { status: 'closed' });
    const list = async (q: string) =>
      json(await t.call(f, 'viewer', { method: 'GET', url: `/v1/om/orders?${q}` })).data.items.map(
        (o: any) => o.id,
      );
    assert.deepEqual(await list('customerUid=alice'), [a]);
    assert.deepEqual(await list('status=closed'), [b]);
    assert.deepEqual(await list('status=open&customerUid=bob'), []);
    assert.deepEqual(await list('createdFrom=2999-01-01T00:00:00Z'), []);
    assert.deepEqual((await list('createdTo=2999-01-01T00:00:00%2B03:00')).length, 2);
    for (const bad of [
      'status=paid',
      'createdFrom=yesterday',
      'limit=101',
      'color=red',
      'number=0',
      'number=x',
      `externalRef=${'x'.repeat(129)}`,
    ]) {
      const r = await t.call(f, 'viewer', { method: 'GET', url: `/v1/om/orders?${bad}` });
      assert.equal(json(r).error.code, 'InvalidParameter', bad);
    }
  });

  void test('list filters: number and externalRef find one order, never another organization’s', async () => {
    const f = await t.createOrg('SAR');
    const g = await t.createOrg('SAR');
    const a = await createOrder(f, { total: 1, externalRef: 'POS-1/42' });
    const b = await createOrder(f, { total: 1 });
    const foreign = await createOrder(g, { total: 1, externalRef: 'POS-1/43' });
    const numberOf = async (o: TestOrg, id: string) => (await get(o, id)).number as number;
    const list = async (o: TestOrg, q: string) =>
      json(await t.call(o, 'viewer', { method: 'GET', url: `/v1/om/orders?${q}` })).data.items.map(
        (x: any) => x.id,
      );
    assert.deepEqual(await list(f, `number=${await numberOf(f, b)}`), [b]);
    assert.deepEqual(await list(f, `externalRef=${encodeURIComponent('POS-1/42')}`), [a]);
    assert.deepEqual(await list(f, `externalRef=POS-1%2F43`), []);
    assert.deepEqual(await list(f, `number=${await numberOf(g, foreign)}&externalRef=none`), []);
    assert.deepEqual(await list(f, 'number=999999'), []);
  });

  void test('update: total and customer while open; never below what is paid or reserved', async () => {
    const id = await createOrder(org, { total: 10 });
    let r = await t.call(org, 'cashier', {
      method: 'PATCH',
      url: `/v1/om/orders/${id}`,
      payload: { params: { total: 20.5, customerUid: 'c-9' } },
    });
    assert.deepEqual(json(r).data, { success: true });
    let order = await get(org, id);
    assert.equal(order.total, 20.5);
    assert.equal(order.customerUid, 'c-9');
    r = await t.call(org, 'cashier', {
      method: 'PATCH',
      url: `/v1/om/orders/${id}`,
      payload: { params: { customerUid: null } },
    });
    assert.equal((await get(org, id)).customerUid, null);
    await setFigures(id, { paid: 5000, pending: 3000 });
    r = await t.call(org, 'cashier', {
      method: 'PATCH',
      url: `/v1/om/orders/${id}`,
      payload: { params: { total: 7.999 } },
    });
    assert.equal(json(r).error.code, 'InvalidParameter');
    assert.equal(json(r).error.details.minimum, 8);
    r = await t.call(org, 'cashier', {
      method: 'PATCH',
      url: `/v1/om/orders/${id}`,
      payload: { params: { total: 8 } },
    });
    assert.equal(r.statusCode, 200);
    await setFigures(id, { paid: 8000, pending: 0 });
    r = await t.call(org, 'cashier', {
      method: 'PATCH',
      url: `/v1/om/orders/${id}`,
      payload: { params: { total: 8.001 } },
    });
    assert.deepEqual(json(r).warnings, []);
    r = await t.call(org, 'cashier', {
      method: 'PATCH',
      url: `/v1/om/orders/${id}`,
      payload: { params: { total: 8 } },
    });
    assert.equal(json(r).warnings[0].code, 'ORDER_FULLY_PAID');
    order = await get(org, id);
    assert.equal(order.balanceDue, 0);
    const events = await t.database.db
      .selectFrom('events')
      .selectAll()
      .where('entity_id', '=', id)
      .orderBy('id')
      .execute();
    assert.equal(events.length, 6);
    assert.deepEqual(JSON.parse(events[1]!.changes!).total, { before: 10, after: 20.5 });
    assert.equal(events[1]!.actor_by, 'cashier@test');
  });

  void test('close, cancel, reopen: settled rules, errors, timestamps, events', async () => {
    const id = await createOrder(org, { total: 10 });
    const act = (action: string, role: Role = 'manager') =>
      t.call(org, role, { method: 'PATCH', url: `/v1/om/orders/${id}/${action}` });
    assert.equal(json(await act('close')).error.code, 'ORDER_NOT_SETTLED');
    await setFigures(id, { paid: 10000, pendingRefunds: 100 });
    assert.equal(json(await act('close')).error.code, 'ORDER_NOT_SETTLED');
    assert.equal(json(await act('cancel')).error.code, 'ORDER_NOT_SETTLED');
    await setFigures(id, { pendingRefunds: 0 });
    assert.deepEqual(json(await act('close', 'cashier')).data, { success: true });
    let order = await get(org, id);
    assert.equal(order.status, 'closed');
    assert.ok(order.closedAt);
    assert.equal(json(await act('close')).error.code, 'ORDER_CLOSED');
    assert.equal(json(await act('cancel')).error.code, 'ORDER_CLOSED');
    const upd = await t.call(org, 'manager', {
      method: 'PATCH',
      url: `/v1/om/orders/${id}`,
      payload: { params: { total: 11 } },
    });
    assert.equal(json(upd).error.code, 'ORDER_CLOSED');
    assert.equal((await act('reopen', 'cashier')).statusCode, 403);
    assert.equal(json(await act('reopen')).data.success, true);
    order = await get(org, id);
    assert.equal(order.status, 'open');
    assert.equal(json(await act('reopen')).error.code, 'INVALID_STATUS');
    await setFigures(id, { paid: 0 });
    assert.equal(json(await act('cancel', 'cashier')).error.code, 'FORBIDDEN');
    assert.equal(json(await act('cancel')).data.success, true);
    order = await get(org, id);
    assert.equal(order.status, 'canceled');
    assert.ok(order.canceledAt);
    for (const action of ['close', 'cancel', 'reopen'])
      assert.equal(json(await act(action)).error.code, 'ORDER_CANCELED');
    assert.deepEqual(await eventTypes(id), [
      'order.created',
      'order.closed',
      'order.reopened',
      'order.canceled',
    ]);
  });

  void test('`can` lists exactly what the actions then allow, for every state and role', async () => {
    const states: Record<
      string,
      { paid?: number; pending?: number; status?: 'open' | 'closed' | 'canceled' }
    > = {
      fresh: {},
      pending: { pending: 1000 },
      partlyPaid: { paid: 4000 },
      settled: { paid: 10000 },
      closed: { paid: 10000, status: 'closed' },
      canceled: { status: 'canceled' },
    };
    const roles: Role[] = ['viewer', 'cashier', 'manager', 'admin'];
    let checked = 0;
    for (const [name, figures] of Object.entries(states)) {
      for (const role of roles) {
        const probe = await createOrder(org, { total: 10 });
        await setFigures(probe, figures);
        const can: string[] = (await get(org, probe, role)).can;
        for (const action of ORDER_ACTIONS) {
          const id = await createOrder(org, { total: 10 });
          await setFigures(id, figures);
          const r =
            action === 'update'
              ? await t.call(org, role, {
                  method: 'PATCH',
                  url: `/v1/om/orders/${id}`,
                  payload: { params: { customerUid: 'x' } },
                })
              : await t.call(org, role, { method: 'PATCH', url: `/v1/om/orders/${id}/${action}` });
          assert.equal(
            r.statusCode === 200,
            can.includes(action),
            `${name} × ${role} × ${action}: ${r.body}`,
          );
          if (r.statusCode !== 200)
            assert.equal(
              (await get(org, id)).updatedAt,
              (await get(org, id)).createdAt,
              'a refused action changes nothing',
            );
          checked++;
        }
      }
    }
    assert.equal(checked, 6 * 4 * 4);
  });

  void test('roles: viewers read only; cashiers create and update', async () => {
    assert.equal((await post(org, { total: 1 }, 'viewer')).statusCode, 403);
    const id = await createOrder(org);
    const r = await t.call(org, 'viewer', {
      method: 'PATCH',
      url: `/v1/om/orders/${id}`,
      payload: { params: { total: 2 } },
    });
    assert.equal(r.statusCode, 403);
    assert.equal((await get(org, id)).total, 10);
  });

  void test("tenant isolation: another organization's order is exactly like a missing one", async () => {
    const foreign = await createOrder(other, { total: 3, customerUid: 'shared-customer' });
    const missing = '01900000-0000-7000-8000-000000000000';
    const routes = [
      ['GET', ''],
      ['PATCH', ''],
      ['PATCH', '/close'],
      ['PATCH', '/cancel'],
      ['PATCH', '/reopen'],
    ] as const;
    for (const [method, suffix] of routes) {
      const payload = method === 'PATCH' && suffix === '' ? { params: { total: 1 } } : undefined;
      const a = await t.call(org, 'admin', {
        method,
        url: `/v1/om/orders/${foreign}${suffix}`,
        ...(payload && { payload }),
      });
      const b = await t.call(org, 'admin', {
        method,
        url: `/v1/om/orders/${missing}${suffix}`,
        ...(payload && { payload }),
      });
      assert.equal(a.statusCode, 404, `${method} ${suffix}`);
      assert.deepEqual(json(a).error, json(b).error);
    }
    const list = json(
      await t.call(org, 'admin', {
        method: 'GET',
        url: '/v1/om/orders?limit=100&customerUid=shared-customer',
      }),
    ).data.items;
    assert.deepEqual(list, []);
    assert.equal((await get(other, foreign)).total, 3, 'untouched');
  });

  void test("GET /orders/{uid}/payments: the seed's {items, paymentMethods} shape, deleted payments hidden", async () => {
    const id = await createOrder(org, { total: 10 });
    const method = json(
      await t.call(org, 'admin', {
        method: 'POST',
        url: '/v1/om/payment-methods',
        payload: {
          params: {
            locales: { ar: { name: 'نقدي' }, en: { name: 'Cash' } },
            code: 'cash-orders-test',
          },
        },
      }),
    ).data.id;
    const base = {
      organization_id: org.id,
      order_id: id,
      custom: 1,
      method_id: method,
      customer_uid: null,
      source_payment_id: null,
      transaction_ref: null,
      attrs: '{"till":3}',
      invoice_id: null,
      note: null,
      reversed_at: null,
      created_at: '2026-01-01T00:00:00.000Z',
      created_by: 'x',
      created_via: 'pos',
      updated_at: '2026-01-01T00:00:00.000Z',
      updated_by: 'x',
      updated_via: 'pos',
    };
    await t.database.db
      .insertInto('payments')
      .values([
        {
          ...base,
          id: 'p-complete',
          type: 'receipt',
          status: 'complete',
          amount_minor: 4000,
          completed_at: base.created_at,
          deleted_at: null,
        },
        {
          ...base,
          id: 'p-deleted',
          type: 'receipt',
          status: 'pending',
          amount_minor: 1000,
          completed_at: null,
          deleted_at: base.created_at,
        },
      ])
      .execute();
    await setFigures(id, { paid: 4000 });
    const data = json(
      await t.call(org, 'manager', { method: 'GET', url: `/v1/om/orders/${id}/payments` }),
    ).data;
    assert.deepEqual(
      data.items.map((p: any) => p.id),
      ['p-complete'],
    );
    const [item] = data.items;
    assert.equal(item.amount, 4);
    assert.equal(item.methodUid, method);
    assert.deepEqual(item.attrs, { till: 3 });
    assert.equal(item.refundedAmount, 0);
    assert.equal(item.refundableAmount, 4);
    assert.deepEqual(item.can, ['update', 'correct', 'reverse', 'refund']);
    assert.deepEqual(
      data.paymentMethods.map((m: any) => [m.id, m.locales.ar.name]),
      [[method, 'نقدي']],
    );
    const asCashier = json(
      await t.call(org, 'cashier', { method: 'GET', url: `/v1/om/orders/${id}/payments` }),
    ).data;
    assert.deepEqual(asCashier.items[0].can, ['refund']);
    const foreign = await t.call(other, 'admin', {
      method: 'GET',
      url: `/v1/om/orders/${id}/payments`,
    });
    assert.equal(foreign.statusCode, 404);
  });

  void test('the OpenAPI document lists every order endpoint with its schemas', async () => {
    const doc = json(await t.app.inject({ method: 'GET', url: '/openapi.json' }));
    for (const path of [
      '/v1/om/orders',
      '/v1/om/orders/{uid}',
      '/v1/om/orders/{uid}/close',
      '/v1/om/orders/{uid}/cancel',
      '/v1/om/orders/{uid}/reopen',
    ]) {
      assert.ok(doc.paths[path], path);
    }
    assert.ok(doc.paths['/v1/om/orders'].post.requestBody);
    assert.ok(doc.paths['/v1/om/orders/{uid}'].get.responses['200']);
  });
});
