// The transaction helper every money change will use (API.md §5): a transaction in which a
// row is locked first. Two separate Database instances (connections) stand for two service
// instances, so the lock is proven across connections, not just inside one process's mutex.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createDatabase, type Database } from '../src/db/engine.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createOrganization } from '../src/organizations/organizations.service.ts';
import { cliCaller } from '../src/shared/context.ts';
import { createTestDatabase, TEST_ENGINE, type TestDatabase } from './support/database.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

void describe(`transactionLocking (${TEST_ENGINE})`, () => {
  let testDb: TestDatabase;
  let a: Database;
  let b: Database;
  let orgId: string;

  before(async () => {
    testDb = await createTestDatabase();
    a = createDatabase(testDb.config);
    // A second connection: on SQLite it waits for the write lock asynchronously, so both
    // can live in one process the way two processes share one file.
    b = createDatabase(testDb.config);
    await migrateToLatest(a);
    orgId = (await createOrganization(a, cliCaller(), { name: 'lock', currency: 'SAR' })).id;
  });
  after(async () => {
    await a.close();
    await b.close();
    await testDb.drop();
  });

  void test('a second locker waits until the first commits, and sees its write', async () => {
    const log: string[] = [];
    const first = a.transactionLocking('organizations', orgId, orgId, async (tx, locked) => {
      assert.equal(locked?.id, orgId);
      log.push('first:locked');
      await sleep(300);
      await tx
        .updateTable('organizations')
        .set({ name: 'renamed by first' })
        .where('id', '=', orgId)
        .execute();
      log.push('first:commit');
    });
    await sleep(50);
    const second = b.transactionLocking('organizations', orgId, orgId, async (tx, locked) => {
      // The row handed over is read under the lock, so it already shows the first's write.
      assert.equal(locked?.name, 'renamed by first');
      log.push('second:locked');
      const row = await tx
        .selectFrom('organizations')
        .select('name')
        .where('id', '=', orgId)
        .executeTakeFirstOrThrow();
      return row.name;
    });
    const [, seen] = await Promise.all([first, second]);
    assert.deepEqual(log, ['first:locked', 'first:commit', 'second:locked']);
    assert.equal(seen, 'renamed by first');
  });

  void test('reads sent alongside the lock come back by name, read under the lock', async () => {
    const name = (db: Database['db'], id: string) =>
      db.selectFrom('organizations').select('name').where('id', '=', id).compile();
    const first = a.transactionLocking('organizations', orgId, orgId, async (tx) => {
      await sleep(300);
      await tx
        .updateTable('organizations')
        .set({ name: 'renamed before the read' })
        .where('id', '=', orgId)
        .execute();
    });
    await sleep(50);
    const read = await b.transactionLocking(
      'organizations',
      orgId,
      orgId,
      async (_tx, locked, alongside) => ({ locked: locked?.name, ...alongside }),
      (tx) => ({ same: name(tx, orgId), missing: name(tx, 'no-such-org'), skipped: undefined }),
    );
    await first;
    assert.deepEqual(read, {
      locked: 'renamed before the read',
      same: [{ name: 'renamed before the read' }],
      missing: [],
      // `skipped` named no read: nothing sent, nothing answered.
    });
  });

  void test('a failing transaction rolls back everything it wrote', async () => {
    await assert.rejects(
      a.transactionLocking('organizations', orgId, orgId, async (tx) => {
        await tx
          .updateTable('organizations')
          .set({ name: 'never' })
          .where('id', '=', orgId)
          .execute();
        throw new Error('rule failed');
      }),
      /rule failed/,
    );
    const row = await b.db
      .selectFrom('organizations')
      .select('name')
      .where('id', '=', orgId)
      .executeTakeFirstOrThrow();
    assert.notEqual(row.name, 'never');
  });

  void test('a row of another organization is not found', async () => {
    const other = (await createOrganization(a, cliCaller(), { name: 'other', currency: 'KWD' })).id;
    const found = await a.transactionLocking('organizations', other, orgId, async (_tx, r) => r);
    assert.equal(found, undefined);
    const missing = await a.transactionLocking(
      'organizations',
      orgId,
      'no-such-id',
      async (_tx, r) => r,
    );
    assert.equal(missing, undefined);
  });

  void test('concurrent read-modify-write under the lock loses no update', async () => {
    await a.db
      .updateTable('organizations')
      .set({ max_payments_per_order: 1 })
      .where('id', '=', orgId)
      .execute();
    const increments = 20;
    await Promise.all(
      Array.from({ length: increments }, (_, i) =>
        (i % 2 === 0 ? a : b).transactionLocking('organizations', orgId, orgId, async (tx) => {
          const row = await tx
            .selectFrom('organizations')
            .select('max_payments_per_order')
            .where('id', '=', orgId)
            .executeTakeFirstOrThrow();
          await sleep(2);
          await tx
            .updateTable('organizations')
            .set({ max_payments_per_order: row.max_payments_per_order + 1 })
            .where('id', '=', orgId)
            .execute();
        }),
      ),
    );
    const row = await a.db
      .selectFrom('organizations')
      .select('max_payments_per_order')
      .where('id', '=', orgId)
      .executeTakeFirstOrThrow();
    assert.equal(row.max_payments_per_order, 1 + increments);
  });
});

void describe(`transactions committed together (${TEST_ENGINE})`, () => {
  void test('concurrent transactions share commits; a rollback undoes only its own writes', async () => {
    const testDb = await createTestDatabase();
    let commits = 0;
    const db = createDatabase(testDb.config, {
      onStatement: (s) => {
        if (s.sql.trim().toLowerCase() === 'commit') commits++;
      },
    });
    try {
      await migrateToLatest(db);
      const org = (await createOrganization(db, cliCaller(), { name: 'g', currency: 'SAR' })).id;
      commits = 0;
      const count = 20;
      const outcomes = await Promise.allSettled(
        Array.from({ length: count }, (_, i) =>
          db.transaction(async (tx) => {
            await sql`insert into counters (organization_id, name, value)
              values (${org}, ${`group-${i}`}, ${i})`.execute(tx);
            if (i % 3 === 0) throw new Error(`refused ${i}`);
          }),
        ),
      );
      const kept = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [`group-${i}`] : []));
      assert.equal(kept.length, count - Math.ceil(count / 3));
      const rows = await sql<{ name: string }>`select name from counters
        where organization_id = ${org} and name like 'group-%' order by name`.execute(db.db);
      assert.deepEqual(rows.rows.map((r) => r.name).sort(), kept.sort());
      // SQLite: the 20 transactions of one event-loop turn share far fewer fsyncs than 20.
      if (TEST_ENGINE === 'sqlite') assert.ok(commits < count / 2, `${commits} commits`);
      else assert.ok(commits <= count, `${commits} commits`);
    } finally {
      await db.close();
      await testDb.drop();
    }
  });
});
