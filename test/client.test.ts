// API.md §10: a whole sale through the generated TypeScript client (clients/typescript),
// against the real service listening on loopback: a method and an order, a pending receipt,
// its confirmation, a partial refund, the order's balance, the refund's reversal. The types
// of every call and answer come from the served document, so `tsc --noEmit` over this file
// checks the client against the API as well.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createOmClient, type OmClient } from '../clients/typescript/index.ts';
import { startTestApp, type TestApp, type TestOrg } from './support/app.ts';

void describe('the typed client', () => {
  let t: TestApp;
  let org: TestOrg;
  let baseUrl: string;
  const as = (role: 'cashier' | 'manager' | 'admin'): OmClient =>
    createOmClient({ baseUrl, apiKey: org.keys[role], organizationId: org.id });

  before(async () => {
    t = await startTestApp({ rateLimitPerMinute: 0 });
    org = await t.createOrg('KWD');
    baseUrl = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => t.close());

  void test('a whole sale, typed from the served document', async () => {
    const admin = as('admin');
    const cashier = as('cashier');
    const manager = as('manager');

    const method = await admin.POST('/v1/om/payment-methods', {
      body: {
        params: {
          locales: { ar: { name: 'بطاقة' }, en: { name: 'Card', description: null } },
          code: 'card',
        },
      },
    });
    assert.equal(method.response.status, 200);
    const methodId = method.data!.data.id;

    const order = await cashier.POST('/v1/om/orders', {
      body: { params: { total: 12.75, customerUid: null } },
    });
    const orderId = order.data!.data.id;

    const receipt = await cashier.POST('/v1/om/payments', {
      params: { header: { 'idempotency-key': `sale-${orderId}` } },
      body: { params: { orderId, type: 'receipt', methodId, sourcePaymentId: null } },
    });
    assert.equal(receipt.response.status, 200, JSON.stringify(receipt.error));
    const receiptId = receipt.data!.data.id;

    const pending = await cashier.GET('/v1/om/payments/{uid}', {
      params: { path: { uid: receiptId } },
    });
    assert.equal(pending.data!.data.payment.status, 'pending');
    assert.equal(pending.data!.data.payment.amount, 12.75);

    const confirmed = await cashier.PATCH('/v1/om/payments/{uid}/confirm', {
      params: { path: { uid: receiptId } },
      body: { params: { transactionRef: 'GW-1' } },
    });
    assert.equal(confirmed.response.status, 200);
    const confirmedData = confirmed.data!.data;
    assert.ok('items' in confirmedData, 'the default answer lists the payments');
    assert.equal(confirmedData.items[0]!.status, 'complete');

    const refund = await cashier.POST('/v1/om/payments', {
      body: { params: { orderId, type: 'refund', sourcePaymentId: receiptId, amount: 2.5 } },
    });
    assert.equal(refund.response.status, 200, JSON.stringify(refund.error));
    const refundId = refund.data!.data.id;
    await cashier.PATCH('/v1/om/payments/{uid}/confirm', {
      params: { path: { uid: refundId }, header: { prefer: 'return=minimal' } },
    });

    const read = async () =>
      (await cashier.GET('/v1/om/orders/{uid}', { params: { path: { uid: orderId } } })).data!.data
        .order;
    const afterRefund = await read();
    assert.equal(afterRefund.paidAmount, 10.25);
    assert.equal(afterRefund.refundedAmount, 2.5);
    assert.equal(afterRefund.balanceDue, 2.5);

    // A refund above what is left of the receipt: a typed error answer.
    const tooMuch = await cashier.POST('/v1/om/payments', {
      body: { params: { orderId, type: 'refund', sourcePaymentId: receiptId, amount: 11 } },
    });
    assert.equal(tooMuch.response.status, 400);
    assert.equal(tooMuch.error!.error.code, 'LIMIT_REACHED');

    const reversed = await manager.PATCH('/v1/om/payments/{uid}', {
      params: { path: { uid: refundId } },
      body: { params: { status: 'reversed' } },
    });
    assert.equal(reversed.response.status, 200, JSON.stringify(reversed.error));
    assert.equal(reversed.data!.data.success, true);
    const afterReversal = await read();
    assert.equal(afterReversal.paidAmount, 12.75);
    assert.equal(afterReversal.refundedAmount, 0);
    assert.equal(afterReversal.balanceDue, 0);
    assert.ok(afterReversal.can.includes('close'));

    const history = await cashier.GET('/v1/om/payments/{uid}/history', {
      params: { path: { uid: refundId } },
    });
    assert.deepEqual(
      history.data!.data.items.map((e) => e.type),
      ['payment.created', 'payment.confirmed', 'payment.reversed'],
    );

    // The sale as the feed gives it (API.md §7.1): `limit` and `wait` have defaults, so a
    // typed call may leave them out; `next` is a string to pass back as `after`.
    const feed = await cashier.GET('/v1/om/events', {
      params: { query: { entityId: refundId } },
    });
    assert.equal(feed.response.status, 200, JSON.stringify(feed.error));
    assert.deepEqual(
      feed.data!.data.items.map((e) => e.type),
      ['payment.created', 'payment.confirmed', 'payment.reversed'],
    );
    const after = await cashier.GET('/v1/om/events', {
      params: { query: { entityId: refundId, after: feed.data!.data.next } },
    });
    assert.equal(after.data!.data.items.length, 0);

    // Webhooks are the admin's: a manager gets a typed 403 naming the role it needs.
    const hooks = await manager.GET('/v1/om/webhook-endpoints');
    assert.equal(hooks.response.status, 403);
    assert.equal(hooks.error!.error.code, 'FORBIDDEN');
    assert.equal(hooks.error!.error.details?.requiredRole, 'admin');
  });
});
