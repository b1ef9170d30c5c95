// PostgreSQL announces every committed change to what authentication reads — api keys, the
// organizations a key may act on, organizations — on the `om_auth` channel, whichever process
// made it (the service, the CLI, an operator's SQL). Services keep authentication answers
// only while they hear these (src/api-keys/auth-invalidation.ts). One notice per statement:
// listeners forget everything on any notice, so which rows changed does not matter.
// SQLite has no such channel, and nothing to announce: authentication there is read per
// request, in-process.
import { sql, type Kysely } from 'kysely';
import { isPostgres } from './postgres-only.ts';

const TABLES = ['api_keys', 'api_key_organizations', 'organizations'];

export async function up(db: Kysely<unknown>): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`
    create function om_announce_auth_change() returns trigger language plpgsql as $$
    begin
      perform pg_notify('om_auth', '');
      return null;
    end $$`.execute(db);
  for (const table of TABLES) {
    await sql`
      create trigger ${sql.id(`${table}_announce_auth_change`)}
      after insert or update or delete or truncate on ${sql.table(table)}
      for each statement execute function om_announce_auth_change()`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!isPostgres(db)) return;
  for (const table of TABLES) {
    await sql`drop trigger ${sql.id(`${table}_announce_auth_change`)} on ${sql.table(table)}`.execute(
      db,
    );
  }
  await sql`drop function om_announce_auth_change()`.execute(db);
}
