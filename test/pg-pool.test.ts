// src/db/pg-pool.ts: on PostgreSQL each distinct statement text is prepared once per
// connection, and held statements travel with the next in one round trip. PostgreSQL only:
// the embedded engine has no such protocol (its driver keeps prepared statements itself,
// exercised by every SQLite run of the suite).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPgPool } from '../src/db/engine.ts';
import { CompiledQuery } from 'kysely';
import pg from 'pg';
import { BatchingPool, deferred, TOGETHER } from '../src/db/pg-pool.ts';
import { isDatabaseUnavailable } from '../src/db/unavailable.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';
import { createTestDatabase, TEST_ENGINE, type TestDatabase } from './support/database.ts';

if (TEST_ENGINE === 'postgres') {
  void describe('PostgreSQL pool: named statements and batches', () => {
    let testDatabase: TestDatabase;
    let pool: BatchingPool;

    before(async () => {
      testDatabase = await createTestDatabase();
      pool = new BatchingPool(createPgPool(testDatabase.url, 1), {
        onSent: (sql, _v, withNext) => record(sql, withNext),
      });
    });
    after(async () => {
      await pool.end();
      await testDatabase.drop();
    });

    const prepared = async () => {
      const client = await pool.connect();
      try {
        const { rows } = await client.query<{ name: string; statement: string }>(
          'select name, statement from pg_prepared_statements order by name',
          [],
        );
        return rows.map((r) => `${r.name}: ${r.statement}`);
      } finally {
        client.release();
      }
    };
    const run = async (text: string, values: unknown[]) => {
      const client = await pool.connect();
      try {
        return (await client.query<{ x: number }>(text, values)).rows[0]?.x;
      } finally {
        client.release();
      }
    };

    void test('a statement with values is named once and reused with new values', async () => {
      assert.equal(await run('select $1::int + 1 as x', [1]), 2);
      assert.equal(await run('select $1::int + 1 as x', [41]), 42);
      assert.deepEqual(await prepared(), ['om_0: select $1::int + 1 as x']);
    });

    void test('one without values goes unnamed (simple protocol)', async () => {
      assert.equal(await run('select 7 as x', []), 7);
      assert.deepEqual(await prepared(), ['om_0: select $1::int + 1 as x']);
    });

    void test('bounded: the least recently used text gives up its name, closed on the server, named anew when used again', async () => {
      const bounded = new BatchingPool(createPgPool(testDatabase.url, 1), { maxNamed: 3 });
      const client = await bounded.connect();
      try {
        const x = async (n: number) =>
          (await client.query<{ x: number }>(`select $1::int + ${n} as x`, [1])).rows[0]?.x;
        // Read through a statement of values, so it is a round trip of the pool's own
        // (which closes given-up names first), itself one of the three names.
        const held = async () =>
          (
            await client.query<{ s: string }>(
              "select name || ': ' || statement as s from pg_prepared_statements where $1::int = 1 order by name",
              [1],
            )
          ).rows.map((r) => r.s);
        const listing =
          "om_2: select name || ': ' || statement as s from pg_prepared_statements where $1::int = 1 order by name";
        assert.equal(await x(1), 2); // om_0
        assert.equal(await x(2), 3); // om_1
        assert.deepEqual(await held(), [
          'om_0: select $1::int + 1 as x',
          'om_1: select $1::int + 2 as x',
          listing,
        ]);
        assert.equal(await x(1), 2); // used again: now the listing, then text 2, are older
        assert.equal(await x(3), 4); // om_3 takes text 2's name: text 2 is evicted
        assert.deepEqual(await held(), [
          'om_0: select $1::int + 1 as x',
          listing,
          'om_3: select $1::int + 3 as x',
        ]);
        // Text 2 again: prepared anew under a new name, evicting text 1 (least recently used).
        assert.equal(await x(2), 3);
        assert.deepEqual(await held(), [
          listing,
          'om_3: select $1::int + 3 as x',
          'om_4: select $1::int + 2 as x',
        ]);
        // Many texts through a bound of three: the connection never holds more than that.
        for (let n = 10; n < 40; n++) assert.equal(await x(n), n + 1);
        const { rows } = await client.query<{ n: number }>(
          'select count(*)::int as n from pg_prepared_statements',
          [],
        );
        assert.ok(rows[0]!.n <= 3, `${rows[0]!.n} prepared statements held`);
      } finally {
        client.release();
        await bounded.end();
      }
    });

    const on = async <T>(
      fn: (q: (text: string, values?: unknown[]) => Promise<unknown>) => Promise<T>,
    ) => {
      const client = await pool.connect();
      try {
        return await fn((text, values = []) => client.query(text, values));
      } finally {
        client.release();
      }
    };
    const later = (text: string, values: unknown[]) =>
      deferred(CompiledQuery.raw(text, values)).sql;
    const rowsOf = (text: string) => on(async (q) => ((await q(text)) as { rows: unknown[] }).rows);

    /** Round trips as sent: the statements of each, in order. */
    const trips: string[][] = [];
    let tripOpen = false;
    const record = (sql: string, withNext: boolean) => {
      if (tripOpen) trips[trips.length - 1]!.push(sql);
      else trips.push([sql]);
      tripOpen = withNext;
    };

    void test('held statements travel with the next one, in order, in one round trip', async () => {
      await on((q) => q('create table t (id int primary key, v int not null)'));
      await on((q) => q('create table u (id int primary key, v int not null)'));
      trips.length = 0;
      await on(async (q) => {
        await q('begin');
        await q(later('insert into t (id, v) values ($1, $2)', [1, 10]), [1, 10]);
        await q(later('insert into u (id, v) values ($1, $2)', [1, 20]), [1, 20]);
        await q(later('update t set v = v + $1 where id = $2', [5, 1]), [5, 1]);
        assert.deepEqual(trips, [], 'nothing sent while held');
        // The statement after held writes sees them (each runs after the one before).
        assert.deepEqual(
          ((await q('select v from t where id = $1', [1])) as { rows: unknown[] }).rows,
          [{ v: 15 }],
        );
        await q('savepoint s');
        await q(later('insert into t (id, v) values ($1, $2)', [2, 30]), [2, 30]);
        await q('commit');
      });
      assert.deepEqual(trips, [
        [
          'begin',
          'insert into t (id, v) values ($1, $2)',
          'insert into u (id, v) values ($1, $2)',
          'update t set v = v + $1 where id = $2',
          'select v from t where id = $1',
        ],
        ['savepoint s', 'insert into t (id, v) values ($1, $2)', 'commit'],
      ]);
      assert.deepEqual(await rowsOf('select id, v from t order by id'), [
        { id: 1, v: 15 },
        { id: 2, v: 30 },
      ]);
      assert.deepEqual(await rowsOf('select id, v from u'), [{ id: 1, v: 20 }]);
    });

    void test('a batch answers with its last statement; named statements are parsed once', async () => {
      // A pool of its own, so the listing holds only this test's statements.
      const own = new BatchingPool(createPgPool(testDatabase.url, 1));
      const client = await own.connect();
      try {
        const q = (text: string, values: unknown[] = []) =>
          client.query<{ x: number }>(text, values);
        const run = async () => {
          await q('begin');
          const insert = 'insert into u (id, v) values ($1, $2) on conflict do nothing';
          await q(later(insert, [9, 9]), [9, 9]);
          const { rows } = await q('select v + $1::int as x from u where id = $2', [1, 9]);
          await q('rollback');
          return rows;
        };
        assert.deepEqual(await run(), [{ x: 10 }]);
        assert.deepEqual(await run(), [{ x: 10 }]);
        // Both texts named once on the connection: the second run only bound them.
        const { rows } = await q('select statement from pg_prepared_statements order by name');
        assert.deepEqual(
          rows.map((r) => (r as unknown as { statement: string }).statement),
          [
            'insert into u (id, v) values ($1, $2) on conflict do nothing',
            'select v + $1::int as x from u where id = $2',
          ],
        );
      } finally {
        client.release();
        await own.end();
      }
    });

    void test('rows decode alike when described and when not: types, nulls, row counts', async () => {
      await on((q) => q('create table w (id int8 primary key, n int4, s text, b bool, j jsonb)'));
      const client = await pool.connect();
      try {
        const q = (text: string, values: unknown[]) =>
          client.query<Record<string, unknown>>(text, values);
        const insert = 'insert into w (id, n, s, b, j) values ($1, $2, $3, $4, $5)';
        const inserted = await q(insert, [1, 7, 'x', true, '{"a":1}']);
        assert.equal(inserted.command, 'INSERT');
        assert.equal(inserted.rowCount, 1);
        await q(insert, [2, null, null, null, null]);
        const read = 'select id, n, s, b, j from w where id >= $1 order by id';
        // The first execution is described; the second decodes with what that said.
        for (let i = 0; i < 2; i++) {
          assert.deepEqual((await q(read, [1])).rows, [
            { id: '1', n: 7, s: 'x', b: true, j: { a: 1 } },
            { id: '2', n: null, s: null, b: null, j: null },
          ]);
        }
        const updated = await q('update w set n = $1 where id >= $2', [0, 1]);
        assert.deepEqual([updated.command, updated.rowCount, updated.rows], ['UPDATE', 2, []]);
      } finally {
        client.release();
      }
    });

    void test('a rollback drops what is held; outside a transaction nothing is held', async () => {
      const before = await rowsOf('select id, v from u order by id');
      trips.length = 0;
      await on(async (q) => {
        await q('begin');
        await q(later('insert into u (id, v) values ($1, $2)', [2, 1]), [2, 1]);
        await q('rollback');
      });
      assert.deepEqual(trips, [], 'a transaction the server never saw begin costs no round trip');
      assert.deepEqual(await rowsOf('select id, v from u order by id'), before);
      await on((q) => q(later('insert into u (id, v) values ($1, $2)', [3, 3]), [3, 3]));
      assert.deepEqual(await rowsOf('select id, v from u where id = 3'), [{ id: 3, v: 3 }]);
    });

    void test('a rollback to a savepoint drops what was held after it, and only that', async () => {
      await on(async (q) => {
        await q('begin');
        await q(later('insert into u (id, v) values ($1, $2)', [20, 1]), [20, 1]);
        await q('savepoint "a"');
        await q(later('insert into u (id, v) values ($1, $2)', [21, 1]), [21, 1]);
        await q('rollback to savepoint "a"'); // savepoint still held: nothing sent
        await q(later('insert into u (id, v) values ($1, $2)', [22, 1]), [22, 1]);
        await q('select 1 as x', [] as unknown[]).catch(() => undefined);
        await q('savepoint "b"');
        await q('select $1::int as x', [1]);
        await q(later('insert into u (id, v) values ($1, $2)', [23, 1]), [23, 1]);
        await q('rollback to savepoint "b"'); // savepoint sent: the rollback is sent too
        await q('commit');
      });
      assert.deepEqual(await rowsOf('select id from u where id >= 20 order by id'), [
        { id: 20 },
        { id: 22 },
      ]);
      await assert.rejects(
        on(async (q) => {
          await q('begin');
          try {
            await q('rollback to savepoint "never"');
          } finally {
            await q('rollback');
          }
        }),
        { code: '3B001' },
        'a savepoint the server never had still fails',
      );
    });

    void test("a held write's error fails the statement it travels before, and nothing stays", async () => {
      const before = await rowsOf('select id, v from u order by id');
      await on(async (q) => {
        await q('begin');
        await q(later('insert into u (id, v) values ($1, $2)', [4, 4]), [4, 4]);
        // id 1 exists: the primary key refuses it, at the commit, which then never runs.
        await q(later('insert into u (id, v) values ($1, $2)', [1, 1]), [1, 1]);
        await q(later('insert into u (id, v) values ($1, $2)', [5, 5]), [5, 5]);
        await assert.rejects(q('commit'), { code: '23505' });
        await q('rollback');
      });
      assert.deepEqual(await rowsOf('select id, v from u order by id'), before);
      // The failed write was parsed (its execution failed): it is bound, not parsed again.
      await on(async (q) => {
        await q('begin');
        await q(later('insert into u (id, v) values ($1, $2)', [4, 4]), [4, 4]);
        await q('commit');
      });
      assert.deepEqual(await rowsOf('select v from u where id = 4'), [{ v: 4 }]);
    });

    void test('a statement that fails to parse in a batch is parsed anew next time', async () => {
      const bad = 'select v from no_such_table where id = $1';
      for (let i = 0; i < 2; i++) {
        await assert.rejects(
          on(async (q) => {
            await q('begin');
            try {
              await q(bad, [1]);
            } finally {
              await q('rollback');
            }
          }),
          { code: '42P01' },
        );
      }
      await on((q) => q('create table no_such_table (id int, v int)'));
      await on(async (q) => {
        await q('begin');
        assert.deepEqual(((await q(bad, [1])) as { rows: unknown[] }).rows, []);
        await q('commit');
      });
    });

    /** The backend serving `q`'s connection. */
    const backendOf = async (q: (text: string, values?: unknown[]) => Promise<unknown>) =>
      ((await q('select pg_backend_pid() as pid', [])) as { rows: { pid: number }[] }).rows[0]!.pid;

    void test("an error in the middle of a batch fails it with that statement's error; the connection stays usable", async () => {
      await on((q) => q('create table m (id int primary key, v int not null)'));
      await on((q) => q('insert into m values (1, 1)'));
      await on(async (q) => {
        const pid = await backendOf(q);
        trips.length = 0;
        await q('begin');
        await q(later('insert into m (id, v) values ($1, $2)', [2, 2]), [2, 2]);
        await q(later('insert into m (id, v) values ($1, $2)', [1, 9]), [1, 9]); // refused
        await q(later('insert into m (id, v) values ($1, $2)', [3, 3]), [3, 3]);
        // The statement the batch is sent with reports the refused write's error (not
        // "current transaction is aborted"), and runs no more than the writes after it.
        await assert.rejects(q('select count(*)::int as x from m where id > $1', [0]), {
          code: '23505',
          constraint: 'm_pkey',
        });
        assert.equal(trips.length, 1, 'one round trip');
        assert.equal(trips[0]!.length, 5);
        // The transaction is failed: until it ends, statements say so.
        await assert.rejects(q('select $1::int as x', [1]), { code: '25P02' });
        await q('rollback');
        // The same connection (the same backend) goes on.
        assert.equal(await backendOf(q), pid);
        await q('begin');
        await q(later('insert into m (id, v) values ($1, $2)', [4, 4]), [4, 4]);
        await q('commit');
      });
      assert.deepEqual(await rowsOf('select id, v from m order by id'), [
        { id: 1, v: 1 },
        { id: 4, v: 4 },
      ]);
    });

    void test("an error in the middle of reads sent together fails with that read's error; the connection stays usable", async () => {
      const together = (
        q: (text: string, values?: unknown[]) => Promise<unknown>,
        ...texts: string[]
      ) =>
        q(
          TOGETHER,
          texts.map((t) => CompiledQuery.raw(t, [1])),
        ) as Promise<{ rows: { rows: unknown[] }[] }>;
      await on(async (q) => {
        const pid = await backendOf(q);
        await q('begin');
        await assert.rejects(
          together(
            q,
            'select id from m where id = $1',
            'select $1::int / 0 as x',
            'select id from m where id > $1',
          ),
          { code: '22012' },
        );
        await q('rollback');
        assert.equal(await backendOf(q), pid);
        const { rows } = await together(
          q,
          'select id from m where id = $1',
          'select id from m where id > $1 order by id',
        );
        assert.deepEqual(
          rows.map((r) => r.rows),
          [[{ id: 1 }], [{ id: 4 }]],
        );
      });
    });

    void test('a connection killed mid-batch: the batch fails as unavailable, nothing of it stays, the pool goes on', async () => {
      const other = createPgPool(testDatabase.url, 1);
      try {
        const client = await pool.connect();
        const q = (text: string, values: unknown[] = []) => client.query(text, values);
        const pid = await backendOf(q);
        await q('begin');
        await q(later('insert into m (id, v) values ($1, $2)', [5, 5]), [5, 5]);
        // The batch: begin, the held insert, and a statement that takes a while.
        const batch = q('select pg_sleep($1) as x', [30]);
        const failed = assert.rejects(batch, (error: unknown) => {
          assert.ok(isDatabaseUnavailable(error), String(error));
          return true;
        });
        let sleeping = false;
        for (let i = 0; i < 200 && !sleeping; i++) {
          const { rows } = await other.query<{ n: number }>(
            "select count(*)::int as n from pg_stat_activity where pid = $1 and wait_event = 'PgSleep'",
            [pid],
          );
          sleeping = rows[0]!.n === 1;
          if (!sleeping) await new Promise((r) => setTimeout(r, 25));
        }
        assert.ok(sleeping, 'the batch is running');
        await other.query('select pg_terminate_backend($1)', [pid]);
        await failed;
        client.release();
        // Nothing of the killed transaction stayed; what was committed before did.
        assert.deepEqual(await rowsOf('select id, v from m order by id'), [
          { id: 1, v: 1 },
          { id: 4, v: 4 },
        ]);
        // The pool (of one) serves from a new connection.
        const next = await on((q2) => backendOf(q2));
        assert.notEqual(next, pid);
      } finally {
        await other.end();
      }
    });
  });
}

if (TEST_ENGINE === 'postgres') {
  void describe('a backend killed under a request (HTTP)', () => {
    let t: TestApp;
    let org: TestOrg;
    let methodId: string;
    let locker: pg.Client;

    before(async () => {
      t = await startTestApp({ rateLimitPerMinute: 0 });
      org = await t.createOrg();
      const method = await t.call(org, 'admin', {
        method: 'POST',
        url: '/v1/om/payment-methods',
        payload: {
          params: { code: 'cash', locales: { ar: { name: 'نقد' }, en: { name: 'Cash' } } },
        },
      });
      assert.equal(method.statusCode, 200, method.body);
      methodId = json(method).data.id as string;
      locker = new pg.Client({ connectionString: t.testDatabase.url });
      await locker.connect();
    });
    after(async () => {
      await locker.end();
      await t.close();
    });

    const pay = (orderId: string, key: string) =>
      t.call(org, 'cashier', {
        method: 'POST',
        url: '/v1/om/payments',
        headers: { 'idempotency-key': key },
        payload: {
          params: { orderId, type: 'receipt', methodId, amount: 10, status: 'complete' },
        },
      });
    const paymentsOf = async (orderId: string) => {
      const r = await t.call(org, 'manager', {
        method: 'GET',
        url: `/v1/om/orders/${orderId}/payments`,
      });
      assert.equal(r.statusCode, 200, r.body);
      return json(r).data;
    };

    void test('answered 503, nothing of it stays, what was committed stays, a retry under the key succeeds once', async () => {
      const order = await t.call(org, 'cashier', {
        method: 'POST',
        url: '/v1/om/orders',
        payload: { params: { total: 100 } },
      });
      assert.equal(order.statusCode, 200, order.body);
      const orderId = json(order).data.id as string;
      assert.equal((await pay(orderId, 'first')).statusCode, 200);
      const before = await paymentsOf(orderId);

      // Another session holds the order's row: the request's batch (its key's claim, the
      // order's lock and the reads sent with it) waits there, mid-batch, until killed.
      await locker.query('begin');
      await locker.query('select 1 from orders where id = $1 for update', [orderId]);
      const answer = pay(orderId, 'second');
      let pid: number | undefined;
      for (let i = 0; i < 200 && pid === undefined; i++) {
        const { rows } = await locker.query<{ pid: number }>(
          `select pid from pg_stat_activity where datname = current_database()
             and application_name = 'om-payments' and wait_event_type = 'Lock'`,
        );
        pid = rows[0]?.pid;
        if (pid === undefined) await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(pid !== undefined, 'the request waits on the lock');
      await locker.query('select pg_terminate_backend($1)', [pid]);
      const r = await answer;
      await locker.query('rollback');
      assert.equal(r.statusCode, 503, r.body);
      assert.equal(r.headers['retry-after'], String(t.config.retryAfterSeconds));
      assert.equal(json(r).error.code, 'SERVICE_UNAVAILABLE');
      assert.doesNotMatch(r.body, /terminat|administrator|57P01/i);

      assert.deepEqual(await paymentsOf(orderId), before, 'nothing of the killed request');
      // The key was never claimed for good: the retry runs, once.
      const retried = await pay(orderId, 'second');
      assert.equal(retried.statusCode, 200, retried.body);
      const replayed = await pay(orderId, 'second');
      assert.equal(replayed.statusCode, 200);
      assert.equal(json(replayed).data.id, json(retried).data.id);
      const after = await paymentsOf(orderId);
      assert.equal(
        JSON.stringify(after).split('"type":"receipt"').length - 1,
        2,
        JSON.stringify(after),
      );
    });
  });
}
