// History in bulk: copies of a template order that the real service built (its payments and
// their events included), made with one INSERT … SELECT per table. Making a million payments
// over HTTP would take longer than the benchmark itself; copying rows the service wrote keeps
// every stored figure consistent (the copies hold exactly what the template holds) without
// the seeder knowing how figures are computed. Only identities change.
import { sql } from 'kysely';
import type { Database } from '../src/db/engine.ts';

/**
 * A copy's id: the template's id with its first 8 hex digits (uuidv7 time bits) replaced by
 * the copy number, so ids stay unique per copy, keep the uuid shape and sort before every id
 * the service makes afterwards.
 */
function copyId(engine: Database['engine'], n: ReturnType<typeof sql>, column: string) {
  const hex = engine === 'postgres' ? sql`lpad(to_hex(${n}), 8, '0')` : sql`printf('%08x', ${n})`;
  return sql`(${hex} || substr(${sql.ref(column)}, 9))`;
}

async function columnsOf(database: Database, table: string): Promise<string[]> {
  if (database.engine === 'postgres') {
    const r = await sql<{ column_name: string }>`select column_name from information_schema.columns
      where table_name = ${table} and table_schema = current_schema() order by ordinal_position`.execute(
      database.db,
    );
    return r.rows.map((c) => c.column_name);
  }
  const r = await sql<{ name: string }>`select name from pragma_table_info(${table})`.execute(
    database.db,
  );
  return r.rows.map((c) => c.name);
}

const TIMES = ['created_at', 'updated_at', 'completed_at', 'reversed_at'];

/** An ISO timestamp column moved `ms` milliseconds into the past, in the stored format. */
function earlier(
  engine: Database['engine'],
  column: ReturnType<typeof sql.ref>,
  ms: ReturnType<typeof sql>,
) {
  return engine === 'postgres'
    ? sql`to_char((${column}::timestamptz - (${ms}) * interval '1 millisecond') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
    : sql`strftime('%Y-%m-%dT%H:%M:%fZ', julianday(${column}) - (${ms}) / 86400000.0)`;
}

/** Rows 1..count of a number series, as a FROM item named g(n). */
function series(engine: Database['engine'], first: number, count: number) {
  return engine === 'postgres'
    ? sql`generate_series(${first}::bigint, ${first + count - 1}::bigint) as g(n)`
    : sql`(with recursive s(n) as (select ${first} union all select n + 1 from s where n < ${
        first + count - 1
      }) select n from s) as g`;
}

/** The ids of one copy are the template's ids passed through `idOf`. */
export interface Copies {
  orderIds: string[];
  /** The copy of a template row's id (an order, payment or event) in copy `i`. */
  idOf(i: number, templateId: string): string;
}

const copyPrefix = (n: number) => n.toString(16).padStart(8, '0');

export class Seeder {
  /** Copy numbers already used by this database (copies of one template must not clash). */
  #next = 1;
  readonly #database: Database;
  constructor(database: Database) {
    this.#database = database;
  }

  /**
   * `count` copies of the order `templateOrderId` with all its payments and their events.
   * Runs in batches, each its own transaction. With `spreadMs`, copy i's payments are dated
   * i × spreadMs earlier than the template's (created, updated, completed and reversed at),
   * so history spreads over past days as a report meets it, instead of one instant. Without
   * `withEvents` the copies have no events: where a webhook endpoint follows the feed, copied
   * events would be delivered during the measured run, dated when their template was made.
   */
  async copyOrder(
    organizationId: string,
    templateOrderId: string,
    count: number,
    spreadMs = 0,
    withEvents = true,
  ): Promise<Copies> {
    const { engine } = this.#database;
    const orderCols = await columnsOf(this.#database, 'orders');
    const paymentCols = await columnsOf(this.#database, 'payments');
    // The feed position (migration 0010) is the database's to assign: a copy gets its own.
    const eventCols = (await columnsOf(this.#database, 'events')).filter(
      (c) => c !== 'seq' && c !== 'xact',
    );
    const start = this.#next;
    const batch = 2000;
    for (let done = 0; done < count; done += batch) {
      const size = Math.min(batch, count - done);
      const first = this.#next;
      this.#next += size;
      await this.#database.transaction(async (tx) => {
        const n = sql.ref('g.n');
        const top = await sql<{
          top: number;
        }>`select coalesce(max(number), 0) as top from orders where organization_id = ${organizationId}`.execute(
          tx,
        );
        const base = Number(top.rows[0]!.top);
        const orderExpr = (c: string) =>
          c === 'id'
            ? copyId(engine, n, 'o.id')
            : c === 'number'
              ? sql`${base} + ${n} - ${first} + 1`
              : c === 'external_ref'
                ? sql`null`
                : sql.ref(`o.${c}`);
        await sql`insert into orders (${sql.join(orderCols.map((c) => sql.ref(c)))})
          select ${sql.join(orderCols.map(orderExpr))}
          from orders o cross join ${series(engine, first, size)}
          where o.organization_id = ${organizationId} and o.id = ${templateOrderId}`.execute(tx);

        const paymentExpr = (c: string) =>
          c === 'id' || c === 'order_id' || c === 'source_payment_id'
            ? sql`case when ${sql.ref(`p.${c}`)} is null then null else ${copyId(engine, n, `p.${c}`)} end`
            : c === 'transaction_ref'
              ? sql`null`
              : spreadMs > 0 && TIMES.includes(c)
                ? earlier(engine, sql.ref(`p.${c}`), sql`(${n} - ${start}) * ${spreadMs}`)
                : sql.ref(`p.${c}`);
        await sql`insert into payments (${sql.join(paymentCols.map((c) => sql.ref(c)))})
          select ${sql.join(paymentCols.map(paymentExpr))}
          from payments p cross join ${series(engine, first, size)}
          where p.organization_id = ${organizationId} and p.order_id = ${templateOrderId}`.execute(
          tx,
        );

        const eventExpr = (c: string) =>
          c === 'id' || c === 'entity_id' ? copyId(engine, n, `e.${c}`) : sql.ref(`e.${c}`);
        if (withEvents)
          await sql`insert into events (${sql.join(eventCols.map((c) => sql.ref(c)))})
            select ${sql.join(eventCols.map(eventExpr))}
            from events e cross join ${series(engine, first, size)}
            where e.organization_id = ${organizationId} and (e.entity_id = ${templateOrderId}
              or e.entity_id in (select id from payments where organization_id = ${organizationId}
                and order_id = ${templateOrderId}))`.execute(tx);

        // Orders the service numbers afterwards continue after the copies.
        await sql`update counters set value = ${base + size}
          where organization_id = ${organizationId} and name = 'order_number'`.execute(tx);
      });
    }
    // The copies sit in SQLite's write-ahead log; the service's next commit would stop to
    // checkpoint them into the database file, a stall the seeding caused. Do it here.
    if (engine === 'sqlite') await sql`pragma wal_checkpoint(truncate)`.execute(this.#database.db);
    // PostgreSQL: bulk copies leave the planner's statistics behind until autovacuum gets to
    // them, and the first run after a top-up measured that wait, not the service (the first
    // growth runs were 20-30 % slower than the same runs later). They also start autovacuum
    // (inserts past a fifth of a table) during the next run — in a small database after every
    // copy, in a large one hardly ever, which made the small history look the slower one.
    // Vacuum (setting the new pages all-visible) and analyze here, as seeding's own work.
    else await sql`vacuum (analyze) orders, payments, events`.execute(this.#database.db);
    const idOf = (i: number, templateId: string) => copyPrefix(start + i) + templateId.slice(8);
    return {
      orderIds: Array.from({ length: count }, (_, i) => idOf(i, templateOrderId)),
      idOf,
    };
  }
}
