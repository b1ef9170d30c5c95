// API.md §9: /metrics carries the service's own figures after a small workload — payment
// writes by operation, type, status and outcome, idempotent replays and conflicts, the
// order lock's wait, request durations by route pattern and status; webhook deliveries by
// outcome, their lag and the pending backlog after real deliveries to a loopback receiver;
// feed answers and held feed requests — and with METRICS=0 none of it is collected.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InjectOptions } from 'fastify';
import { loadConfig } from '../src/config.ts';
import type { Role } from '../src/db/schema.ts';
import { webhookDeliveries } from '../src/shared/metrics.ts';
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

/** A loopback receiver: `/ok` answers 200, anything else 500; counts what it got. */
async function startReceiver() {
  const got: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      got.push(req.url ?? '');
      res.statusCode = req.url === '/ok' ? 200 : 500;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    got,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    stop: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

const until = async <T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean) => {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`not in 15 s: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

void describe('webhook and feed metrics', () => {
  let t: TestApp;
  let org: TestOrg;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const scrape = async () => {
    const r = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 200);
    return samples(r.body);
  };
  const value = (all: Map<string, number>, key: string) => all.get(key) ?? 0;
  const admin = (method: 'GET' | 'POST', url: string, params?: object) =>
    t.call(org, 'admin', { method, url, ...(params && { payload: { params } }) });

  before(async () => {
    receiver = await startReceiver();
    t = await startTestApp({
      rateLimitPerMinute: 0,
      // One retry, an hour later: a failed first attempt stays pending (scheduled).
      webhooks: {
        ...loadConfig({}).webhooks,
        allowHttp: true,
        allowPrivate: true,
        retryScheduleSeconds: [3600],
      },
    });
    org = await t.createOrg('SAR');
  });
  after(async () => {
    await t.close();
    await receiver.stop();
  });

  void test('deliveries by outcome, first-attempt lag and the pending backlog follow real deliveries', async () => {
    const endpoint = async (path: string) => {
      const r = await admin('POST', '/v1/om/webhook-endpoints', {
        url: receiver.url(path),
        events: ['order.created'],
      });
      assert.equal(r.statusCode, 200, r.body);
      return json(r).data.id as string;
    };
    const deliveries = async (id: string) =>
      json(await admin('GET', `/v1/om/webhook-endpoints/${id}/deliveries`)).data.items as {
        id: string;
        status: string;
        attempts: number;
      }[];
    const okId = await endpoint('/ok');
    const failingId = await endpoint('/fail');
    const before = await scrape();
    const created = await t.call(org, 'cashier', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total: 10 } },
    });
    assert.equal(created.statusCode, 200, created.body);
    // One delivery each: a success, and a failure to be retried in an hour.
    await until(
      'the success recorded',
      () => deliveries(okId),
      (d) => d[0]?.status === 'succeeded',
    );
    const [failing] = await until(
      'the failure recorded',
      () => deliveries(failingId),
      (d) => d[0]?.attempts === 1,
    );
    assert.equal(failing!.status, 'pending');
    let now = await scrape();
    const delta = (key: string) => value(now, key) - value(before, key);
    assert.equal(delta('om_webhook_deliveries_total{outcome="succeeded"}'), 1);
    assert.equal(delta('om_webhook_deliveries_total{outcome="failed_attempt"}'), 1);
    assert.equal(delta('om_webhook_deliveries_total{outcome="failed"}'), 0);
    assert.equal(delta('om_webhook_delivery_lag_seconds_count'), 2);
    const lag = delta('om_webhook_delivery_lag_seconds_sum');
    assert.ok(lag >= 0 && lag < 30, `lag ${lag} s`);
    // The one left is waiting for its retry, not due; the gauge is this app's database's.
    assert.equal(value(now, 'om_webhook_deliveries_pending{state="scheduled"}'), 1);
    assert.equal(value(now, 'om_webhook_deliveries_pending{state="due"}'), 0);

    // Retried by hand, it fails for good: counted as failed, and no second lag.
    const retried = await admin(
      'POST',
      `/v1/om/webhook-endpoints/${failingId}/deliveries/${failing!.id}/retry`,
    );
    assert.equal(retried.statusCode, 200, retried.body);
    await until(
      'the last failure',
      () => deliveries(failingId),
      (d) => d[0]?.status === 'failed',
    );
    now = await scrape();
    assert.equal(delta('om_webhook_deliveries_total{outcome="failed"}'), 1);
    assert.equal(delta('om_webhook_delivery_lag_seconds_count'), 2);
    assert.equal(value(now, 'om_webhook_deliveries_pending{state="scheduled"}'), 0);
    assert.equal(receiver.got.filter((p) => p === '/fail').length, 2);
    for (const key of now.keys()) {
      assert.ok(!key.includes(okId) && !key.includes(failingId), `no id in a label: ${key}`);
    }
  });

  void test('feed answers by outcome, and requests held by `wait` while they wait', async () => {
    const feed = (query: string) =>
      t.call(org, 'viewer', { method: 'GET', url: `/v1/om/events?${query}` });
    const made = await t.call(org, 'cashier', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total: 1 } },
    });
    assert.equal(made.statusCode, 200);
    const before = await scrape();
    const first = await feed('limit=100');
    assert.equal(first.statusCode, 200);
    const { next } = json(first).data as { next: string };
    assert.equal(json(await feed(`after=${next}`)).data.items.length, 0);
    assert.equal((await feed('after=bogus')).statusCode, 400);
    // Held open until an order commits: seen waiting, then answered with its event.
    const held = feed(`after=${next}&wait=20`);
    await until('a waiter', scrape, (m) => value(m, 'om_events_feed_waiters') >= 1);
    const order = await t.call(org, 'cashier', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total: 5 } },
    });
    assert.equal(order.statusCode, 200);
    assert.equal(json(await held).data.items[0].type, 'order.created');
    const short = await feed(
      `after=${json(await feed(`after=${next}&limit=100`)).data.next}&wait=1`,
    );
    assert.equal(json(short).data.items.length, 0);
    const now = await scrape();
    const delta = (key: string) => value(now, key) - value(before, key);
    // `events`: the first page, the held one and the page that found the order's `next`.
    assert.equal(delta('om_events_feed_requests_total{outcome="events"}'), 3);
    assert.equal(delta('om_events_feed_requests_total{outcome="empty"}'), 1);
    assert.equal(delta('om_events_feed_requests_total{outcome="timed_out"}'), 1);
    assert.equal(delta('om_events_feed_requests_total{outcome="error"}'), 1);
    assert.equal(value(now, 'om_events_feed_waiters'), 0);
  });
});

void describe('metrics off (METRICS=0)', () => {
  let t: TestApp;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  before(async () => {
    receiver = await startReceiver();
    t = await startTestApp({
      metrics: false,
      webhooks: { ...loadConfig({}).webhooks, allowHttp: true, allowPrivate: true },
    });
  });
  after(async () => {
    await t.close();
    await receiver.stop();
  });

  void test('no /metrics, no route histogram', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 404);
  });

  void test('a delivery is not counted', async () => {
    const org = await t.createOrg('SAR');
    const counted = async () =>
      (await webhookDeliveries.get()).values.reduce((sum, v) => sum + v.value, 0);
    const before = await counted();
    const made = await t.call(org, 'admin', {
      method: 'POST',
      url: '/v1/om/webhook-endpoints',
      payload: { params: { url: receiver.url('/ok'), events: ['order.created'] } },
    });
    assert.equal(made.statusCode, 200, made.body);
    const id = json(made).data.id as string;
    assert.equal(
      (await t.call(org, 'admin', { method: 'POST', url: `/v1/om/webhook-endpoints/${id}/test` }))
        .statusCode,
      200,
    );
    await until(
      'the delivery',
      async () =>
        json(
          await t.call(org, 'admin', {
            method: 'GET',
            url: `/v1/om/webhook-endpoints/${id}/deliveries`,
          }),
        ).data.items as { status: string }[],
      (d) => d[0]?.status === 'succeeded',
    );
    assert.equal(receiver.got.length, 1);
    assert.equal(await counted(), before);
  });
});
