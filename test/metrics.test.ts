// API.md §9: /metrics carries the service's own figures after a small workload — payment
// writes by operation, type, status and outcome, idempotent replays and conflicts, the
// order lock's wait, request durations by route pattern and status — and with METRICS=0
// none of it is collected.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import type { Role } from '../src/db/schema.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

/** Every sample of the text format as `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    found.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return found;
}

void describe('business metrics', () => {
  let t: TestApp;
  let org: TestOrg;
  const call = (role: Role, options: InjectOptions) => t.call(org, role, options);
  const scrape = async () => {
    const r = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 200);
    return samples(r.body);
  };
  const value = (all: Map<string, number>, key: string) => all.get(key) ?? 0;

  before(async () => {
    t = await startTestApp({ rateLimitPerMinute: 0 });
    org = await t.createOrg('SAR');
  });
  after(() => t.close());

  void test('a small sale shows in the business series, with route patterns and no ids', async () => {
    const before = await scrape();
    const post = async (role: Role, url: string, params: object, headers = {}) =>
      call(role, { method: 'POST', url, payload: { params }, headers });
    const method = json(
      await post('admin', '/v1/om/payment-methods', {
        locales: { ar: { name: 'نقد' }, en: { name: 'Cash' } },
      }),
    ).data.id;
    const orderId = json(await post('cashier', '/v1/om/orders', { total: 10 })).data.id;
    const receipt = { orderId, type: 'receipt', methodId: method, amount: 10 };
    const created = await post('cashier', '/v1/om/payments', receipt, { 'idempotency-key': 'k-1' });
    const id = json(created).data.id as string;
    // A replay, a reused key, a refusal.
    const replay = await post('cashier', '/v1/om/payments', receipt, { 'idempotency-key': 'k-1' });
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    const reused = await post(
      'cashier',
      '/v1/om/payments',
      { ...receipt, amount: 1 },
      { 'idempotency-key': 'k-1' },
    );
    assert.equal(reused.statusCode, 422);
    const over = await post('cashier', '/v1/om/payments', { ...receipt, amount: 1 });
    assert.equal(json(over).error.code, 'LIMIT_REACHED');
    const confirmed = await call('cashier', {
      method: 'PATCH',
      url: `/v1/om/payments/${id}/confirm`,
    });
    assert.equal(confirmed.statusCode, 200);

    const now = await scrape();
    const delta = (key: string) => value(now, key) - value(before, key);
    assert.equal(
      delta(
        'om_payment_writes_total{operation="createPayment",type="receipt",status="pending",outcome="success"}',
      ),
      1,
    );
    assert.equal(
      delta(
        'om_payment_writes_total{operation="createPayment",type="receipt",status="none",outcome="LIMIT_REACHED"}',
      ),
      1,
    );
    assert.equal(
      delta(
        'om_payment_writes_total{operation="createPayment",type="receipt",status="none",outcome="IDEMPOTENCY_KEY_REUSED"}',
      ),
      1,
    );
    assert.equal(
      delta(
        'om_payment_writes_total{operation="confirmPayment",type="receipt",status="complete",outcome="success"}',
      ),
      1,
    );
    assert.equal(delta('om_idempotent_replays_total'), 1);
    assert.equal(delta('om_idempotency_conflicts_total{code="IDEMPOTENCY_KEY_REUSED"}'), 1);
    // Order creation takes no lock; create (2 attempts reached the lock), confirm, the
    // refusal: each waited once.
    assert.ok(
      delta('om_order_lock_wait_seconds_count') >= 3,
      String(delta('om_order_lock_wait_seconds_count')),
    );
    assert.ok(delta('om_order_lock_wait_seconds_sum') >= 0);
    const confirmRoute = [...now.keys()].find(
      (k) =>
        k.startsWith('om_http_request_duration_seconds_count{') &&
        k.includes('route="/v1/om/payments/:uid/confirm"'),
    );
    assert.ok(confirmRoute, 'request duration by route pattern');
    assert.match(confirmRoute, /status_code="200"/);
    for (const key of now.keys()) {
      assert.ok(!key.includes(id) && !key.includes(orderId), `no id in a label: ${key}`);
    }
  });
});

void describe('metrics off (METRICS=0)', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ metrics: false });
  });
  after(() => t.close());

  void test('no /metrics, no route histogram', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 404);
  });
});
