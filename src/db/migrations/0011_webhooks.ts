// Webhook endpoints, their deliveries, and where fan-out stands in each organization's feed
// (API.md §7.2, §7.3).
//
// Deliveries are made by the worker from the feed (src/webhooks/webhooks.worker.ts), never by
// the writing transaction: the feed serves only committed events, so nothing is sent early,
// and the cursor moves in the same transaction that inserts the deliveries, so a killed
// process loses nothing. Pending work lives in `webhook_deliveries`: `next_attempt_at` is both
// when an attempt is due and, while one runs, the end of its claim (a killed worker's claim
// comes due again when it ends).
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webhook_endpoints')
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    // JSON array of exact types and `prefix.*` patterns; null = every event.
    .addColumn('events', 'text')
    .addColumn('description', 'text')
    .addColumn('enabled', 'integer', (c) => c.notNull())
    // Signing needs the secret itself (HMAC); it is never answered after creation/rotation.
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('previous_secret', 'text')
    .addColumn('previous_secret_expires_at', 'text')
    // Since when every attempt has failed (null after a success): 5 days of it disables.
    .addColumn('failing_since', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_via', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('updated_via', 'text', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('webhook_endpoints_pk', ['organization_id', 'id'])
    .addCheckConstraint('webhook_endpoints_enabled', sql`enabled in (0, 1)`)
    .execute();
  await db.schema
    .createIndex('webhook_endpoints_by_created')
    .on('webhook_endpoints')
    .columns(['organization_id', 'created_at', 'id'])
    .execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('endpoint_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    // The body's `data` of a `webhook.test` delivery, which is not in the feed. Others read
    // their event from `events` when sent: a copy here would be written again by every claim
    // and every outcome (a row update rewrites the row).
    .addColumn('payload', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_attempt_at', 'text')
    .addColumn('last_status_code', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('next_attempt_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('webhook_deliveries_pk', ['organization_id', 'id'])
    .addCheckConstraint(
      'webhook_deliveries_status',
      sql`status in ('pending', 'succeeded', 'failed')`,
    )
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_by_endpoint')
    .on('webhook_deliveries')
    .columns(['organization_id', 'endpoint_id', 'created_at', 'id'])
    .execute();
  // The worker's claim: pending deliveries by due time, nothing else.
  await db.schema
    .createIndex('webhook_deliveries_due')
    .on('webhook_deliveries')
    .columns(['next_attempt_at'])
    .where(sql.ref('status'), '=', 'pending')
    .execute();

  // Per organization with endpoints: the feed position up to which deliveries exist.
  await db.schema
    .createTable('webhook_fanout')
    .addColumn('organization_id', 'text', (c) => c.primaryKey().references('organizations.id'))
    .addColumn('xact', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['webhook_fanout', 'webhook_deliveries', 'webhook_endpoints']) {
    await db.schema.dropTable(table).execute();
  }
}
