// Migration 0013 (an order's total may be 0, API.md §3.2) on a database that already holds
// orders: every row survives unchanged, every index, trigger and constraint of `orders` is
// still there and still enforced, and only the total's check changed (> 0 → >= 0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Migrator, sql } from 'kysely';
import { createDatabase, type Database } from '../src/db/engine.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { MIGRATIONS } from '../src/db/migrations/index.ts';
import { createOrganization } from '../src/organizations/organizations.service.ts';
import { cliCaller } from '../src/shared/context.ts';
import { createTestDatabase } from './support/database.ts';

const NAMES = Object.keys(MIGRATIONS).sort();
/** The migration right before 0013 (whatever numbers land before it). */
const BEFORE = NAMES[NAMES.indexOf('0013_order_total_may_be_zero') - 1]!;

function migrator(database: Database): Migrator {
  return new Migrator({
    db: database.db,
    provider: { getMigrations: () => Promise.resolve(MIGRATIONS) },
  });
}

/** The definitions of everything on `orders` but its rows: indexes, triggers, checks. */
async function ordersSchema(database: Database): Promise<string[]> {
  if (database.engine === 'postgres') {
    const { rows } = await sql<{ d: string }>`
      select indexdef as d from pg_indexes where tablename = 'orders'
      union all
      select conname || ' ' || pg_get_constraintdef(oid) from pg_constraint
        where conrelid = 'orders'::regclass
      union all
      select tgname from pg_trigger where tgrelid = 'orders'::regclass and not tgisinternal
      order by 1`.execute(database.db);
    return rows.map((r) => r.d);
  }
  const { rows } = await sql<{ d: string }>`
    select type || ' ' || name || ' ' || coalesce(sql, '') as d from sqlite_master
    where tbl_name = 'orders' order by type, name`.execute(database.db);
  return rows.map((r) => r.d);
}

const orderRow = (organizationId: string, id: string, number: number, total: number) => ({
  organization_id: organizationId,
  id,
  number,
  status: 'open' as const,
  total_minor: total,
  paid_minor: 0,
  refunded_minor: 0,
  pending_minor: 0,
  pending_refunds_minor: 0,
  payment_count: 0,
  customer_uid: number % 2 === 0 ? `c-${number}` : null,
  external_ref: `ext-${number}`,
  closed_at: null,
  canceled_at: null,
  created_at: '2026-01-01T00:00:00.000Z',
  created_via: 'test',
  created_by: 'test',
  updated_at: '2026-01-01T00:00:00.000Z',
  updated_via: 'test',
  updated_by: 'test',
});

void test('0013 relaxes the total check on a database with orders, keeping rows, indexes and constraints', async () => {
  const testDatabase = await createTestDatabase();
  const database = createDatabase(testDatabase.config);
  try {
    const before = await migrator(database).migrateTo(BEFORE);
    assert.equal(before.error, undefined);
    const org = await createOrganization(database, cliCaller('test'), {
      name: 'Org',
      currency: 'SAR',
    });
    const rows = Array.from({ length: 50 }, (_, i) =>
      orderRow(org.id, `order-${String(i).padStart(3, '0')}`, i + 1, 100 * (i + 1)),
    );
    await database.db.insertInto('orders').values(rows).execute();
    await assert.rejects(
      database.db
        .insertInto('orders')
        .values(orderRow(org.id, 'zero-before', 999, 0))
        .execute(),
      'before 0013 a total of 0 is refused',
    );
    const schemaBefore = await ordersSchema(database);

    const applied = await migrateToLatest(database);
    assert.ok(applied.includes('0013_order_total_may_be_zero'), applied.join());

    const kept = await database.db.selectFrom('orders').selectAll().orderBy('id').execute();
    assert.deepEqual(kept, rows);
    // Only the check's expression differs.
    const relax = (d: string) =>
      d.replace('total_minor >= 0', 'total_minor > 0').replace('"orders"', 'orders');
    assert.deepEqual((await ordersSchema(database)).map(relax), schemaBefore.map(relax));
    assert.notDeepEqual(await ordersSchema(database), schemaBefore);

    await database.db
      .insertInto('orders')
      .values(orderRow(org.id, 'zero', 1000, 0))
      .execute();
    // Still enforced: the total's sign, the other checks, the unique number and externalRef.
    for (const [label, row] of [
      ['negative total', orderRow(org.id, 'neg', 1001, -1)],
      ['bad status', { ...orderRow(org.id, 'st', 1002, 5), status: 'gone' as 'open' }],
      ['negative refunded', { ...orderRow(org.id, 'rf', 1003, 5), refunded_minor: -1 }],
      ['duplicate number', orderRow(org.id, 'dup-number', 1, 5)],
      ['duplicate externalRef', { ...orderRow(org.id, 'dup-ref', 1004, 5), external_ref: 'ext-1' }],
      ['duplicate id', orderRow(org.id, 'order-000', 1005, 5)],
      ['unknown organization', orderRow('no-such-org', 'fk', 1006, 5)],
    ] as const) {
      await assert.rejects(database.db.insertInto('orders').values(row).execute(), label);
    }
    // The lists' index is still used.
    if (database.engine === 'sqlite') {
      const { rows: plan } = await sql<{ detail: string }>`
        explain query plan select id from orders where organization_id = ${org.id}
        order by created_at desc, id desc limit 5`.execute(database.db);
      assert.match(plan.map((r) => r.detail).join(' '), /orders_by_created/);
    }
  } finally {
    await database.close();
    await testDatabase.drop();
  }
});
