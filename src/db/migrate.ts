import { Migrator, type MigrationResultSet } from 'kysely';
import type { Database } from './engine.ts';
import { MIGRATIONS } from './migrations/index.ts';

/**
 * Applies pending migrations. Safe when several instances start at once: Kysely holds an
 * advisory lock on PostgreSQL; on SQLite the whole batch runs in one IMMEDIATE transaction
 * (see TransactionalDdlSqliteAdapter), so a second migrator waits and then finds nothing to do.
 */
export async function migrateToLatest(database: Database): Promise<string[]> {
  const migrator = new Migrator({
    db: database.db,
    provider: { getMigrations: () => Promise.resolve(MIGRATIONS) },
  });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error !== undefined) {
    throw result.error instanceof Error ? result.error : new Error('migration failed');
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
