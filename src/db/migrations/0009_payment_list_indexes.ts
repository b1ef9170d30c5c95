// GET /payments filtered by customer or by method (API.md §3.5 item 5) reads a page, newest
// first. No index led with the customer, so that list walked the organization's payments
// newest first until it had a page: with 200,000 payments and one customer's few, ~155 ms on
// PostgreSQL, growing with history. The method's index had no order, so a popular method's
// list could read and sort all its payments. Both now end in (created_at, id), the page's
// order, so a page is a range read of at most limit + 1 entries. The customer index holds
// only payments that name one: most payments do not, and each entry is a B-tree insert on
// the write path (test/migrations.test.ts checks the plans).
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('payments_by_customer')
    .on('payments')
    .columns(['organization_id', 'customer_uid', 'created_at', 'id'])
    .where(sql.ref('customer_uid'), 'is not', null)
    .execute();
  await db.schema.dropIndex('payments_by_method').execute();
  await db.schema
    .createIndex('payments_by_method')
    .on('payments')
    .columns(['organization_id', 'method_id', 'created_at', 'id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('payments_by_customer').execute();
  await db.schema.dropIndex('payments_by_method').execute();
  await db.schema
    .createIndex('payments_by_method')
    .on('payments')
    .columns(['organization_id', 'method_id'])
    .execute();
}
