// API.md §5: Idempotency-Key on every POST, PATCH and DELETE, on the engine under test.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import pg from 'pg';
import { createDatabase } from '../src/db/engine.ts';
import { purgeIdempotencyKeys } from '../src/http/idempotency.ts';
import { TEST_ENGINE } from './support/database.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

void describe(`Idempotency-Key (${TEST_ENGINE})`, () => {
  let t: TestApp;
  let org: TestOrg;
  let other: TestOrg;
  let method: string;

  before(async () => {
    t = await startTestApp({ rateLimitPerMinute: 0 });
    org = await t.createOrg('SAR');
    other = await t.createOrg('SAR');
    method = json(
      await t.call(org, 'admin', {
        method: 'POST',
        url: '/v1/om/payment-methods',
        payload: { params: { locales: { ar: { name: 'نقد' }, en: { name: 'Cash' } } } },
      }),
    ).data.id;
  });
  after(() => t.close());

  const send = (o: TestOrg, key: string, options: InjectOptions) =>
    t.call(o, 'manager', { ...options, headers: { ...options.headers, 'idempotency-key': key } });
  const count = async (table: 'orders' | 'payments', organizationId: string) =>
    (
      await t.database.db
        .selectFrom(table)
        .select('id')
        .where('organization_id', '=', organizationId)
        .execute()
    ).length;
  const paymentsOf = async (orderId: string) =>
    (
      await t.database.db
        .selectFrom('payments')
        .select('id')
        .where('order_id', '=', orderId)
        .execute()
    ).length;
  const newOrder = async (total = 10) =>
    json(
      await t.call(org, 'cashier', {
        method: 'POST',
        url: '/v1/om/orders',
        payload: { params: { total } },
      }),
    ).data.id as string;

  void test('a repeat replays the stored status and body, with idempotent-replayed, and has one effect', async () => {
    const before = await count('orders', org.id);
    const first = await send(org, 'order-1', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total: 5 } },
    });
    const again = await send(org, 'order-1', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total: 5 } },
    });
    assert.equal(first.statusCode, 200);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    assert.equal(again.statusCode, 200);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.body, first.body, 'identical body, original requestId included');
    assert.equal(await count('orders', org.id), before + 1);
  });

  void test('the same key with another body, path or method is 422 and changes nothing', async () => {
    const orderId = await newOrder();
    const ok = await send(org, 'reuse-1', {
      method: 'PATCH',
      url: `/v1/om/orders/${orderId}`,
      payload: { params: { total: 11 } },
    });
    assert.equal(ok.statusCode, 200);
    const attempts: InjectOptions[] = [
      { method: 'PATCH', url: `/v1/om/orders/${orderId}`, payload: { params: { total: 12 } } },
      { method: 'POST', url: '/v1/om/orders', payload: { params: { total: 11 } } },
      { method: 'PATCH', url: `/v1/om/orders/${orderId}/cancel` },
    ];
    const ordersBefore = await count('orders', org.id);
    for (const attempt of attempts) {
      const r = await send(org, 'reuse-1', attempt);
      assert.equal(r.statusCode, 422, r.body);
      assert.equal(json(r).error.code, 'IDEMPOTENCY_KEY_REUSED');
    }
    const order = json(
      await t.call(org, 'viewer', { method: 'GET', url: `/v1/om/orders/${orderId}` }),
    ).data.order;
    assert.equal(order.total, 11);
    assert.equal(order.status, 'open');
    assert.equal(await count('orders', org.id), ordersBefore);
  });

  void test('functional (400) outcomes are stored and replayed; their partial effects never happen', async () => {
    const orderId = await newOrder(10);
    const over = {
      method: 'POST' as const,
      url: '/v1/om/payments',
      payload: { params: { orderId, type: 'receipt', methodId: method, amount: 11 } },
    };
    const first = await send(org, 'limit-1', over);
    assert.equal(first.statusCode, 400);
    assert.equal(json(first).error.code, 'LIMIT_REACHED');
    // Even once the request would succeed, the key keeps its first answer.
    await t.call(org, 'manager', {
      method: 'PATCH',
      url: `/v1/om/orders/${orderId}`,
      payload: { params: { total: 20 } },
    });
    const again = await send(org, 'limit-1', over);
    assert.equal(again.statusCode, 400);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.body, first.body);
    assert.equal(await count('payments', org.id), 0);
  });

  void test('payments: create, confirm and delete replay without a second effect', async () => {
    const orderId = await newOrder(10);
    const create = {
      method: 'POST' as const,
      url: '/v1/om/payments',
      payload: { params: { orderId, type: 'receipt', methodId: method, amount: 4 } },
    };
    const a = await send(org, 'pay-1', create);
    const b = await send(org, 'pay-1', create);
    assert.equal(json(a).data.id, json(b).data.id);
    const paymentId = json(a).data.id as string;
    const confirm = { method: 'PATCH' as const, url: `/v1/om/payments/${paymentId}/confirm` };
    const c1 = await send(org, 'confirm-1', confirm);
    const c2 = await send(org, 'confirm-1', confirm);
    assert.deepEqual(
      json(c1).warnings.map((w: any) => w.code),
      [],
    );
    assert.equal(c2.body, c1.body, 'the replay is the first answer, not ALREADY_COMPLETE');
    const second = json(
      await t.call(org, 'cashier', {
        method: 'POST',
        url: '/v1/om/payments',
        payload: { params: { orderId, type: 'receipt', methodId: method, amount: 1 } },
      }),
    ).data.id;
    const d1 = await send(org, 'delete-1', { method: 'DELETE', url: `/v1/om/payments/${second}` });
    const d2 = await send(org, 'delete-1', { method: 'DELETE', url: `/v1/om/payments/${second}` });
    assert.equal(d1.statusCode, 200);
    assert.equal(d2.body, d1.body);
    const events = await t.database.db
      .selectFrom('events')
      .select('type')
      .where('entity_id', 'in', [paymentId, second])
      .execute();
    assert.deepEqual(events.map((e) => e.type).sort(), [
      'payment.confirmed',
      'payment.created',
      'payment.created',
      'payment.deleted',
    ]);
    const order = json(
      await t.call(org, 'viewer', { method: 'GET', url: `/v1/om/orders/${orderId}` }),
    ).data.order;
    assert.equal(order.paidAmount, 4);
    assert.equal(order.pendingAmount, 0);
  });

  void test('the same key sent concurrently has one effect; no answer is a 5xx', async () => {
    const orderId = await newOrder(10);
    const create = {
      method: 'POST' as const,
      url: '/v1/om/payments',
      payload: { params: { orderId, type: 'receipt', methodId: method, amount: 2 } },
    };
    const replies = await Promise.all(
      Array.from({ length: 12 }, () => send(org, 'race-1', create)),
    );
    const statuses = replies.map((r) => r.statusCode);
    assert.ok(
      statuses.every((s) => s === 200 || s === 409),
      statuses.join(','),
    );
    const ok = replies.filter((r) => r.statusCode === 200);
    assert.ok(ok.length >= 1);
    assert.equal(new Set(ok.map((r) => r.body)).size, 1, 'every success is the same answer');
    for (const r of replies.filter((x) => x.statusCode === 409))
      assert.equal(json(r).error.code, 'IDEMPOTENCY_IN_PROGRESS');
    const payments = await t.database.db
      .selectFrom('payments')
      .select('id')
      .where('order_id', '=', orderId)
      .execute();
    assert.equal(payments.length, 1);
    // Once the first has finished, the key replays.
    const late = await send(org, 'race-1', create);
    assert.equal(late.statusCode, 200);
    assert.equal(late.headers['idempotent-replayed'], 'true');
  });

  void test('keys are scoped per organization', async () => {
    const a = await send(org, 'shared-key', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total: 1 } },
    });
    const b = await send(other, 'shared-key', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total: 2 } },
    });
    assert.equal(a.statusCode, 200);
    assert.equal(b.statusCode, 200, 'not a reuse: another organization');
    assert.notEqual(json(a).data.id, json(b).data.id);
  });

  void test('admin writes accept keys too', async () => {
    const create = {
      method: 'POST' as const,
      url: '/v1/admin/organizations',
      headers: { 'api-key': t.rootKey, 'idempotency-key': 'org-1' },
      payload: { params: { name: 'Once', currency: 'SAR' } },
    };
    const a = await t.app.inject(create);
    const b = await t.app.inject(create);
    assert.equal(json(a).data.id, json(b).data.id);
    assert.equal(b.headers['idempotent-replayed'], 'true');
    const named = await t.database.db
      .selectFrom('organizations')
      .select('id')
      .where('name', '=', 'Once')
      .execute();
    assert.equal(named.length, 1);
  });

  void test('a key must be 1 to 255 characters', async () => {
    for (const key of ['', 'k'.repeat(256)]) {
      const r = await send(org, key, {
        method: 'POST',
        url: '/v1/om/orders',
        payload: { params: { total: 1 } },
      });
      assert.equal(r.statusCode, 400, JSON.stringify(key));
      assert.equal(json(r).error.code, 'InvalidParameter');
    }
    const max = await send(org, 'k'.repeat(255), {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total: 1 } },
    });
    assert.equal(max.statusCode, 200);
  });

  void test('a large answer is stored compressed and replays byte for byte', async () => {
    const orderId = await newOrder(100);
    let last = '';
    for (let i = 0; i < 20; i++) {
      last = json(
        await t.call(org, 'cashier', {
          method: 'POST',
          url: '/v1/om/payments',
          payload: {
            params: { orderId, type: 'receipt', methodId: method, amount: 1, status: 'pending' },
          },
        }),
      ).data.id as string;
    }
    const confirm = { method: 'PATCH' as const, url: `/v1/om/payments/${last}/confirm` };
    const first = await send(org, 'confirm-large', confirm);
    assert.equal(first.statusCode, 200);
    assert.equal(json(first).data.items.length, 20);
    const stored = await t.database.db
      .selectFrom('idempotency_keys')
      .select(['response', 'response_encoding'])
      .where('scope', '=', org.id)
      .where('key', '=', 'confirm-large')
      .executeTakeFirstOrThrow();
    assert.equal(stored.response_encoding, 'br');
    assert.ok(
      stored.response.length < first.body.length / 3,
      `${stored.response.length} stored characters for a ${first.body.length}-character answer`,
    );
    const again = await send(org, 'confirm-large', confirm);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.body, first.body);
    // A short answer stays as it was sent.
    const small = await t.database.db
      .selectFrom('idempotency_keys')
      .select(['response', 'response_encoding'])
      .where('scope', '=', org.id)
      .where('key', '=', 'order-1')
      .executeTakeFirstOrThrow();
    assert.equal(small.response_encoding, 'identity');
    assert.equal(JSON.parse(small.response).requestId !== undefined, true);
  });

  void test('keys are purged after the retention, not before', async () => {
    await send(org, 'old-key', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total: 1 } },
    });
    await t.database.db
      .updateTable('idempotency_keys')
      .set({ created_at: '2020-01-01T00:00:00.000Z' })
      .where('key', '=', 'old-key')
      .execute();
    const purged = await purgeIdempotencyKeys(t.database, 24);
    assert.equal(purged, 1);
    const left = await t.database.db
      .selectFrom('idempotency_keys')
      .select('key')
      .where('key', '=', 'order-1')
      .execute();
    assert.equal(left.length, 1, 'recent keys stay');
    const reused = await send(org, 'old-key', {
      method: 'POST',
      url: '/v1/om/orders',
      payload: { params: { total: 3 } },
    });
    assert.equal(reused.statusCode, 200, 'a purged key is free again');
  });

  void test('the purge forgets expired keys a batch at a time, oldest first, and stops when told', async () => {
    const key = (name: string, created_at: string) => ({
      scope: 'purge-test',
      key: name,
      fingerprint: 'f',
      status_code: 200,
      response: '{}',
      response_encoding: 'identity' as const,
      created_at,
    });
    await t.database.db
      .insertInto('idempotency_keys')
      .values([
        key('third', '2020-01-01T00:00:03.000Z'),
        key('first', '2020-01-01T00:00:01.000Z'),
        key('second', '2020-01-01T00:00:02.000Z'),
        key('fresh', new Date().toISOString()),
      ])
      .execute();
    const left = async () =>
      (
        await t.database.db
          .selectFrom('idempotency_keys')
          .select('key')
          .where('scope', '=', 'purge-test')
          .orderBy('key')
          .execute()
      ).map((r) => r.key);

    // Told to stop before it starts: nothing is forgotten.
    const stopped = new AbortController();
    stopped.abort();
    assert.equal(await purgeIdempotencyKeys(t.database, 24, { signal: stopped.signal }), 0);
    assert.deepEqual(await left(), ['first', 'fresh', 'second', 'third']);

    // Batches of two, told to stop as the first is sent: the two oldest go, and no more.
    const deletes: string[] = [];
    const stop = new AbortController();
    const watched = createDatabase(t.testDatabase.config, {
      onStatement: (s) => {
        if (!/^delete/i.test(s.sql)) return;
        deletes.push(s.sql);
        stop.abort();
      },
    });
    try {
      assert.equal(await purgeIdempotencyKeys(watched, 24, { batch: 2, signal: stop.signal }), 2);
      assert.deepEqual(await left(), ['fresh', 'third']);
      // Again without stopping, three expired: a full batch, then one short of full, and done.
      await t.database.db
        .insertInto('idempotency_keys')
        .values([
          key('fourth', '2020-01-01T00:00:04.000Z'),
          key('fifth', '2020-01-01T00:00:05.000Z'),
        ])
        .execute();
      assert.equal(await purgeIdempotencyKeys(watched, 24, { batch: 2 }), 3);
      assert.equal(deletes.length, 3);
    } finally {
      await watched.close();
    }
    assert.deepEqual(await left(), ['fresh']);
  });

  // PostgreSQL sends the key's claim in the round trip of the request's first statement
  // (migration 0006); a refused claim must stop that round trip before anything runs.
  if (TEST_ENGINE === 'postgres') {
    void test('a key held by a running request answers 409 at once, before the order is locked', async () => {
      const orderId = await newOrder(10);
      const create = {
        method: 'POST' as const,
        url: '/v1/om/payments',
        payload: { params: { orderId, type: 'receipt', methodId: method, amount: 2 } },
      };
      // Another session plays the first request: it holds the key and the order's lock.
      const first = new pg.Client({ connectionString: t.testDatabase.url });
      await first.connect();
      try {
        await first.query('begin');
        await first.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [
          JSON.stringify([org.id, 'held-key']),
        ]);
        await first.query('select id from orders where id = $1 for update', [orderId]);
        // Had the request gone on to the order's lock, it would wait there until rollback.
        const repeat = await Promise.race([
          send(org, 'held-key', create),
          new Promise<undefined>((r) => setTimeout(() => r(undefined), 2_000)),
        ]);
        assert.ok(repeat !== undefined, 'answered without waiting for the order lock');
        assert.equal(repeat.statusCode, 409);
        assert.equal(json(repeat).error.code, 'IDEMPOTENCY_IN_PROGRESS');
        // Another key on the same order waits for the lock, as it should.
        const other = send(org, 'free-key', create);
        const waited = await Promise.race([
          other.then(() => false),
          new Promise((r) => setTimeout(() => r(true), 300)),
        ]);
        assert.equal(waited, true, 'a free key goes on to the order lock and waits there');
        await first.query('rollback');
        assert.equal((await other).statusCode, 200);
      } finally {
        await first.end();
      }
      assert.equal(await paymentsOf(orderId), 1, 'only the free key paid');
      // Released, the held key is free: nothing was stored under it.
      const later = await send(org, 'held-key', create);
      assert.equal(later.statusCode, 200);
      assert.equal(later.headers['idempotent-replayed'], undefined);
    });

    void test('a stored answer is replayed, or a reuse refused, even when the request fails before any statement', async () => {
      const invalid = {
        method: 'POST' as const,
        url: '/v1/om/orders',
        payload: { params: { total: -1 } },
      };
      const first = await send(org, 'early-refusal', invalid);
      assert.equal(first.statusCode, 400);
      const again = await send(org, 'early-refusal', invalid);
      assert.equal(again.statusCode, 400);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(again.body, first.body);
      const reuse = await send(org, 'early-refusal', {
        ...invalid,
        payload: { params: { total: -2 } },
      });
      assert.equal(reuse.statusCode, 422);
      assert.equal(json(reuse).error.code, 'IDEMPOTENCY_KEY_REUSED');
    });
  }
});
