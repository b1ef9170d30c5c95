// PostgreSQL: claiming an Idempotency-Key as a statement that fails when the key is not free
// (API.md §5), so the claim can travel in the same round trip as the request's first
// statement (src/http/idempotency.ts): when it fails, the server skips what follows it in
// that round trip, so nothing of the request runs — not even a row lock that would wait for
// the first request under the key. Each refusal has its own SQLSTATE:
//   OMI01 — an answer is stored under the key (the caller replays it or refuses a reuse);
//   OMI02 — another transaction holds the key right now (409 IDEMPOTENCY_IN_PROGRESS).
// A stored answer wins over a held key, so concurrent repeats of a finished request all get
// its answer. The lookup runs after the lock attempt, on a snapshot taken after it: a first
// request that committed meanwhile is seen. SQLite needs none of this: its write
// transaction already excludes every other writer, and a lookup there costs no round trip.
import { sql, type Kysely } from 'kysely';
import { isPostgres } from './postgres-only.ts';

export async function up(db: Kysely<unknown>): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`
    create function om_claim_idempotency_key(lock_name text, claim_scope text, claim_key text)
    returns void language plpgsql as $$
    declare
      claimed boolean := pg_try_advisory_xact_lock(hashtextextended(lock_name, 0));
    begin
      if exists (select 1 from idempotency_keys k where k.scope = claim_scope and k.key = claim_key) then
        raise exception 'an answer is stored under this idempotency key' using errcode = 'OMI01';
      end if;
      if not claimed then
        raise exception 'this idempotency key is in use' using errcode = 'OMI02';
      end if;
    end $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`drop function om_claim_idempotency_key(text, text, text)`.execute(db);
}
