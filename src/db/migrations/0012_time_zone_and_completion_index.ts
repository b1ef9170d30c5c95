// The organization's time zone (API.md §3.1), which the payments summary cuts days in, and
// the index the summary reads completed payments through (§8: its cost grows with the
// payments in the range, never with the whole history).
//
// Only rows that have completed are in the index (`completed_at is not null`): pending ones
// are found by `payments_by_created`, which exists already. The index names neither status
// nor amount, so a reversal (which changes status, not completed_at) stays a HOT update on
// PostgreSQL (docs/decisions.md); a confirm sets completed_at and so enters it — the price of
// the report's range read, one B-tree insert per completed payment.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('organizations')
    .addColumn('time_zone', 'text', (c) => c.notNull().defaultTo('Asia/Riyadh'))
    .execute();
  await db.schema
    .createIndex('payments_by_completed')
    .on('payments')
    .columns(['organization_id', 'completed_at'])
    .where(sql.ref('completed_at'), 'is not', null)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('payments_by_completed').execute();
  await db.schema.alterTable('organizations').dropColumn('time_zone').execute();
}
