import { Migrator, type MigrationResultSet } from 'kysely';
import type { Database } from './engine.ts';
import { MIGRATIONS } from './migrations/index.ts';

/**
 * Applies pending migrations. Safe when several instances start at once: Kysely holds an
 * advisory lock on PostgreSQL, and on SQLite each migration transaction begins IMMEDIATE.
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
