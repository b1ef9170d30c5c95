// One endpoint slow to answer holds at most its share of the worker's attempts
// (WEBHOOK_ENDPOINT_CONCURRENCY, src/webhooks/webhooks.worker.ts): another organization's
// deliveries go meanwhile, and the slow one's wait and go as its answers come. A real
// receiver on 127.0.0.1, the engine under test, 4 attempts in flight and 2 per endpoint.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

void describe('webhooks: an endpoint slow to answer holds its share of the attempts', () => {
  let t: TestApp;
  let slowOrg: TestOrg;
  let fastOrg: TestOrg;
  let server: http.Server;
  let base = '';
  /** /slow's answers, held until released; then it answers after 100 ms. */
  let held: http.ServerResponse[] = [];
  let releaseAll = false;
  /** Requests to /slow not yet answered, and the most there were at once. */
  let open = 0;
  let mostOpen = 0;
  const arrivals = new Map<string, number>();

  before(async () => {
    server = http.createServer((req, res) => {
      const path = req.url ?? '';
      req.resume();
      req.on('end', () => {
        arrivals.set(path, (arrivals.get(path) ?? 0) + 1);
        if (path !== '/slow') return void res.end('ok');
        mostOpen = Math.max(mostOpen, ++open);
        res.on('finish', () => open--);
        if (releaseAll) setTimeout(() => res.end('ok'), 100);
        else held.push(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const call = (org: TestOrg, method: 'GET' | 'POST', url: string, params?: object) =>
    t.call(org, 'admin', { method, url: `/v1/om${url}`, ...(params && { payload: { params } }) });
  const endpoint = async (org: TestOrg, path: string) => {
    const r = await call(org, 'POST', '/webhook-endpoints', {
      url: `${base}${path}`,
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
  const until = async <T>(what: string, get: () => Promise<T> | T, ok: (x: T) => boolean) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const x = await get();
      if (ok(x)) return x;
      if (Date.now() > deadline) assert.fail(`${what}: not within 15 s (last: ${String(x)})`);
      await sleep(25);
    }
  };

  void test("another organization's deliveries go while the slow endpoint holds its share", async () => {
    const slow = await endpoint(slowOrg, '/slow');
    const fast = await endpoint(fastOrg, '/fast');
    await createOrders(slowOrg, 6);
    await until(
      'the slow endpoint holding its share',
      () => held.length,
      (n) => n === 2,
    );
    // Slots are free (4 in all), yet no third attempt goes to the slow endpoint: neither
    // the new events' batch nor the claims of what it left pending, over several rounds.
    await sleep(1500);
    assert.equal(arrivals.get('/slow'), 2);

    await createOrders(fastOrg, 3);
    await until(
      "the other organization's deliveries, while the slow ones are held",
      () => statuses(fastOrg, fast),
      (s) => s.length === 3 && s.every((x) => x === 'succeeded'),
    );
    assert.equal(held.length, 2, 'the slow answers are still held');

    // Its answers come (each 100 ms late): the rest of its deliveries go, never more than 2
    // at once.
    releaseAll = true;
    held.forEach((r) => r.end('ok'));
    held = [];
    const done = await until(
      "the slow endpoint's deliveries",
      () => statuses(slowOrg, slow),
      (s) => s.length === 6 && s.every((x) => x === 'succeeded'),
    );
    assert.equal(done.length, 6);
    assert.equal(mostOpen, 2);
    assert.equal(arrivals.get('/slow'), 6, 'each attempted once');
    assert.equal(arrivals.get('/fast'), 3);
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
