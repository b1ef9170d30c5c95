// Large stored answers are kept compressed (src/http/idempotency.ts): a confirm answers the
// order's whole payment list (~60 KB at 100 payments), which written as text was most of
// the request's database work. `identity`: `response` is the JSON body as sent; `br`: it is
// the body compressed with Brotli, in base64 (text, so both engines keep one column type).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('idempotency_keys')
    .addColumn('response_encoding', 'text', (c) => c.notNull().defaultTo('identity'))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('idempotency_keys').dropColumn('response_encoding').execute();
}
