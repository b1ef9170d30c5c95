// The payments summary's one read (API.md §8): grouped sums over the payments table, in one
// statement and one round trip. It reads, never writes, the payments module's table — a
// report is a view over payments, owned by no write path.
//
// Cost grows with the payments in the range only: completed payments are found through
// `payments_by_completed` (organization_id, completed_at), pending ones through
// `payments_by_created` (organization_id, created_at, id); both are range reads
// (test/reports.test.ts checks the plans on both engines).
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB, PaymentType } from '../db/schema.ts';

export interface SumQuery {
  organizationId: string;
  /** ISO-8601 UTC with milliseconds, the stored format: text order is time order. */
  from: string;
  to: string;
  byMethod: boolean;
  /** When grouped by day: where each local day ends (ISO, ascending; the last one is `to`). */
  dayEnds: readonly string[] | undefined;
}

export interface SumRowText {
  kind: 'complete' | 'pending';
  type: PaymentType;
  method_id: string | null;
  day_index: number | string | null;
  /** Exact integers as text: a sum of bigints may pass 2^53 (PostgreSQL's sum is numeric). */
  n: string;
  total: string;
}

/** The index of the local day an instant column falls in: the first day that ends after it. */
function dayIndex(
  column: 'completed_at' | 'created_at',
  ends: readonly string[],
): RawBuilder<number> {
  if (ends.length === 1) return sql<number>`0`;
  const whens = ends
    .slice(0, -1)
    .map((end, i) => sql`when ${sql.ref(column)} < ${end} then ${sql.lit(i)}`);
  return sql<number>`case ${sql.join(whens, sql` `)} else ${sql.lit(ends.length - 1)} end`;
}

function part(
  q: SumQuery,
  kind: 'complete' | 'pending',
  column: 'completed_at' | 'created_at',
  statuses: RawBuilder<unknown>,
) {
  const day = q.dayEnds === undefined ? sql`null` : dayIndex(column, q.dayEnds);
  const method = q.byMethod ? sql.ref('method_id') : sql`null`;
  // Grouped in an outer query: PostgreSQL would not see two copies of the day's CASE (with
  // their own parameters) as the same expression in SELECT and GROUP BY.
  return sql`select ${sql.lit(kind)} as kind, type, method_id, day_index,
      cast(count(*) as text) as n, cast(sum(amount_minor) as text) as total
    from (
      select type, ${method} as method_id, ${day} as day_index, amount_minor
      from payments
      where organization_id = ${q.organizationId}
        and ${sql.ref(column)} >= ${q.from} and ${sql.ref(column)} < ${q.to}
        and status in (${statuses}) and deleted_at is null
    ) as p
    group by type, method_id, day_index`;
}

/** The statement, compiled (the plan test explains this very text). */
export function summaryQuery(db: Kysely<DB>, q: SumQuery) {
  // Complete payments by completedAt; reversed ones are in neither part (§8).
  return sql<SumRowText>`${part(q, 'complete', 'completed_at', sql`'complete'`)}
    union all
    ${part(q, 'pending', 'created_at', sql`'pending', 'progress'`)}`.compile(db);
}

export async function sumPayments(db: Kysely<DB>, q: SumQuery): Promise<SumRowText[]> {
  return (await db.executeQuery(summaryQuery(db, q))).rows;
}
