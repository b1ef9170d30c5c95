// src/db/prepared.ts: queries compiled once per dialect, executed with each call's values.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import { createDatabase, type Database } from '../src/db/engine.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { prepared } from '../src/db/prepared.ts';
import type { DB } from '../src/db/schema.ts';
import { createTestDatabase, TEST_ENGINE, type TestDatabase } from './support/database.ts';

void describe(`prepared queries (${TEST_ENGINE})`, () => {
  let testDatabase: TestDatabase;
  let database: Database;

  before(async () => {
    testDatabase = await createTestDatabase();
    database = createDatabase(testDatabase.config);
    await migrateToLatest(database);
  });
  after(async () => {
    await database.close();
    await testDatabase.drop();
  });

  const org = (id: string, name: string, max?: number) => ({
    id,
    name,
    currency: 'SAR',
    currency_exponent: 2,
    max_payments_per_order: max,
    created_at: '2026-01-01T00:00:00.000Z',
    created_via: 'test',
    created_by: 'test',
    updated_at: '2026-01-01T00:00:00.000Z',
    updated_via: 'test',
    updated_by: 'test',
  });
  const insertOrg = prepared((db: Kysely<DB>, row: ReturnType<typeof org>) =>
    db.insertInto('organizations').values(row),
  );
  const findOrg = prepared((db: Kysely<DB>, id: string, currency: string) =>
    db
      .selectFrom('organizations')
      .select(['id', 'name', 'max_payments_per_order'])
      .where('id', '=', id)
      .where('currency', '=', currency),
  );
  const rename = prepared(
    (db: Kysely<DB>, id: string, patch: { name?: string; updated_by?: string }) =>
      db.updateTable('organizations').set(patch).where('id', '=', id),
  );

  void test('each call binds its own values, in every position, on the engine under test', async () => {
    await insertOrg(database.db, org('org-a', 'A', 5));
    await insertOrg(database.db, org('org-b', 'B', 7));
    assert.deepEqual((await findOrg(database.db, 'org-a', 'SAR')).rows, [
      { id: 'org-a', name: 'A', max_payments_per_order: 5 },
    ]);
    assert.deepEqual((await findOrg(database.db, 'org-b', 'SAR')).rows, [
      { id: 'org-b', name: 'B', max_payments_per_order: 7 },
    ]);
    assert.deepEqual((await findOrg(database.db, 'org-b', 'KWD')).rows, []);
  });

  void test('rows of another shape get a query of their own; undefined fields are left out', async () => {
    // max_payments_per_order undefined: the column's default applies, as with Kysely.
    await insertOrg(database.db, org('org-c', 'C'));
    assert.equal((await findOrg(database.db, 'org-c', 'SAR')).rows[0]?.max_payments_per_order, 100);
    await rename(database.db, 'org-c', { name: 'C2' });
    await rename(database.db, 'org-c', { name: 'C3', updated_by: 'someone' });
    await rename(database.db, 'org-a', { updated_by: 'other' });
    const rows = await database.db
      .selectFrom('organizations')
      .select(['id', 'name', 'updated_by'])
      .where('id', 'in', ['org-a', 'org-c'])
      .orderBy('id')
      .execute();
    assert.deepEqual(rows, [
      { id: 'org-a', name: 'A', updated_by: 'other' },
      { id: 'org-c', name: 'C3', updated_by: 'someone' },
    ]);
  });

  void test('inside a transaction it runs on the transaction, and rolls back with it', async () => {
    await assert.rejects(
      database.db.transaction().execute(async (tx) => {
        await rename(tx, 'org-b', { name: 'inside' });
        assert.equal((await findOrg(tx, 'org-b', 'SAR')).rows[0]?.name, 'inside');
        throw new Error('roll back');
      }),
      /roll back/,
    );
    assert.equal((await findOrg(database.db, 'org-b', 'SAR')).rows[0]?.name, 'B');
  });

  void test('arrays are refused (an IN list changes the statement with its length)', () => {
    const byIds = prepared((db: Kysely<DB>, ids: string) =>
      db.selectFrom('organizations').select('id').where('id', '=', ids),
    );
    assert.throws(() => byIds(database.db, ['a'] as unknown as string), TypeError);
  });
});
