// An order's total may be 0 (API.md §3.2: a staff meal, a full discount), so the CHECK of
// 0002 relaxes from `total_minor > 0` to `total_minor >= 0`. Payment amounts keep theirs.
//
// PostgreSQL alters the named constraint in place. SQLite cannot alter a CHECK: the table is
// rebuilt from its own stored definition with only that expression changed, the rows copied
// in the same transaction, and every index and trigger on it recreated from their stored SQL
// (SQLite's documented procedure for table changes, "Making Other Kinds Of Table Schema
// Changes"). No other table references `orders` by foreign key, so nothing else is touched.
import { sql, type Kysely } from 'kysely';
import { isPostgres } from './postgres-only.ts';

const TABLE = 'orders';

async function rebuildSqliteOrders(db: Kysely<unknown>, from: string, to: string): Promise<void> {
  const { rows: tables } = await sql<{ sql: string }>`
    select sql from sqlite_master where type = 'table' and name = ${TABLE}`.execute(db);
  const definition = tables[0]?.sql;
  if (definition === undefined || !definition.includes(from)) {
    throw new Error(`0013: the orders table does not have the check "${from}"`);
  }
  const { rows: dependents } = await sql<{ sql: string }>`
    select sql from sqlite_master
    where tbl_name = ${TABLE} and type in ('index', 'trigger') and sql is not null
    order by type, name`.execute(db);
  const renamed = definition
    .replace(from, to)
    .replace(/^CREATE TABLE\s+("?)orders\1/i, 'CREATE TABLE "orders_0013"');
  if (!renamed.startsWith('CREATE TABLE "orders_0013"')) {
    throw new Error('0013: unexpected CREATE TABLE statement for orders');
  }
  await sql.raw(renamed).execute(db);
  await sql`insert into orders_0013 select * from orders`.execute(db);
  await sql`drop table orders`.execute(db);
  await sql`alter table orders_0013 rename to orders`.execute(db);
  for (const { sql: statement } of dependents) await sql.raw(statement).execute(db);
}

export async function up(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) {
    await sql`
      alter table orders
        drop constraint orders_total_minor_check,
        add constraint orders_total_minor_check check (total_minor >= 0)`.execute(db);
    return;
  }
  await rebuildSqliteOrders(db, 'total_minor > 0', 'total_minor >= 0');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) {
    await sql`
      alter table orders
        drop constraint orders_total_minor_check,
        add constraint orders_total_minor_check check (total_minor > 0)`.execute(db);
    return;
  }
  await rebuildSqliteOrders(db, 'total_minor >= 0', 'total_minor > 0');
}
