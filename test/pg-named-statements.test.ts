// src/db/pg-named-statements.ts: on PostgreSQL each distinct statement text is prepared once
// per connection. PostgreSQL only: the embedded engine has no such protocol (its driver keeps
// prepared statements itself, exercised by every SQLite run of the suite).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPgPool } from '../src/db/engine.ts';
import { CompiledQuery } from 'kysely';
import { deferred, NamedStatementPool } from '../src/db/pg-named-statements.ts';
import { createTestDatabase, TEST_ENGINE, type TestDatabase } from './support/database.ts';

if (TEST_ENGINE === 'postgres') {
  void describe('named statements (postgres)', () => {
    let testDatabase: TestDatabase;
    let pool: NamedStatementPool;
    const sent: string[] = [];

    before(async () => {
      testDatabase = await createTestDatabase();
      pool = new NamedStatementPool(createPgPool(testDatabase.url, 1), 3, (sql) => sent.push(sql));
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

    void test('past the bound, new texts run unnamed and still answer', async () => {
      assert.equal(await run('select $1::int + 2 as x', [1]), 3);
      assert.equal(await run('select $1::int + 3 as x', [1]), 4);
      // The bound (3) is reached: this one is not prepared, but it runs.
      assert.equal(await run('select $1::int + 4 as x', [1]), 5);
      assert.deepEqual(await prepared(), [
        'om_0: select $1::int + 1 as x',
        'om_1: select $1::int + 2 as x',
        'om_2: select $1::int + 3 as x',
      ]);
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

    void test('held writes travel as one statement before the next one, in order', async () => {
      await on((q) => q('create table t (id int primary key, v int not null)'));
      await on((q) => q('create table u (id int primary key, v int not null)'));
      sent.length = 0;
      await on(async (q) => {
        await q('begin');
        await q(later('insert into t (id, v) values ($1, $2)', [1, 10]), [1, 10]);
        await q(later('insert into u (id, v) values ($1, $2)', [1, 20]), [1, 20]);
        await q(later('insert into t (id, v) values ($1, $2)', [2, 30]), [2, 30]);
        assert.deepEqual(sent, ['begin'], 'nothing sent while held');
        await q('commit');
      });
      assert.deepEqual(sent, [
        'begin',
        'with w0 as (insert into t (id, v) values ($1, $2)), w1 as (insert into u (id, v) values ($3, $4)) insert into t (id, v) values ($5, $6)',
        'commit',
      ]);
      assert.deepEqual(await rowsOf('select id, v from t order by id'), [
        { id: 1, v: 10 },
        { id: 2, v: 30 },
      ]);
      assert.deepEqual(await rowsOf('select id, v from u'), [{ id: 1, v: 20 }]);
    });

    void test('an update of a table with a held write goes after it, and sees it', async () => {
      sent.length = 0;
      await on(async (q) => {
        await q('begin');
        await q(later('insert into t (id, v) values ($1, $2)', [3, 1]), [3, 1]);
        await q(later('update t set v = v + $1 where id = $2', [1, 3]), [1, 3]);
        await q(later('update t set v = v + $1 where id = $2', [1, 3]), [1, 3]);
        await q('commit');
      });
      assert.deepEqual(sent, [
        'begin',
        'insert into t (id, v) values ($1, $2)',
        'update t set v = v + $1 where id = $2',
        'update t set v = v + $1 where id = $2',
        'commit',
      ]);
      assert.deepEqual(await rowsOf('select v from t where id = 3'), [{ v: 3 }]);
    });

    void test('a rollback drops what is held; outside a transaction nothing is held', async () => {
      const before = await rowsOf('select id, v from u order by id');
      await on(async (q) => {
        await q('begin');
        await q(later('insert into u (id, v) values ($1, $2)', [2, 1]), [2, 1]);
        await q('rollback');
      });
      assert.deepEqual(await rowsOf('select id, v from u order by id'), before);
      await on((q) => q(later('insert into u (id, v) values ($1, $2)', [3, 3]), [3, 3]));
      assert.deepEqual(await rowsOf('select id, v from u where id = 3'), [{ id: 3, v: 3 }]);
    });

    void test("a held write's error fails the statement it travels before, and nothing stays", async () => {
      const before = await rowsOf('select id, v from u order by id');
      await on(async (q) => {
        await q('begin');
        await q(later('insert into u (id, v) values ($1, $2)', [4, 4]), [4, 4]);
        // id 1 exists: the primary key refuses it, at the commit.
        await q(later('insert into u (id, v) values ($1, $2)', [1, 1]), [1, 1]);
        await assert.rejects(q('commit'), { code: '23505' });
        await q('rollback');
      });
      assert.deepEqual(await rowsOf('select id, v from u order by id'), before);
    });
  });
}
