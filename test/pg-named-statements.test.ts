// src/db/pg-named-statements.ts: on PostgreSQL each distinct statement text is prepared once
// per connection. PostgreSQL only: the embedded engine has no such protocol (its driver keeps
// prepared statements itself, exercised by every SQLite run of the suite).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPgPool } from '../src/db/engine.ts';
import { NamedStatementPool } from '../src/db/pg-named-statements.ts';
import { createTestDatabase, TEST_ENGINE, type TestDatabase } from './support/database.ts';

if (TEST_ENGINE === 'postgres') {
  void describe('named statements (postgres)', () => {
    let testDatabase: TestDatabase;
    let pool: NamedStatementPool;

    before(async () => {
      testDatabase = await createTestDatabase();
      pool = new NamedStatementPool(createPgPool(testDatabase.url, 1), 3);
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
  });
}
