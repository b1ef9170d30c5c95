// API.md §7, §7.1: the events feed on the engine under test — shape, filters, paging by
// `next`, long-poll, exactly-once under concurrent writes and (PostgreSQL) out-of-order
// commits.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { buildApp } from '../src/app.ts';
import { createDatabase } from '../src/db/engine.ts';
import { purgeEvents } from '../src/events/events.repository.ts';
import { TEST_ENGINE } from './support/database.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

void describe('events feed', () => {
  let t: TestApp;
  let org: TestOrg;
  let other: TestOrg;

  before(async () => {
    t = await startTestApp();
    org = await t.createOrg('SAR');
    other = await t.createOrg('KWD');
  });
  after(() => t.close());

  const feed = async (o: TestOrg, query: string, role: 'viewer' | 'admin' = 'viewer') => {
    const r = await t.call(o, role, { method: 'GET', url: `/v1/om/events?${query}` });
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data as { items: Record<string, any>[]; next: string };
  };
  const createOrder = async (o: TestOrg, total = 10) => {
    const r = await t.call(o, 'cashier', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total } },
    });
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data.id as string;
  };
  /** Follows `next` from `after` until a page comes back empty. */
  const drain = async (o: TestOrg, after?: string, query = '') => {
    const items: Record<string, any>[] = [];
    let cursor = after;
    for (;;) {
      const page = await feed(o, `limit=100${query}${cursor ? `&after=${cursor}` : ''}`);
      assert.ok(typeof page.next === 'string' && page.next.length > 0);
      items.push(...page.items);
      if (page.items.length === 0) return { items, next: page.next };
      cursor = page.next;
    }
  };

  void test('events have the contract shape, oldest first, and stay in their organization', async () => {
    const start = (await drain(org)).next;
    const orderId = await createOrder(org, 25);
    await createOrder(other);
    const pay = await t.call(org, 'cashier', {
      method: 'POST',
      url: '/v1/om/payment-methods',
      payload: { params: { locales: { ar: { name: 'نقد' }, en: { name: 'Cash' } } } },
    });
    assert.equal(pay.statusCode, 403); // admin only: changes nothing
    const { items } = await drain(org, start);
    assert.equal(items.length, 1);
    const e = items[0]!;
    assert.deepEqual(Object.keys(e).sort(), [
      'by',
      'changes',
      'createdAt',
      'data',
      'entityId',
      'entityType',
      'id',
      'requestId',
      'type',
      'via',
    ]);
    assert.equal(e.type, 'order.created');
    assert.equal(e.entityType, 'order');
    assert.equal(e.entityId, orderId);
    assert.equal(e.data.total, 25);
    assert.equal(e.changes, null);
    assert.equal(e.by, 'cashier@test');
    assert.equal(e.via, 'pos');
  });

  void test('type (exact or prefix) and entityId filter; next is the given after when nothing came', async () => {
    const start = (await drain(org)).next;
    const a = await createOrder(org);
    await t.call(org, 'cashier', {
      method: 'PATCH',
      url: `/v1/om/orders/${a}`,
      payload: { params: { total: 12 } },
    });
    await createOrder(org);
    const exact = await drain(org, start, '&type=order.updated');
    assert.deepEqual(
      exact.items.map((e) => e.type),
      ['order.updated'],
    );
    assert.deepEqual(exact.items[0]!.changes.total, { before: 10, after: 12 });
    const prefix = await drain(org, start, '&type=order.');
    assert.deepEqual(
      prefix.items.map((e) => e.type),
      ['order.created', 'order.updated', 'order.created'],
    );
    const byEntity = await drain(org, start, `&entityId=${a}`);
    assert.deepEqual(
      byEntity.items.map((e) => e.type),
      ['order.created', 'order.updated'],
    );
    const empty = await feed(org, `after=${prefix.next}`);
    assert.deepEqual(empty.items, []);
    assert.equal(empty.next, prefix.next);
    const paged = await feed(org, `after=${start}&limit=2`);
    assert.equal(paged.items.length, 2);
    const rest = await feed(org, `after=${paged.next}&limit=2`);
    assert.deepEqual(
      rest.items.map((e) => e.type),
      ['order.created'],
    );
  });

  void test('bad cursors and parameters are InvalidParameter', async () => {
    for (const q of [
      'after=nope',
      `after=${Buffer.from('["e1","x",1]').toString('base64url')}`,
      'limit=0',
      'limit=101',
      'wait=31',
      'type=Order',
      'type=payment.*',
    ]) {
      const r = await t.call(org, 'viewer', { method: 'GET', url: `/v1/om/events?${q}` });
      assert.equal(r.statusCode, 400, q);
      assert.equal(json(r).error.code, 'InvalidParameter', q);
    }
  });

  void test('wait answers as soon as an event commits, and at the deadline when none does', async () => {
    const start = (await drain(org)).next;
    const began = Date.now();
    const waiting = feed(org, `after=${start}&wait=10`);
    await new Promise((r) => setTimeout(r, 300));
    await createOrder(org);
    const page = await waiting;
    assert.equal(page.items.length, 1);
    assert.ok(Date.now() - began < 5000, `answered after ${Date.now() - began} ms`);
    const quiet = Date.now();
    const none = await feed(org, `after=${page.next}&wait=1`);
    assert.deepEqual(none.items, []);
    assert.ok(Date.now() - quiet >= 900);
  });

  void test('a reader following next during 128 concurrent writes gets every event once, in a stable order', async () => {
    const start = (await drain(org)).next;
    const seen: string[] = [];
    let cursor = start;
    let writing = true;
    const reader = (async () => {
      while (writing || seen.length < 128) {
        const page = await feed(org, `after=${cursor}&limit=7&wait=1`);
        seen.push(...page.items.map((e) => e.id));
        cursor = page.next;
        if (!writing && page.items.length === 0) break;
      }
    })();
    await Promise.all(Array.from({ length: 128 }, () => createOrder(org)));
    writing = false;
    await reader;
    assert.equal(seen.length, 128);
    assert.equal(new Set(seen).size, 128);
    const again = (await drain(org, start)).items.map((e) => e.id);
    assert.deepEqual(again, seen);
  });

  void test('events past the retention are purged in batches; newer ones and history stay', async () => {
    const orderId = await createOrder(org);
    // An organization whose oldest events are the backdated ones (the purge walks feed order).
    const aged = await t.createOrg('SAR');
    const old = new Date(Date.now() - 40 * 86_400_000).toISOString();
    const rows = Array.from({ length: 7 }, (_, i) => ({
      organization_id: aged.id,
      id: `old-${i}`,
      type: 'order.updated',
      entity_type: 'order',
      entity_id: 'gone',
      data: '{}',
      changes: null,
      actor_by: 't',
      actor_via: 't',
      request_id: 't',
      created_at: old,
    }));
    await t.database.db.insertInto('events').values(rows).execute();
    await createOrder(aged);
    const forgotten = await purgeEvents(t.database, 30, { batch: 3 });
    assert.equal(forgotten, 7);
    const left = await t.database.db
      .selectFrom('events')
      .select('id')
      .where('created_at', '<', new Date(Date.now() - 30 * 86_400_000).toISOString())
      .execute();
    assert.deepEqual(left, []);
    const feedOfAged = (await drain(aged)).items;
    assert.ok(feedOfAged.length >= 1 && feedOfAged.every((e) => !String(e.id).startsWith('old-')));
    assert.equal((await drain(org, undefined, `&entityId=${orderId}`)).items.length, 1);
  });

  if (TEST_ENGINE === 'postgres') {
    void test('PostgreSQL: a reader of one instance follows writes made through two instances exactly once', async () => {
      const second = createDatabase(t.config.database);
      const appB = await buildApp({ config: t.config, database: second, logger: false });
      await appB.ready();
      try {
        const start = (await drain(org)).next;
        const seen: string[] = [];
        let cursor = start;
        let writing = true;
        const reader = (async () => {
          for (;;) {
            // Read through the second instance: the first one's commits reach it by NOTIFY.
            const r = await appB.inject({
              method: 'GET',
              url: `/v1/om/events?after=${cursor}&limit=9&wait=1`,
              headers: { 'api-key': org.keys.viewer, 'organization-id': org.id },
            });
            assert.equal(r.statusCode, 200, r.body);
            const page = json(r).data as { items: { id: string }[]; next: string };
            seen.push(...page.items.map((e) => e.id));
            cursor = page.next;
            if (!writing && page.items.length === 0) return;
          }
        })();
        const apps = [t.app, appB];
        await Promise.all(
          Array.from({ length: 128 }, async (_, i) => {
            const r = await apps[i % 2]!.inject({
              method: 'POST',
              url: '/v1/om/orders',
              headers: { 'api-key': org.keys.cashier, 'organization-id': org.id },
              payload: { params: { total: 5 } },
            });
            assert.equal(r.statusCode, 200, r.body);
          }),
        );
        writing = false;
        await reader;
        assert.equal(seen.length, 128);
        assert.equal(new Set(seen).size, 128);
        assert.deepEqual(
          (await drain(org, start)).items.map((e) => e.id),
          seen,
        );
      } finally {
        await appB.close();
        await second.close();
      }
    });
  }

  if (TEST_ENGINE === 'postgres') {
    void test('PostgreSQL: an event whose transaction commits late is served once, after it commits', async () => {
      const start = (await drain(org)).next;
      // A transaction writes an event of this organization and stays open…
      const client = new pg.Client({ connectionString: t.testDatabase.url });
      await client.connect();
      try {
        await client.query('begin');
        await client.query(
          `insert into events (organization_id, id, type, entity_type, entity_id, data, actor_by, actor_via, request_id, created_at)
           values ($1, 'late-event', 'order.updated', 'order', 'x', '{}', 't', 't', 't', $2)`,
          [org.id, new Date().toISOString()],
        );
        // …while later ones commit.
        await createOrder(org);
        await createOrder(org);
        const seen: string[] = [];
        const first = await drain(org, start);
        assert.deepEqual(first.items, [], 'nothing is served past a running transaction');
        await client.query('commit');
        const second = await drain(org, first.next);
        seen.push(...second.items.map((e) => e.id));
        assert.equal(seen.length, 3);
        assert.equal(seen[0], 'late-event');
        assert.deepEqual(
          (await drain(org, start)).items.map((e) => e.id),
          seen,
        );
      } finally {
        await client.end();
      }
    });
  }
});
