// One endpoint slow to answer holds at most its share of the worker's attempts
// (WEBHOOK_ENDPOINT_CONCURRENCY, src/webhooks/webhooks.worker.ts): another organization's
// deliveries go meanwhile, and the slow one's wait and go as its answers come; /metrics shows
// the attempts in flight and the endpoints at their share. A real receiver on 127.0.0.1, the
// engine under test, 4 attempts in flight and 2 per endpoint.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { loadConfig } from '../src/config.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';
import { startReceiver, until, type TestReceiver } from './support/receiver.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

void describe('webhooks: an endpoint slow to answer holds its share of the attempts', () => {
  let t: TestApp;
  let slowOrg: TestOrg;
  let fastOrg: TestOrg;
  let receiver: TestReceiver;
  /** /slow's answers, held until released; then it answers after 100 ms. */
  let held: http.ServerResponse[] = [];
  let releaseAll = false;
  /** Requests to /slow not yet answered, and the most there were at once. */
  let open = 0;
  let mostOpen = 0;

  before(async () => {
    receiver = await startReceiver((path, res) => {
      if (path !== '/slow') return void res.end('ok');
      mostOpen = Math.max(mostOpen, ++open);
      res.on('finish', () => open--);
      if (releaseAll) setTimeout(() => res.end('ok'), 100);
      else held.push(res);
    });
    const defaults = loadConfig({}).webhooks;
    t = await startTestApp({
      webhooks: {
        ...defaults,
        allowHttp: true,
        allowPrivate: true,
        concurrency: 4,
        endpointConcurrency: 2,
      },
    });
    slowOrg = await t.createOrg('SAR');
    fastOrg = await t.createOrg('SAR');
  });
  after(async () => {
    held.forEach((r) => r.end('ok'));
    await t.close();
    await receiver.close();
  });

  const call = (org: TestOrg, method: 'GET' | 'POST', url: string, params?: object) =>
    t.call(org, 'admin', { method, url: `/v1/om${url}`, ...(params && { payload: { params } }) });
  const endpoint = async (org: TestOrg, path: string) => {
    const r = await call(org, 'POST', '/webhook-endpoints', {
      url: `${receiver.base}${path}`,
      events: ['order.created'],
    });
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data.id as string;
  };
  const createOrders = async (org: TestOrg, n: number) => {
    for (let i = 0; i < n; i++) {
      const r = await call(org, 'POST', '/orders', { total: 10 });
      assert.equal(r.statusCode, 200, r.body);
    }
  };
  const statuses = async (org: TestOrg, id: string) => {
    const r = await call(org, 'GET', `/webhook-endpoints/${id}/deliveries?limit=100`);
    assert.equal(r.statusCode, 200, r.body);
    return (json(r).data.items as { status: string }[]).map((d) => d.status);
  };
  const arrivals = (path: string) => receiver.arrivals.get(path);
  /** The worker's gauges on /metrics: attempts in flight, endpoints at their share. */
  const gauges = async () => {
    const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    return {
      inFlight: value('om_webhook_attempts_in_flight'),
      atShare: value('om_webhook_endpoints_at_share'),
    };
  };

  void test("another organization's deliveries go while the slow endpoint holds its share", async () => {
    const slow = await endpoint(slowOrg, '/slow');
    const fast = await endpoint(fastOrg, '/fast');
    await createOrders(slowOrg, 6);
    await until(
      'the slow endpoint holding its share',
      () => held.length,
      (n) => n === 2,
      15_000,
    );
    // Slots are free (4 in all), yet no third attempt goes to the slow endpoint: neither
    // the new events' batch nor the claims of what it left pending, over several rounds.
    await sleep(1500);
    assert.equal(arrivals('/slow'), 2);
    assert.deepEqual(await gauges(), { inFlight: 2, atShare: 1 });

    await createOrders(fastOrg, 3);
    await until(
      "the other organization's deliveries, while the slow ones are held",
      () => statuses(fastOrg, fast),
      (s) => s.length === 3 && s.every((x) => x === 'succeeded'),
      15_000,
    );
    assert.equal(held.length, 2, 'the slow answers are still held');
    assert.deepEqual(await gauges(), { inFlight: 2, atShare: 1 });

    // Its answers come (each 100 ms late): the rest of its deliveries go, never more than 2
    // at once.
    releaseAll = true;
    held.forEach((r) => r.end('ok'));
    held = [];
    const done = await until(
      "the slow endpoint's deliveries",
      () => statuses(slowOrg, slow),
      (s) => s.length === 6 && s.every((x) => x === 'succeeded'),
      15_000,
    );
    assert.equal(done.length, 6);
    assert.equal(mostOpen, 2);
    assert.equal(arrivals('/slow'), 6, 'each attempted once');
    assert.equal(arrivals('/fast'), 3);
    assert.deepEqual(await gauges(), { inFlight: 0, atShare: 0 });
  });
});

void describe('webhooks: attempts in flight, settings', () => {
  void test('512 in all and 256 per endpoint unless set; a share above the whole refused', () => {
    assert.deepEqual(
      (({ concurrency, endpointConcurrency }) => ({ concurrency, endpointConcurrency }))(
        loadConfig({}).webhooks,
      ),
      { concurrency: 512, endpointConcurrency: 256 },
    );
    const set = loadConfig({ WEBHOOK_CONCURRENCY: '64', WEBHOOK_ENDPOINT_CONCURRENCY: '64' });
    assert.equal(set.webhooks.concurrency, 64);
    assert.equal(set.webhooks.endpointConcurrency, 64);
    assert.throws(
      () => loadConfig({ WEBHOOK_CONCURRENCY: '64', WEBHOOK_ENDPOINT_CONCURRENCY: '65' }),
      /WEBHOOK_ENDPOINT_CONCURRENCY=65: more than WEBHOOK_CONCURRENCY=64/,
    );
    for (const bad of ['0', '4097', '1.5', 'many'])
      assert.throws(() => loadConfig({ WEBHOOK_CONCURRENCY: bad }), /WEBHOOK_CONCURRENCY/);
  });
});
