// Indexes on columns most payments leave empty hold only the rows that have a value.
// `source_payment_id` is set on refunds only, `invoice_id` on payments linked to an invoice;
// every receipt still paid for an entry in each index (a B-tree insert each, ~8 µs of
// SQLite's time per index under load: docs/performance.md). Every query that uses them asks
// for `column = value`, which both engines know implies `column is not null`, so the plans
// keep them (test/migrations.test.ts checks the plans).
import { sql, type Kysely } from 'kysely';

const SPARSE = [
  { name: 'payments_by_source', column: 'source_payment_id' },
  { name: 'payments_by_invoice', column: 'invoice_id' },
] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const { name, column } of SPARSE) {
    await db.schema.dropIndex(name).execute();
    await db.schema
      .createIndex(name)
      .on('payments')
      .columns(['organization_id', column])
      .where(sql.ref(column), 'is not', null)
      .execute();
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const { name, column } of SPARSE) {
    await db.schema.dropIndex(name).execute();
    await db.schema.createIndex(name).on('payments').columns(['organization_id', column]).execute();
  }
}
