// API.md §1 (null for absent) and §3.2 (an order's total may be 0), through HTTP on the
// engine under test: tried as an integrator would — reading a payment and sending its fields
// back, and selling a staff meal.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import type { Role } from '../src/db/schema.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

void describe('integrator contract', () => {
  let t: TestApp;
  let org: TestOrg;
  let cash: string;

  const call = (role: Role, options: InjectOptions) => t.call(org, role, options);
  async function okData(role: Role, options: InjectOptions) {
    const r = await call(role, options);
    assert.equal(
      r.statusCode,
      200,
      `${String(options.method)} ${JSON.stringify(options.url)}: ${r.body}`,
    );
    return json(r).data;
  }
  async function refused(role: Role, options: InjectOptions, code: string, field?: string) {
    const r = await call(role, options);
    assert.equal(r.statusCode, code === 'FORBIDDEN' ? 403 : 400, r.body);
    const { error } = json(r);
    assert.equal(error.code, code, r.body);
    if (field !== undefined) assert.equal(error.details.field, field, r.body);
    return error;
  }
  const newOrder = async (params: object) =>
    (await okData('cashier', { method: 'POST', url: '/v1/om/orders', payload: { params } }))
      .id as string;
  const order = async (id: string) =>
    (await okData('cashier', { method: 'GET', url: `/v1/om/orders/${id}` })).order;
  const payment = async (id: string) =>
    (await okData('viewer', { method: 'GET', url: `/v1/om/payments/${id}` })).payment;
  const pay = (params: object, role: Role = 'cashier') =>
    call(role, { method: 'POST', url: '/v1/om/payments', payload: { params } });

  before(async () => {
    t = await startTestApp();
    org = await t.createOrg('SAR');
    cash = (
      await okData('admin', {
        method: 'POST',
        url: '/v1/om/payment-methods',
        payload: {
          params: {
            locales: { ar: { name: 'نقد' }, en: { name: 'Cash', description: null } },
            visible: null,
            code: null,
          },
        },
      })
    ).id;
  });
  after(() => t.close());

  void test('null for every optional field of a create means absent', async () => {
    const method = (await okData('admin', { method: 'GET', url: `/v1/om/payment-methods/${cash}` }))
      .paymentMethod;
    assert.equal(method.visible, true, 'visible: null took the default');
    assert.equal(method.code, null);
    const orderId = await newOrder({ total: 30, customerUid: null, externalRef: null });
    assert.equal((await order(orderId)).customerUid, null);
    const invoiceId = (
      await okData('manager', {
        method: 'POST',
        url: '/v1/om/invoices',
        payload: {
          params: { orderId, type: null, referenceInvoiceId: null, applyExpiresAt: null },
        },
      })
    ).id;
    const created = await pay({
      orderId,
      type: 'receipt',
      methodId: cash,
      amount: null,
      custom: null,
      status: null,
      customerUid: null,
      sourcePaymentId: null,
      transactionRef: null,
      attrs: null,
      invoiceId: null,
      note: null,
    });
    assert.equal(created.statusCode, 200, created.body);
    const receipt = await payment(json(created).data.id);
    assert.equal(receipt.amount, 30, 'amount: null took the remaining capacity');
    assert.equal(receipt.custom, false);
    assert.equal(receipt.status, 'pending');
    assert.deepEqual(receipt.attrs, {});
    // A body-less action with null fields.
    await okData('cashier', {
      method: 'PATCH',
      url: `/v1/om/payments/${receipt.id}/confirm`,
      payload: { params: { customerUid: null, transactionRef: null, attrs: null } },
    });
    assert.equal((await payment(receipt.id)).status, 'complete');
    await okData('manager', {
      method: 'PATCH',
      url: `/v1/om/invoices/${invoiceId}/close`,
      payload: { params: { invoiceSource: null } },
    });
    // Still refused: null for a required field, and a wrong type.
    await refused(
      'cashier',
      { method: 'POST', url: '/v1/om/orders', payload: { params: { total: null } } },
      'InvalidParameter',
      'total',
    );
    const bad = await pay({ orderId: null, type: 'receipt', methodId: cash });
    assert.equal(json(bad).error.details.field, 'orderId');
  });

  void test('a payment read and sent back is understood; null clears only where clearing is allowed', async () => {
    const orderId = await newOrder({ total: 20 });
    const created = await pay({
      orderId,
      type: 'receipt',
      methodId: cash,
      amount: 20,
      status: 'complete',
      customerUid: 'c-1',
      transactionRef: 'T-1',
      note: 'first',
    });
    const id = json(created).data.id as string;
    const read = await payment(id);
    // The updatable fields exactly as read, with the nulls the receipt shows.
    const sentBack = {
      customerUid: null,
      sourcePaymentId: read.sourcePaymentId,
      transactionRef: null,
      note: null,
      attrs: read.attrs,
    };
    assert.equal(read.sourcePaymentId, null);
    await okData('manager', {
      method: 'PATCH',
      url: `/v1/om/payments/${id}`,
      payload: { params: sentBack },
    });
    const cleared = await payment(id);
    assert.equal(cleared.customerUid, null);
    assert.equal(cleared.transactionRef, null);
    assert.equal(cleared.note, null);
    assert.equal(cleared.amount, 20);

    // A refund's source cannot be removed; money fields cannot be null.
    const refund = await pay(
      { orderId, type: 'refund', sourcePaymentId: id, amount: 5 },
      'manager',
    );
    assert.equal(refund.statusCode, 200, refund.body);
    const refundId = json(refund).data.id as string;
    const patch = (params: object) => ({
      method: 'PATCH' as const,
      url: `/v1/om/payments/${refundId}`,
      payload: { params },
    });
    const error = await refused(
      'manager',
      patch({ sourcePaymentId: null }),
      'InvalidParameter',
      'sourcePaymentId',
    );
    assert.equal(error.details.reason, 'cannot be cleared');
    await refused('manager', patch({ amount: null }), 'InvalidParameter', 'amount');
    await refused('manager', patch({ methodId: null }), 'InvalidParameter', 'methodId');
    assert.equal((await payment(refundId)).sourcePaymentId, id, 'nothing changed');
    // Updates of orders: null clears the customer, never the total.
    await okData('cashier', {
      method: 'PATCH',
      url: `/v1/om/orders/${orderId}`,
      payload: { params: { customerUid: null } },
    });
    await refused(
      'cashier',
      { method: 'PATCH', url: `/v1/om/orders/${orderId}`, payload: { params: { total: null } } },
      'InvalidParameter',
      'total',
    );
  });

  void test('a zero-total order is settled at once: read, refused receipts, closed without payments', async () => {
    const id = await newOrder({ total: 0, externalRef: 'staff-meal-1' });
    const fresh = await order(id);
    assert.equal(fresh.total, 0);
    assert.equal(fresh.balanceDue, 0);
    assert.equal(fresh.paidAmount, 0);
    assert.ok(fresh.can.includes('close'), fresh.can.join());
    // A receipt would be over the total: the same rule as any order (§6.2).
    for (const params of [
      { orderId: id, type: 'receipt', methodId: cash, amount: 1 },
      { orderId: id, type: 'receipt', methodId: cash },
    ]) {
      const r = await pay(params);
      assert.equal(r.statusCode, 400, r.body);
      assert.equal(json(r).error.code, 'LIMIT_REACHED');
      assert.equal(json(r).error.details.available, 0);
    }
    // Nothing received, nothing to refund.
    const refund = await pay({ orderId: id, type: 'refund', methodId: cash, amount: 1 }, 'manager');
    assert.equal(json(refund).error.code, 'LIMIT_REACHED', refund.body);
    // A repeat of the create converges on the same order.
    const again = await call('cashier', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total: 0, externalRef: 'staff-meal-1' } },
    });
    assert.equal(json(again).data.id, id);
    await okData('cashier', { method: 'PATCH', url: `/v1/om/orders/${id}/close` });
    const closed = await order(id);
    assert.equal(closed.status, 'closed');
    assert.equal(closed.balanceDue, 0);
  });

  void test('an order may be discounted to 0 while nothing is paid, and 0 is still refused as a payment amount', async () => {
    const id = await newOrder({ total: 12.5 });
    const pending = json(await pay({ orderId: id, type: 'receipt', methodId: cash, amount: 2 }))
      .data.id as string;
    const update = (total: number) =>
      call('cashier', {
        method: 'PATCH',
        url: `/v1/om/orders/${id}`,
        payload: { params: { total } },
      });
    const refusedUpdate = await update(0);
    assert.equal(json(refusedUpdate).error.details.field, 'total', refusedUpdate.body);
    await okData('cashier', { method: 'DELETE', url: `/v1/om/payments/${pending}` });
    assert.equal((await update(0)).statusCode, 200);
    assert.equal((await order(id)).balanceDue, 0);
    const negative = await update(-1);
    assert.equal(json(negative).error.details.reason, 'must not be negative');
    const zero = await pay({ orderId: id, type: 'receipt', methodId: cash, amount: 0 });
    assert.equal(json(zero).error.code, 'InvalidParameter');
    assert.equal(json(zero).error.details.field, 'amount');
    assert.equal(json(zero).error.details.reason, 'must be greater than zero');
  });
});
