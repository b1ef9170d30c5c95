// A lease on an organization's fan-out (src/webhooks/webhooks.worker.ts): while a worker
// attempts a batch of new events before their deliveries are written, `lease_until` keeps
// every other worker off that range, and a killed worker's range is taken over (sent again:
// at least once) when it ends. Null: nobody is attempting.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('webhook_fanout').addColumn('lease_until', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('webhook_fanout').dropColumn('lease_until').execute();
}
