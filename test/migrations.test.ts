// Migrations: applied exactly once even when several instances or processes start together on
// one fresh database, and a no-op on a database that is already up to date.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompiledQuery, sql } from 'kysely';
import { createDatabase, type Database } from '../src/db/engine.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { MIGRATIONS } from '../src/db/migrations/index.ts';
import { listPaymentsQuery } from '../src/payments/payments.repository.ts';
import { createOrganization } from '../src/organizations/organizations.service.ts';
import { cliCaller } from '../src/shared/context.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { parseJsonLine, runCli } from './support/cli.ts';

const NAMES = Object.keys(MIGRATIONS).sort();
const FOUNDATION_TABLES = ['organizations', 'api_keys', 'api_key_organizations'];

/** Opens the test database, runs `fn`, closes it. */
async function withDatabase<T>(
  testDatabase: TestDatabase,
  fn: (database: Database) => Promise<T>,
): Promise<T> {
  const database = createDatabase(testDatabase.config);
  try {
    return await fn(database);
  } finally {
    await database.close();
  }
}

/** How many rows of kysely_migration carry each migration name. */
async function migrationRows(database: Database): Promise<Record<string, number>> {
  const { rows } = await sql<{ name: string; n: number | string }>`
    select name, count(*) as n from kysely_migration group by name order by name`.execute(
    database.db,
  );
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.n)]));
}

const oncePerMigration = (): Record<string, number> =>
  Object.fromEntries(NAMES.map((name) => [name, 1]));

async function tableNames(database: Database): Promise<string[]> {
  const tables = await database.db.introspection.getTables({ withInternalKyselyTables: true });
  return tables.map((t) => t.name).sort();
}

/** Every table with its columns, and the row count of every table. */
async function snapshot(database: Database): Promise<{
  schema: Record<string, string[]>;
  counts: Record<string, number>;
  migrations: unknown[];
}> {
  const tables = await database.db.introspection.getTables({ withInternalKyselyTables: true });
  const schema: Record<string, string[]> = {};
  const counts: Record<string, number> = {};
  for (const table of tables) {
    schema[table.name] = table.columns.map((c) => `${c.name}:${c.dataType}`).sort();
    const { rows } = await sql<{
      n: number | string;
    }>`select count(*) as n from ${sql.table(table.name)}`.execute(database.db);
    counts[table.name] = Number(rows[0]!.n);
  }
  const { rows: migrations } = await sql`select * from kysely_migration order by name`.execute(
    database.db,
  );
  return { schema, counts, migrations };
}

void test('the migration list starts with the foundation', () => {
  assert.ok(NAMES.includes('0001_foundation'), NAMES.join(', '));
  assert.equal(NAMES[0], '0001_foundation');
});

void test('two instances migrating one fresh database at once apply each migration once', async () => {
  const testDatabase = await createTestDatabase();
  const a = createDatabase(testDatabase.config);
  const b = createDatabase(testDatabase.config);
  try {
    const results = await Promise.allSettled([migrateToLatest(a), migrateToLatest(b)]);
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    assert.deepEqual(failures, [], 'both migrateToLatest calls succeed');
    const [appliedA, appliedB] = results.map((r) => (r.status === 'fulfilled' ? r.value : []));
    // Between them, every migration was applied by exactly one instance.
    assert.deepEqual([...appliedA!, ...appliedB!].sort(), NAMES);

    const tables = await tableNames(a);
    for (const table of FOUNDATION_TABLES) assert.ok(tables.includes(table), table);
    assert.deepEqual(await migrationRows(a), oncePerMigration());
    // The schema works: both instances can write through it.
    const org = await createOrganization(a, cliCaller('test'), { name: 'x', currency: 'SAR' });
    const seen = await b.db
      .selectFrom('organizations')
      .select('id')
      .where('id', '=', org.id)
      .execute();
    assert.equal(seen.length, 1);
  } finally {
    await a.close();
    await b.close();
    await testDatabase.drop();
  }
});

void test('two processes running `migrate --json` at once apply the migrations once', async () => {
  const testDatabase = await createTestDatabase();
  try {
    const runs = await Promise.all([
      runCli(testDatabase, ['migrate', '--json']),
      runCli(testDatabase, ['migrate', '--json']),
    ]);
    for (const run of runs) {
      assert.equal(run.code, 0, `exit code 0, stderr: ${run.stderr}`);
      assert.equal(run.stderr, '');
    }
    const applied = runs.map((run) => parseJsonLine(run).applied as string[]);
    // One process applied everything (the foundation included); the other found nothing to do.
    const sorted = [...applied].sort((x, y) => x.length - y.length);
    assert.deepEqual(sorted[0], []);
    assert.deepEqual([...sorted[1]!].sort(), NAMES);
    assert.ok(sorted[1]!.includes('0001_foundation'));

    const third = parseJsonLine(await runCli(testDatabase, ['migrate', '--json']));
    assert.deepEqual(third, { applied: [] });

    await withDatabase(testDatabase, async (database) => {
      assert.deepEqual(await migrationRows(database), oncePerMigration());
      const tables = await tableNames(database);
      for (const table of FOUNDATION_TABLES) assert.ok(tables.includes(table), table);
    });
  } finally {
    await testDatabase.drop();
  }
});

void test('migrating an up-to-date database changes nothing', async () => {
  const testDatabase = await createTestDatabase();
  try {
    const before = await withDatabase(testDatabase, async (database) => {
      assert.deepEqual((await migrateToLatest(database)).sort(), NAMES);
      await createOrganization(database, cliCaller('test'), { name: 'kept', currency: 'KWD' });
      return snapshot(database);
    });
    assert.equal(before.counts.organizations, 1);
    assert.equal(before.migrations.length, NAMES.length);

    // Again in-process, on a new connection …
    const after = await withDatabase(testDatabase, async (database) => {
      assert.deepEqual(await migrateToLatest(database), []);
      return snapshot(database);
    });
    assert.deepEqual(after, before);

    // … and through the CLI.
    const cli = parseJsonLine(await runCli(testDatabase, ['migrate', '--json']));
    assert.deepEqual(cli, { applied: [] });
    const afterCli = await withDatabase(testDatabase, snapshot);
    assert.deepEqual(afterCli, before);
  } finally {
    await testDatabase.drop();
  }
});

/** The statement's plan, as text. PostgreSQL would scan an empty table whatever the indexes: asked with sequential scans off. */
async function planOf(database: Database, query: CompiledQuery): Promise<string> {
  const explain = (prefix: string) =>
    CompiledQuery.raw(`${prefix} ${query.sql}`, [...query.parameters]) as CompiledQuery<
      Record<string, unknown>
    >;
  const rows =
    database.engine === 'postgres'
      ? await database.transaction(async (tx) => {
          await sql`set local enable_seqscan = off`.execute(tx);
          return (await tx.executeQuery(explain('explain'))).rows;
        })
      : (await database.db.executeQuery(explain('explain query plan'))).rows;
  return rows
    .map((r) => (database.engine === 'postgres' ? Object.values(r) : [r.detail]).join(' '))
    .join('\n');
}

/** The index's definition, as the engine keeps it. */
async function definitionOf(database: Database, index: string): Promise<string> {
  if (database.engine === 'postgres') {
    const { rows } = await sql<{ indexdef: string }>`
      select indexdef from pg_indexes where indexname = ${index}`.execute(database.db);
    return rows[0]!.indexdef;
  }
  const { rows } = await sql<{ sql: string }>`
    select sql from sqlite_master where name = ${index}`.execute(database.db);
  return rows[0]!.sql;
}

void test('the refund-source and invoice indexes hold only rows with a value, and the lookups still use them', async () => {
  const testDatabase = await createTestDatabase();
  try {
    await withDatabase(testDatabase, async (database) => {
      await migrateToLatest(database);
      const lookups = {
        payments_by_source: sql`select id from payments
          where organization_id = ${'o'} and source_payment_id = ${'p'} and deleted_at is null`,
        payments_by_invoice: sql`select id from payments
          where organization_id = ${'o'} and invoice_id = ${'i'}`,
      };
      for (const [index, lookup] of Object.entries(lookups)) {
        assert.match(await definitionOf(database, index), /where .*is not null/i, index);
        const plan = await planOf(database, lookup.compile(database.db));
        assert.match(plan, new RegExp(index), `${index} in the plan:\n${plan}`);
      }
    });
  } finally {
    await testDatabase.drop();
  }
});

void test('a page of payments by customer or by method is read from an index in the page’s order', async () => {
  const testDatabase = await createTestDatabase();
  try {
    await withDatabase(testDatabase, async (database) => {
      await migrateToLatest(database);
      const page = { limit: 20, cursor: { createdAt: '2026-01-01T00:00:00.000Z', id: 'p' } };
      const lists = {
        payments_by_customer: { customerUid: 'c' },
        payments_by_method: { methodId: 'm' },
      };
      for (const [index, filters] of Object.entries(lists)) {
        const plan = await planOf(database, listPaymentsQuery(database.db, 'o', filters, page));
        assert.match(plan, new RegExp(index), `${index} in the plan:\n${plan}`);
        // No sort step: the index gives the page's order, so only the page is read.
        assert.doesNotMatch(plan, /\bSort\b|TEMP B-TREE/, plan);
      }
      assert.match(await definitionOf(database, 'payments_by_customer'), /where .*is not null/i);
    });
  } finally {
    await testDatabase.drop();
  }
});
