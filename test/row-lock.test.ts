// withRowLock (src/db/row-lock.ts): the lock clause is there on PostgreSQL and absent on
// SQLite, decided from the database the statement is built for — also for a statement
// prepared once per dialect (src/db/prepared.ts), which is how the hot locks are built.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDatabase, type Database } from '../src/db/engine.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { prepared } from '../src/db/prepared.ts';
import { withRowLock } from '../src/db/row-lock.ts';
import { createTestDatabase, TEST_ENGINE, type TestDatabase } from './support/database.ts';

void describe(`withRowLock (${TEST_ENGINE})`, () => {
  let testDb: TestDatabase;
  let database: Database;

  before(async () => {
    testDb = await createTestDatabase();
    database = createDatabase(testDb.config);
    await migrateToLatest(database);
  });
  after(async () => {
    await database.close();
    await testDb.drop();
  });

  const expected = {
    update: TEST_ENGINE === 'postgres' ? / for update$/ : /"id" = \$1$|"id" = \?$/,
    share: TEST_ENGINE === 'postgres' ? / for share$/ : /"id" = \$1$|"id" = \?$/,
  };

  for (const strength of ['update', 'share'] as const) {
    void test(`${strength}: the clause the engine has`, () => {
      const { db } = database;
      const { sql } = withRowLock(
        db,
        db.selectFrom('orders').selectAll().where('id', '=', 'x'),
        strength,
      ).compile();
      assert.match(sql, expected[strength]);
    });
  }

  // SQLite would reject a `for update` as a syntax error, so running it proves the clause
  // is absent there; PostgreSQL takes it only inside a transaction, which this is.
  void test('a prepared statement gets the clause of the engine it runs on', async () => {
    const lockOrder = prepared((db, id: string) =>
      withRowLock(db, db.selectFrom('orders').selectAll().where('id', '=', id), 'update'),
    );
    const rows = await database.transaction(async (tx) => (await lockOrder(tx, 'none')).rows);
    assert.deepEqual(rows, []);
  });
});
