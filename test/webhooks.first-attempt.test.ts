// A new event's first attempt before its delivery is written (src/webhooks/webhooks.worker.ts):
// the delivery written once, with its outcome; an answer slower than the batch's wait
// written claimed and recorded when it comes; a range leased by another worker left alone
// until the lease ends, then taken over. A real receiver on 127.0.0.1, the engine under test.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../src/config.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';
import { startReceiver, until, type TestReceiver } from './support/receiver.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

void describe('webhooks: new events attempted first', () => {
  let t: TestApp;
  let org: TestOrg;
  /** How long the receiver waits before it answers, per path. */
  const answerAfterMs = new Map<string, number>();
  let receiver: TestReceiver;
  let arrivals: Map<string, number>;

  before(async () => {
    receiver = await startReceiver((path, res) => {
      setTimeout(() => res.end('ok'), answerAfterMs.get(path) ?? 0);
    });
    arrivals = receiver.arrivals;
    const defaults = loadConfig({}).webhooks;
    t = await startTestApp({ webhooks: { ...defaults, allowHttp: true, allowPrivate: true } });
    org = await t.createOrg('SAR');
  });
  after(async () => {
    await t.close();
    await receiver.close();
  });

  const call = (method: 'GET' | 'POST', url: string, params?: object) =>
    t.call(org, 'admin', { method, url: `/v1/om${url}`, ...(params && { payload: { params } }) });
  const endpoint = async (path: string) => {
    const r = await call('POST', '/webhook-endpoints', {
      url: `${receiver.base}${path}`,
      events: ['order.created'],
    });
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data.id as string;
  };
  const createOrder = async () => {
    const r = await call('POST', '/orders', { total: 10 });
    assert.equal(r.statusCode, 200, r.body);
  };
  const deliveries = async (id: string) => {
    const r = await call('GET', `/webhook-endpoints/${id}/deliveries`);
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data.items as Record<string, any>[];
  };
  const fanout = () =>
    t.database.db
      .selectFrom('webhook_fanout')
      .select(['lease_until', 'xact', 'seq'])
      .where('organization_id', '=', org.id)
      .executeTakeFirstOrThrow();

  void test('the delivery is written with its first outcome, and the lease ends', async () => {
    const id = await endpoint('/fast');
    await createOrder();
    const [item] = await until(
      'a delivery',
      () => deliveries(id),
      (i) => i.length > 0,
      10_000,
    );
    // Listed at all means written: here already with the answer's outcome.
    assert.equal(item!.status, 'succeeded');
    assert.equal(item!.attempts, 1);
    assert.equal(item!.lastStatusCode, 200);
    assert.equal(item!.nextAttemptAt, null);
    assert.equal(arrivals.get('/fast'), 1);
    assert.equal((await fanout()).lease_until, null);
  });

  void test('an answer slower than the batch waits is written claimed, then recorded', async () => {
    answerAfterMs.set('/slow', 3000);
    const id = await endpoint('/slow');
    await createOrder();
    await until(
      'the attempt',
      async () => arrivals.get('/slow') ?? 0,
      (n) => n === 1,
      10_000,
    );
    // The batch is written ~1 s after it went out: pending, claimed, not yet attempted.
    const [pending] = await until(
      'the claimed delivery',
      () => deliveries(id),
      (i) => i.length > 0,
      2500,
    );
    assert.equal(pending!.status, 'pending');
    assert.equal(pending!.attempts, 0);
    assert.equal((await fanout()).lease_until, null, 'the position moved on');
    const [done] = await until(
      'the outcome',
      () => deliveries(id),
      (i) => i[0]?.status === 'succeeded',
      10_000,
    );
    assert.equal(done!.attempts, 1);
    assert.equal(arrivals.get('/slow'), 1, 'attempted once');
  });

  void test('an endpoint deleted while its batch is out gets no delivery rows', async () => {
    answerAfterMs.set('/deleted', 2500);
    const id = await endpoint('/deleted');
    await createOrder();
    await until(
      'the attempt',
      async () => arrivals.get('/deleted') ?? 0,
      (n) => n === 1,
      10_000,
    );
    const deleted = await t.call(org, 'admin', {
      method: 'DELETE',
      url: `/v1/om/webhook-endpoints/${id}`,
    });
    assert.equal(deleted.statusCode, 200, deleted.body);
    // Past the batch's write (1 s) and the slow answer's record.
    await sleep(3500);
    const rows = await t.database.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('organization_id', '=', org.id)
      .where('endpoint_id', '=', id)
      .execute();
    assert.deepEqual(rows, []);
    assert.equal((await fanout()).lease_until, null);
  });

  void test("another worker's lease is left alone until it ends, then its range is taken over", async () => {
    const id = await endpoint('/leased');
    const leaseMs = 2500;
    const before = await fanout();
    await t.database.db
      .updateTable('webhook_fanout')
      .set({ lease_until: new Date(Date.now() + leaseMs).toISOString() })
      .where('organization_id', '=', org.id)
      .execute();
    const leasedAt = Date.now();
    await createOrder();
    await sleep(1500);
    assert.equal(arrivals.get('/leased'), undefined, 'nothing sent while the lease holds');
    assert.deepEqual(await deliveries(id), []);
    await until(
      'the delivery',
      async () => arrivals.get('/leased') ?? 0,
      (n) => n === 1,
      10_000,
    );
    assert.ok(Date.now() - leasedAt >= leaseMs, 'not before the lease ended');
    const [item] = await until(
      'its record',
      () => deliveries(id),
      (i) => i[0]?.status === 'succeeded',
      5000,
    );
    assert.equal(item!.attempts, 1);
    const after = await fanout();
    assert.equal(after.lease_until, null);
    assert.notDeepEqual(
      [String(after.xact), Number(after.seq)],
      [String(before.xact), Number(before.seq)],
      'the position moved past the range',
    );
  });
});
