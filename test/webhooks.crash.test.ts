// API.md §7.3 "at least once, never early", against the real server process: a burst of
// writes, kill -9 of the service in the middle of it, a restart — every event in the feed is
// delivered, and no delivery arrives for an event that is not committed. And two instances
// on one database, both with their delivery worker, share the deliveries without making the
// same attempt twice (issue 23).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiKey } from '../src/api-keys/api-keys.service.ts';
import { createDatabase, type Database } from '../src/db/engine.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createOrganization } from '../src/organizations/organizations.service.ts';
import { cliCaller } from '../src/shared/context.ts';
import { startServe, stopAllServed } from './support/cli.ts';
import { createTestDatabase } from './support/database.ts';

/** Migrates the database and makes one organization with an admin key. */
async function adminOfNewOrganization(database: Database, name: string) {
  await migrateToLatest(database);
  const cli = cliCaller('test');
  const org = await createOrganization(database, cli, { name, currency: 'SAR' });
  const key = await createApiKey(database, cli, {
    name: 'admin',
    role: 'admin',
    organizations: [org.id],
  });
  return { org, key };
}

/** A request to /v1/om of the server at `base`, as the organization's admin. */
function omCall(
  base: string,
  apiKey: string,
  organizationId: string,
  method: string,
  path: string,
  params?: object,
) {
  return fetch(`${base}/v1/om${path}`, {
    method,
    headers: {
      'api-key': apiKey,
      'organization-id': organizationId,
      ...(params && { 'content-type': 'application/json' }),
    },
    ...(params && { body: JSON.stringify({ params }) }),
    signal: AbortSignal.timeout(10_000),
  });
}

void describe('webhooks across kill -9', () => {
  after(() => stopAllServed());

  void test('every event is delivered after a kill -9 and restart, none before its commit', async (t) => {
    const testDatabase = await createTestDatabase();
    const database = createDatabase(testDatabase.config);
    const received = new Set<string>();
    const early: string[] = [];
    const receiver = http.createServer((req, res) => {
      const id = String(req.headers['webhook-id']);
      req.resume();
      req.on('end', () => {
        // Is the event committed (visible to another connection) when it arrives?
        void database.db
          .selectFrom('events')
          .select('id')
          .where('id', '=', id)
          .executeTakeFirst()
          .then((row) => {
            if (row === undefined && !id.startsWith('test')) early.push(id);
            received.add(id);
            res.end('ok');
          });
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;
    try {
      const { org, key } = await adminOfNewOrganization(database, 'Crash');
      const env = {
        OM_BOOTSTRAP: '0',
        WEBHOOK_ALLOW_HTTP: '1',
        WEBHOOK_ALLOW_PRIVATE: '1',
        WEBHOOK_RETRY_SCHEDULE: '1,1,1,1,1,1,1,1',
      };
      let served = await startServe(testDatabase, env);
      const call = (method: string, path: string, params?: object) =>
        omCall(served.url, key.secret, org.id, method, path, params);
      const created = await call('POST', '/webhook-endpoints', {
        url: `http://127.0.0.1:${port}/hook`,
      });
      assert.equal(created.status, 200);

      // A burst, killed in the middle: once 40 writes were answered (or after 5 s).
      let answeredSoFar = 0;
      const burst = Array.from({ length: 150 }, (_, i) =>
        call('POST', '/orders', { total: 1 + i }).then(
          (r) => (answeredSoFar++, r.status),
          () => 0,
        ),
      );
      const killBy = Date.now() + 5000;
      while (answeredSoFar < 40 && Date.now() < killBy) await new Promise((r) => setTimeout(r, 5));
      served.child.kill('SIGKILL');
      const statuses = await Promise.all(burst);
      const answered = statuses.filter((s) => s === 200).length;
      await served.stop();
      t.diagnostic(`${answered} of ${statuses.length} writes answered before the kill`);
      assert.ok(answered < statuses.length, 'the kill came in the middle of the burst');

      served = await startServe(testDatabase, env);
      // Every event the feed holds — all that committed — must arrive.
      const inFeed: string[] = [];
      let next = '';
      for (;;) {
        const r = await call('GET', `/events?limit=100${next ? `&after=${next}` : ''}`);
        const page = ((await r.json()) as { data: { items: { id: string }[]; next: string } }).data;
        inFeed.push(...page.items.map((e) => e.id));
        next = page.next;
        if (page.items.length === 0) break;
      }
      assert.ok(inFeed.length >= answered + 1, `${inFeed.length} events, ${answered} answered`);
      const deadline = Date.now() + 60_000;
      while (inFeed.some((id) => !received.has(id)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      const missing = inFeed.filter((id) => !received.has(id));
      t.diagnostic(`${inFeed.length} events in the feed, ${received.size} delivered`);
      assert.deepEqual(missing, [], `${missing.length} of ${inFeed.length} never delivered`);
      assert.deepEqual(early, [], 'delivered before its event committed');
      assert.ok([...received].every((id) => inFeed.includes(id)));
      await served.stop();
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
      await database.close();
      await testDatabase.drop();
    }
  });

  void test('two instances share the deliveries: every event attempted once, by one of them', async (t) => {
    const testDatabase = await createTestDatabase();
    const database = createDatabase(testDatabase.config);
    // Arrivals per event id; the receiver answers 200 at once, so no attempt times out and a
    // second arrival can only be a second claim of the same delivery.
    const arrivals = new Map<string, number>();
    const receiver = http.createServer((req, res) => {
      const id = String(req.headers['webhook-id']);
      req.resume();
      req.on('end', () => {
        arrivals.set(id, (arrivals.get(id) ?? 0) + 1);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;
    try {
      const { org, key } = await adminOfNewOrganization(database, 'Shared');
      const env = { OM_BOOTSTRAP: '0', WEBHOOK_ALLOW_HTTP: '1', WEBHOOK_ALLOW_PRIVATE: '1' };
      const instances = [await startServe(testDatabase, env), await startServe(testDatabase, env)];
      const call = (instance: number, method: string, path: string, params?: object) =>
        omCall(instances[instance]!.url, key.secret, org.id, method, path, params);
      const created = await call(0, 'POST', '/webhook-endpoints', {
        url: `http://127.0.0.1:${port}/hook`,
      });
      assert.equal(created.status, 200);
      // Writes through both instances at once, as behind a load balancer.
      const statuses = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          call(i % 2, 'POST', '/orders', { total: 1 + i }).then((r) => r.status),
        ),
      );
      assert.deepEqual(
        statuses.filter((s) => s !== 200),
        [],
      );
      const inFeed: string[] = [];
      let next = '';
      for (;;) {
        const r = await call(1, 'GET', `/events?limit=100${next ? `&after=${next}` : ''}`);
        const page = ((await r.json()) as { data: { items: { id: string }[]; next: string } }).data;
        inFeed.push(...page.items.map((e) => e.id));
        next = page.next;
        if (page.items.length === 0) break;
      }
      assert.equal(inFeed.length, 201, 'the endpoint and the 200 orders');
      const deadline = Date.now() + 60_000;
      while (inFeed.some((id) => !arrivals.has(id)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      // Deliveries still in flight would arrive within the receiver's answer time: wait a
      // moment more so a late second attempt is seen too.
      await new Promise((r) => setTimeout(r, 1000));
      t.diagnostic(`${inFeed.length} events, ${arrivals.size} delivered`);
      assert.deepEqual(
        inFeed.filter((id) => !arrivals.has(id)),
        [],
        'every event delivered',
      );
      const twice = [...arrivals].filter(([, n]) => n > 1);
      assert.deepEqual(twice, [], 'no delivery attempted twice');
      // And the database agrees: one delivery per event, each succeeded.
      const succeeded = await database.db
        .selectFrom('webhook_deliveries')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('status', '=', 'succeeded')
        .executeTakeFirstOrThrow();
      assert.equal(Number(succeeded.n), 201);
      for (const instance of instances) await instance.stop();
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
      await database.close();
      await testDatabase.drop();
    }
  });
});
