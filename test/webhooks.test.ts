// API.md §7.2, §7.3 on the engine under test, against a real HTTP receiver on 127.0.0.1:
// signatures verified by the `standardwebhooks` package, retries, a receiver down then up,
// rotation's two signatures, URL rules, roles and organization isolation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../src/config.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver: answers `status()` and records what it got. */
class Receiver {
  received: Received[] = [];
  status: (path: string) => number = () => 200;
  #server: http.Server | undefined;
  port = 0;

  async start(port = 0): Promise<void> {
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        });
        res.statusCode = this.status(req.url ?? '');
        res.end('x'.repeat(10_000));
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise((resolve) => this.#server?.close(resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** What arrived for the endpoint at `urlFor(name)`: each test listens on its own path. */
  at(name: string): Received[] {
    return this.received.filter((r) => r.path === `/hook/${name}`);
  }

  urlFor(name: string): string {
    return `${this.url}/${name}`;
  }

  async waitFor(predicate: (r: Received[]) => boolean, ms = 15_000, name?: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate(name === undefined ? this.received : this.at(name))) {
      if (Date.now() > deadline) throw new Error(`receiver: condition not met in ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const typeOf = (r: Received) => (JSON.parse(r.body) as { type: string }).type;

void describe('webhooks', () => {
  let t: TestApp;
  let strict: TestApp;
  let org: TestOrg;
  let other: TestOrg;
  let strictOrg: TestOrg;
  const receiver = new Receiver();

  before(async () => {
    await receiver.start();
    const defaults = loadConfig({}).webhooks;
    t = await startTestApp({
      webhooks: { ...defaults, allowHttp: true, allowPrivate: true, retryScheduleSeconds: [1, 1] },
    });
    org = await t.createOrg('SAR');
    other = await t.createOrg('SAR');
    strict = await startTestApp({ webhooks: { ...defaults, worker: false } });
    strictOrg = await strict.createOrg('SAR');
  });
  after(async () => {
    await t.close();
    await strict.close();
    await receiver.stop();
  });

  const call = (
    o: TestOrg,
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    params?: object,
    app = t,
  ) =>
    app.call(o, 'admin', { method, url: `/v1/om${url}`, ...(params && { payload: { params } }) });
  const create = async (params: object, o = org) => {
    const r = await call(o, 'POST', '/webhook-endpoints', params);
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data as { id: string; secret: string };
  };
  const createOrder = async (o = org) => {
    const r = await t.call(o, 'cashier', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total: 10 } },
    });
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data.id as string;
  };
  const deliveries = async (id: string, query = '') => {
    const r = await call(org, 'GET', `/webhook-endpoints/${id}/deliveries?${query}`);
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data as { items: Record<string, any>[]; next: string | null };
  };
  const verify = (secret: string, r: Received) =>
    new Webhook(secret).verify(r.body, r.headers as Record<string, string>) as Record<string, any>;

  void test('a change is delivered signed (Standard Webhooks), with the event as the feed shows it', async () => {
    const { id, secret } = await create({ url: receiver.urlFor('t1'), events: ['order.*'] });
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{32,}={0,2}$/);
    assert.ok(Buffer.from(secret.slice(6), 'base64').length >= 24);
    const got = await call(org, 'GET', `/webhook-endpoints/${id}`);
    assert.equal(got.statusCode, 200);
    assert.ok(!got.body.includes(secret.slice(6)), 'the secret is never answered again');
    assert.deepEqual(json(got).data.webhookEndpoint.events, ['order.*']);
    const orderId = await createOrder();
    await receiver.waitFor((r) => r.some((x) => typeOf(x) === 'order.created'), 15_000, 't1');
    const delivered = receiver.at('t1').find((x) => typeOf(x) === 'order.created')!;
    const payload = verify(secret, delivered);
    assert.equal(payload.data.entityId, orderId);
    assert.equal(delivered.headers['webhook-id'], payload.data.id);
    assert.equal(delivered.headers['content-type'], 'application/json');
    assert.equal(payload.timestamp, payload.data.createdAt);
    const feed = json(
      await t.call(org, 'viewer', { method: 'GET', url: `/v1/om/events?entityId=${orderId}` }),
    ).data;
    assert.deepEqual(feed.items[0], payload.data);
    // Not listened to: a payment method's event is not delivered to this endpoint.
    assert.ok(receiver.at('t1').every((x) => typeOf(x).startsWith('order.')));
    let list = await deliveries(id, 'status=succeeded');
    // The outcome is recorded just after the receiver answered.
    for (let i = 0; i < 50 && list.items.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      list = await deliveries(id, 'status=succeeded');
    }
    assert.equal(list.items[0]!.eventId, payload.data.id);
    assert.equal(list.items[0]!.attempts, 1);
    assert.equal(list.items[0]!.lastStatusCode, 200);
    assert.equal(list.items[0]!.lastError, null);
    await call(org, 'DELETE', `/webhook-endpoints/${id}`);
  });

  void test('a 500 is retried on schedule; the answer body is kept up to 1 KB', async () => {
    let calls = 0;
    receiver.status = (path) => (path === '/hook/t2' && ++calls === 1 ? 500 : 200);
    const { id, secret } = await create({ url: receiver.urlFor('t2'), events: ['order.created'] });
    await createOrder();
    await receiver.waitFor((r) => r.length >= 2, 15_000, 't2');
    const got = receiver.at('t2');
    assert.equal(got[0]!.headers['webhook-id'], got[1]!.headers['webhook-id']);
    verify(secret, got[1]!);
    let items: Record<string, any>[] = [];
    for (let i = 0; i < 50; i++) {
      items = (await deliveries(id)).items;
      if (items[0]?.status === 'succeeded') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(items[0]!.status, 'succeeded');
    assert.equal(items[0]!.attempts, 2);
    receiver.status = () => 200;
    await call(org, 'DELETE', `/webhook-endpoints/${id}`);
  });

  void test('a receiver that is down gets it when it is back; after the last retry a delivery is failed, and retry sends it again', async () => {
    const down = new Receiver();
    await down.start();
    const port = down.port;
    await down.stop();
    const { id } = await create({
      url: `http://127.0.0.1:${port}/hook`,
      events: ['order.created'],
    });
    await createOrder();
    let items: Record<string, any>[] = [];
    for (let i = 0; i < 100; i++) {
      items = (await deliveries(id)).items;
      if (items[0]?.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(items[0]!.status, 'failed');
    assert.equal(items[0]!.attempts, 3, 'the first attempt and one per scheduled retry');
    assert.match(items[0]!.lastError, /refused/);
    assert.equal(items[0]!.lastStatusCode, null);
    await down.start(port);
    const r = await call(org, 'POST', `/webhook-endpoints/${id}/deliveries/${items[0]!.id}/retry`);
    assert.equal(r.statusCode, 200, r.body);
    await down.waitFor((x) => x.length === 1);
    await down.stop();
    await call(org, 'DELETE', `/webhook-endpoints/${id}`);
  });

  void test('after rotation both secrets sign for 24 h; /test reaches that endpoint alone and is not in the feed', async () => {
    const { id, secret: oldSecret } = await create({ url: receiver.urlFor('t4') });
    const other2 = await create({ url: receiver.urlFor('t4b'), events: ['invoice.sent'] });
    const rotated = await call(org, 'POST', `/webhook-endpoints/${id}/rotate-secret`);
    assert.equal(rotated.statusCode, 200);
    const newSecret = json(rotated).data.secret as string;
    assert.notEqual(newSecret, oldSecret);
    const sent = await call(org, 'POST', `/webhook-endpoints/${id}/test`);
    assert.equal(sent.statusCode, 200, sent.body);
    const { eventId } = json(sent).data;
    await receiver.waitFor((r) => r.some((x) => x.headers['webhook-id'] === eventId));
    const tests = [...receiver.at('t4'), ...receiver.at('t4b')].filter(
      (x) => typeOf(x) === 'webhook.test',
    );
    assert.equal(tests.length, 1);
    const delivered = tests[0]!;
    assert.equal((delivered.headers['webhook-signature'] as string).split(' ').length, 2);
    assert.equal(verify(newSecret, delivered).data.id, eventId);
    assert.equal(verify(oldSecret, delivered).data.id, eventId);
    const feed = json(
      await t.call(org, 'viewer', {
        method: 'GET',
        url: `/v1/om/events?type=webhook-endpoint.&limit=100`,
      }),
    ).data;
    assert.ok(feed.items.every((e: { id: string }) => e.id !== eventId));
    assert.ok(
      feed.items.some((e: { type: string }) => e.type === 'webhook-endpoint.secret-rotated'),
    );
    await call(org, 'DELETE', `/webhook-endpoints/${id}`);
    await call(org, 'DELETE', `/webhook-endpoints/${other2.id}`);
  });

  void test('POST /invoices/{id}/send is delivered as invoice.sent; messageId is its event id', async () => {
    const { id, secret } = await create({ url: receiver.urlFor('t5'), events: ['invoice.sent'] });
    const orderId = await createOrder();
    const inv = await t.call(org, 'manager', {
      method: 'POST',
      url: '/v1/om/invoices',
      payload: { params: { orderId } },
    });
    assert.equal(inv.statusCode, 200, inv.body);
    const invoiceId = json(inv).data.id as string;
    const closed = await t.call(org, 'manager', {
      method: 'PATCH',
      url: `/v1/om/invoices/${invoiceId}/close`,
    });
    assert.equal(closed.statusCode, 200, closed.body);
    const sent = await t.call(org, 'manager', {
      method: 'POST',
      url: `/v1/om/invoices/${invoiceId}/send`,
    });
    assert.equal(sent.statusCode, 200, sent.body);
    const { messageId } = json(sent).data;
    await receiver.waitFor(
      (r) => r.some((x) => x.headers['webhook-id'] === messageId),
      15_000,
      't5',
    );
    assert.equal(receiver.at('t5').length, 1, 'only invoice.sent is listened to');
    const payload = verify(secret, receiver.at('t5')[0]!);
    assert.equal(payload.type, 'invoice.sent');
    assert.equal(payload.data.entityId, invoiceId);
    await call(org, 'DELETE', `/webhook-endpoints/${id}`);
  });

  void test("admin role only; another organization's endpoint is not found", async () => {
    const { id } = await create({ url: receiver.url, enabled: false });
    for (const role of ['viewer', 'cashier', 'manager'] as const) {
      const r = await t.call(org, role, { method: 'GET', url: '/v1/om/webhook-endpoints' });
      assert.equal(r.statusCode, 403, role);
    }
    for (const [method, url] of [
      ['GET', `/webhook-endpoints/${id}`],
      ['PATCH', `/webhook-endpoints/${id}`],
      ['DELETE', `/webhook-endpoints/${id}`],
      ['POST', `/webhook-endpoints/${id}/test`],
      ['POST', `/webhook-endpoints/${id}/rotate-secret`],
      ['GET', `/webhook-endpoints/${id}/deliveries`],
    ] as const) {
      const r = await call(other, method, url, method === 'PATCH' ? { enabled: true } : undefined);
      assert.equal(r.statusCode, 404, `${method} ${url}`);
    }
    const listed = json(await call(other, 'GET', '/webhook-endpoints')).data.items;
    assert.ok(listed.every((e: { id: string }) => e.id !== id));
    const patched = await call(org, 'PATCH', `/webhook-endpoints/${id}`, {
      description: 'ERP',
      events: ['payment.*'],
    });
    assert.equal(patched.statusCode, 200, patched.body);
    const got = json(await call(org, 'GET', `/webhook-endpoints/${id}`)).data.webhookEndpoint;
    assert.equal(got.description, 'ERP');
    assert.equal(got.enabled, false);
    const types = json(
      await t.call(org, 'viewer', { method: 'GET', url: `/v1/om/events?entityId=${id}` }),
    ).data.items.map((e: { type: string }) => e.type);
    assert.deepEqual(types, ['webhook-endpoint.created', 'webhook-endpoint.updated']);
  });

  void test('URL rules: https only, no loopback/private/link-local targets (unless allowed)', async () => {
    for (const url of [
      'http://example.com/hook',
      'https://127.0.0.1/hook',
      'https://localhost/hook',
      'https://10.1.2.3/hook',
      'https://192.168.0.1/hook',
      'https://169.254.169.254/latest',
      'https://[::1]/hook',
      'https://[::ffff:127.0.0.1]/hook',
      'https://0.0.0.0/hook',
      'ftp://example.com/hook',
      'not a url',
    ]) {
      const r = await call(strictOrg, 'POST', '/webhook-endpoints', { url }, strict);
      assert.equal(r.statusCode, 400, url);
      assert.equal(json(r).error.code, 'InvalidParameter', url);
    }
    const bad = await call(
      strictOrg,
      'POST',
      '/webhook-endpoints',
      { url: 'https://8.8.8.8/hook', events: ['payment.'] },
      strict,
    );
    assert.equal(json(bad).error.code, 'InvalidParameter');
    const good = await call(
      strictOrg,
      'POST',
      '/webhook-endpoints',
      { url: 'https://8.8.8.8/hook', events: ['payment.*', 'invoice.sent'] },
      strict,
    );
    assert.equal(good.statusCode, 200, good.body);
    const { id } = json(good).data;
    const toPrivate = await call(
      strictOrg,
      'PATCH',
      `/webhook-endpoints/${id}`,
      { url: 'https://10.0.0.1/' },
      strict,
    );
    assert.equal(toPrivate.statusCode, 400);
  });
});
