// SQLite counts every committed change to what authentication reads — api keys, the
// organizations a key may act on, organizations — in one row, whichever process made it
// (the service, the CLI, an operator's SQL). A service keeps authentication answers only
// while that count stays what it was when they were read (src/api-keys/auth-cache.ts): a
// read of one row per request instead of the key, link and organization (docs/performance.md).
// PostgreSQL announces the same changes on a channel instead (0005).
import { sql, type Kysely } from 'kysely';
import { isPostgres } from './postgres-only.ts';

const TABLES = ['api_keys', 'api_key_organizations', 'organizations'];
const EVENTS = ['insert', 'update', 'delete'];

const triggerName = (table: string, event: string) => `${table}_count_auth_change_${event}`;

export async function up(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) return;
  await sql`
    create table auth_changes (
      id integer primary key check (id = 1),
      version integer not null
    )`.execute(db);
  await sql`insert into auth_changes (id, version) values (1, 0)`.execute(db);
  for (const table of TABLES) {
    for (const event of EVENTS) {
      // SQLite has no statement-level triggers: one count per row changed, which is as good.
      await sql`
        create trigger ${sql.id(triggerName(table, event))}
        after ${sql.raw(event)} on ${sql.table(table)}
        begin
          update auth_changes set version = version + 1 where id = 1;
        end`.execute(db);
    }
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) return;
  for (const table of TABLES) {
    for (const event of EVENTS)
      await sql`drop trigger ${sql.id(triggerName(table, event))}`.execute(db);
  }
  await sql`drop table auth_changes`.execute(db);
}
