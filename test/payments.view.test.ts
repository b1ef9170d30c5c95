// orderPaymentsOf and listedPaymentsOf (src/payments/payments.view.ts) build `{items,
// paymentMethods}` from rows read together: the methods the items use, in the order they
// first use them — and, should the method or order rows read beside the payments lack one
// (the page moved, or a payment changed method, between the statements), that row read on
// its own. GET /payments sends its three reads in one round trip on PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDatabase, type ExecutedStatement } from '../src/db/engine.ts';
import { findOrder } from '../src/orders/orders.repository.ts';
import { findPaymentMethodsByIds } from '../src/payment-methods/payment-methods.repository.ts';
import { findPaymentsOfOrder } from '../src/payments/payments.repository.ts';
import { listPayments } from '../src/payments/payments.service.ts';
import { listedPaymentsOf, orderPaymentsOf } from '../src/payments/payments.view.ts';
import type { RequestContext } from '../src/shared/context.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';
import { TEST_ENGINE } from './support/database.ts';

void describe(`orderPaymentsOf (${TEST_ENGINE})`, () => {
  let t: TestApp;
  let org: TestOrg;
  let ctx: RequestContext;
  const methods: string[] = [];
  let orderId: string;

  before(async () => {
    t = await startTestApp({ rateLimitPerMinute: 0 });
    org = await t.createOrg('SAR');
    for (const name of ['Cash', 'Card']) {
      const made = await t.call(org, 'admin', {
        method: 'POST',
        url: '/v1/om/payment-methods',
        payload: { params: { locales: { ar: { name }, en: { name } } } },
      });
      methods.push(json(made).data.id as string);
    }
    orderId = json(
      await t.call(org, 'cashier', {
        method: 'POST',
        url: '/v1/om/orders',
        payload: { params: { total: 100 } },
      }),
    ).data.id as string;
    // Card first, then cash twice: newest first, the list uses cash, then card.
    for (const methodId of [methods[1], methods[0], methods[0]]) {
      const paid = await t.call(org, 'cashier', {
        method: 'POST',
        url: '/v1/om/payments',
        payload: { params: { orderId, type: 'receipt', methodId, amount: 1 } },
      });
      assert.equal(paid.statusCode, 200, paid.body);
    }
    ctx = {
      keyId: null,
      principal: 'view@test',
      via: 'test',
      role: 'manager',
      allOrganizations: false,
      organizationIds: new Set([org.id]),
      requestId: 'view-test',
      organization: {
        id: org.id,
        currency: 'SAR',
        currencyExponent: 2,
        maxAmountMinor: 10 ** 12,
        maxPaymentsPerOrder: 100,
      },
    };
  });
  after(() => t.close());

  const read = async () => {
    const { db } = t.database;
    const order = (await findOrder(db, org.id, orderId))!;
    const { rows } = await findPaymentsOfOrder(db, org.id, orderId);
    return { db, order, rows };
  };

  void test('the methods the items use, in the order they first use them', async () => {
    const { db, order, rows } = await read();
    const all = await findPaymentMethodsByIds(db, org.id, [methods[1]!, methods[0]!]);
    const answer = await orderPaymentsOf(db, ctx, order, rows, all);
    assert.deepEqual(
      answer.items.map((p) => p.methodUid),
      [methods[0], methods[0], methods[1]],
    );
    assert.deepEqual(
      answer.paymentMethods.map((m) => m.id),
      [methods[0], methods[1]],
    );
  });

  void test('a method missing beside the payments is read on its own; unused ones are left out', async () => {
    const { db, order, rows } = await read();
    const cardOnly = await findPaymentMethodsByIds(db, org.id, [methods[1]!]);
    const answer = await orderPaymentsOf(db, ctx, order, rows, cardOnly);
    assert.deepEqual(
      answer.paymentMethods.map((m) => m.id),
      [methods[0], methods[1]],
    );
    const cashOnlyRows = rows.filter((r) => r.method_id === methods[0]);
    const both = await findPaymentMethodsByIds(db, org.id, methods);
    const fewer = await orderPaymentsOf(db, ctx, order, cashOnlyRows, both);
    assert.deepEqual(
      fewer.paymentMethods.map((m) => m.id),
      [methods[0]],
    );
  });

  void test('a page of payments answers like the order’s list; an order missing beside it is read on its own', async () => {
    const { db, order, rows } = await read();
    const methodRows = await findPaymentMethodsByIds(db, org.id, methods);
    const expected = await orderPaymentsOf(db, ctx, order, rows, methodRows);
    assert.deepEqual(await listedPaymentsOf(db, ctx, rows, [order], methodRows), expected);
    // No order rows at all: each is read, so `can` and the refundable figures still follow it.
    assert.deepEqual(await listedPaymentsOf(db, ctx, rows, [], methodRows), expected);
    assert.ok(expected.items.every((p) => p.can.includes('confirm')));
  });

  void test('GET /payments: the page, its orders and its methods in one round trip on PostgreSQL', async () => {
    const seen: ExecutedStatement[] = [];
    const watched = createDatabase(t.testDatabase.config, { onStatement: (s) => seen.push(s) });
    try {
      const page = await listPayments(watched, ctx, { orderId, limit: 2 });
      assert.equal(page.items.length, 2);
      assert.ok(page.next !== null);
      assert.deepEqual(
        page.paymentMethods.map((m) => m.id),
        [methods[0]],
      );
      // withNext: the statement went in the same round trip as the one after it.
      assert.deepEqual(
        seen.map((s) => Boolean(s.withNext)),
        TEST_ENGINE === 'postgres' ? [true, true, false] : [false, false, false],
      );
    } finally {
      await watched.close();
    }
  });
});
