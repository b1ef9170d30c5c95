// Independent reads in one round trip. On PostgreSQL every round trip wakes a backend and
// waits for it, and outside a transaction every statement also waits for a connection of the
// pool: under load that wait was most of a read's time (docs/performance.md). Queries that do
// not need each other's answers — an order, its payments and their methods; an order's lock
// and the payment it guards — are written at once with one Sync (src/db/pg-pool.ts) and come
// back together, in the order given: each runs after the ones before it, so a read placed
// after a row lock reads what the lock holder committed. Outside a transaction they share one
// connection, but each statement sees the data as of its own start (READ COMMITTED), as when
// sent one by one, only microseconds apart instead of round trips apart.
//
// SQLite has no round trips: the queries simply run one after another.
import {
  CompiledQuery,
  PostgresAdapter,
  sql,
  type Expression,
  type Kysely,
  type RawBuilder,
  type Selectable,
  type SqlBool,
} from 'kysely';
import { isDeferred, TOGETHER } from './pg-pool.ts';
import type { DB } from './schema.ts';

type RowsOf<Q> = { [K in keyof Q]: Q[K] extends CompiledQuery<infer R> ? R[] : never };

/** Runs `queries` (compiled, e.g. by a prepared query's `compile`) and answers each one's rows. */
export async function together<Q extends readonly CompiledQuery<unknown>[]>(
  db: Kysely<DB>,
  ...queries: Q
): Promise<RowsOf<Q>> {
  // A held write is sent when the transaction's next statement is; its answer is nobody's.
  if (queries.some(isDeferred)) throw new Error('a held write cannot be sent together');
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    const { rows } = await db.executeQuery<{ rows: unknown[] }>(
      CompiledQuery.raw(TOGETHER, queries as readonly unknown[] as unknown[]),
    );
    return rows.map((answer) => answer.rows) as RowsOf<Q>;
  }
  const answers: unknown[][] = [];
  for (const query of queries) answers.push((await db.executeQuery(query)).rows);
  return answers as RowsOf<Q>;
}

/**
 * `column in (subquery)`, the subquery run once: for a statement that reads what another one
 * sent beside it refers to, through that statement's own query (the orders of a page of
 * payments). PostgreSQL may plan a plain `in` as a semi-join that runs the subquery again for
 * every row of the outer table (seen for a page's methods); `= any(array(…))` makes it an
 * InitPlan, run once. SQLite runs an uncorrelated `in` subquery once already.
 */
export function amongSubquery(
  db: Kysely<DB>,
  column: string,
  subquery: Expression<unknown>,
): RawBuilder<SqlBool> {
  return db.getExecutor().adapter instanceof PostgresAdapter
    ? sql<SqlBool>`${sql.ref(column)} = any(array(${subquery}))`
    : sql<SqlBool>`${sql.ref(column)} in (${subquery})`;
}

/** The tables whose rows a page of another table refers to by id. */
type ReferencedTable = 'orders' | 'payment_methods';

/**
 * The organization's rows of `table` whose ids a subquery selects (the orders of a page of
 * payments, their methods), compiled to be sent beside the page's own statement.
 */
export function among<T extends ReferencedTable>(
  db: Kysely<DB>,
  table: T,
  organizationId: string,
  ids: Expression<unknown>,
): CompiledQuery<Selectable<DB[T]>> {
  // One statement shape for every referenced table; Kysely cannot type a union table name.
  const tableDb = db as unknown as Kysely<Pick<DB, 'orders'>>;
  return tableDb
    .selectFrom(table as 'orders')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where(amongSubquery(db, 'id', ids))
    .compile();
}
