// Row locks where the engine has them. On PostgreSQL a statement that must hold rows until
// its transaction ends says so (`for update`, `for share`); SQLite has no row locks, and its
// IMMEDIATE write transaction already holds the only write lock there is (src/db/engine.ts).
// Decided from the database a statement is built for, so a prepared statement
// (src/db/prepared.ts), which is built once per dialect, gets the right text on each engine.
import { PostgresAdapter, type Kysely } from 'kysely';
import type { DB } from './schema.ts';

interface Lockable<Q> {
  forUpdate(): Q;
  forShare(): Q;
  skipLocked(): Q;
}

/**
 * `query` taking `strength` row locks on PostgreSQL; `query` as it is on SQLite. With
 * `skipLocked`, rows another transaction holds are left out instead of waited for.
 */
export function withRowLock<Q extends Lockable<Q>>(
  db: Kysely<DB>,
  query: Q,
  strength: 'update' | 'share',
  { skipLocked = false }: { skipLocked?: boolean } = {},
): Q {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return query;
  const locked = strength === 'update' ? query.forUpdate() : query.forShare();
  return skipLocked ? locked.skipLocked() : locked;
}
