// The feed's position of every event (API.md §7.1): the order a reader that follows `next`
// receives events in, which must be the order in which they became visible.
//
// PostgreSQL: a sequence number is taken at insert, but rows become visible at commit, so a
// smaller number can appear after a larger one was served. Each event therefore records its
// transaction (`xact`, `pg_current_xact_id()`, a column default: the insert is unchanged and
// costs no round trip) and a sequence (`seq`); the feed serves only rows whose transaction is
// older than every transaction still running (`pg_snapshot_xmin`), in (xact, seq) order —
// nothing can commit in front of what was served. The default is evaluated inside the writing
// transaction, subtransactions included (it is always the top-level id).
//
// SQLite: one writer at a time, so insert order is commit order. `seq` is the rowid (an
// INTEGER PRIMARY KEY, so VACUUM never renumbers it, as it may an implicit rowid); the purge
// never deletes the newest row, so no number is ever reused. `xact` is always 0 there. The
// table is rebuilt for that (SQLite cannot add a primary key), keeping every row and index.
import { sql, type Kysely } from 'kysely';
import { isPostgres } from './postgres-only.ts';

export async function up(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) {
    await sql`alter table events add column xact xid8 not null default pg_current_xact_id()`.execute(
      db,
    );
    await sql`alter table events add column seq bigint generated always as identity`.execute(db);
    // The feed of one organization, in feed order; also the purge's oldest-first walk.
    await sql`create index events_feed on events (organization_id, xact, seq)`.execute(db);
    return;
  }
  await sql`create table events_positioned (
    seq integer primary key,
    xact integer not null default 0,
    organization_id text not null references organizations (id),
    id text not null,
    type text not null,
    entity_type text not null,
    entity_id text not null,
    data text not null,
    changes text,
    actor_by text not null,
    actor_via text not null,
    request_id text not null,
    created_at text not null,
    constraint events_pk unique (organization_id, id)
  )`.execute(db);
  await sql`insert into events_positioned (organization_id, id, type, entity_type, entity_id,
      data, changes, actor_by, actor_via, request_id, created_at)
    select organization_id, id, type, entity_type, entity_id, data, changes, actor_by,
      actor_via, request_id, created_at
    from events order by rowid`.execute(db);
  await sql`drop table events`.execute(db);
  await sql`alter table events_positioned rename to events`.execute(db);
  await sql`create index events_by_entity on events (organization_id, entity_id, id)`.execute(db);
  await sql`create index events_feed on events (organization_id, seq)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index events_feed`.execute(db);
  if (isPostgres(db)) {
    await sql`alter table events drop column seq`.execute(db);
    await sql`alter table events drop column xact`.execute(db);
    return;
  }
  await sql`alter table events drop column xact`.execute(db);
}
