// Process entry: config → database (migrated) → bootstrap → app → listen; graceful shutdown.
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import type { Config } from './config.ts';
import { createDatabase, type Database } from './db/engine.ts';
import { migrateToLatest } from './db/migrate.ts';
import { purgeEvents } from './events/events.repository.ts';
import { purgeIdempotencyKeys } from './http/idempotency.ts';
import { bootstrapIfEmpty, type Bootstrapped } from './bootstrap.ts';

/** How often expired Idempotency-Keys are looked for. */
const PURGE_EVERY_MS = 60_000;

export interface RunningServer {
  app: FastifyInstance;
  database: Database;
  url: string;
  close(): Promise<void>;
}

export async function startServer(
  config: Config,
  print: (text: string) => void = (t) => process.stdout.write(t),
): Promise<RunningServer> {
  const database = createDatabase(config.database);
  try {
    await migrateToLatest(database);
    const created = config.bootstrap
      ? await bootstrapIfEmpty(database, config.defaultCurrency)
      : undefined;
    const app = await buildApp({ config, database });
    // Forget expired Idempotency-Keys (then events) now and every minute, so each purge has a minute's
    // keys to forget, in batches between requests (src/http/idempotency.ts); one purge at a
    // time; a failed one is retried next time; closing stops it between batches.
    let purging: Promise<void> | undefined;
    const closing = new AbortController();
    const purge = (): void => {
      purging ??= purgeIdempotencyKeys(database, config.idempotencyRetentionHours, {
        signal: closing.signal,
      })
        // Events past EVENT_RETENTION_DAYS (API.md §7), the same way: small batches.
        .then(() => purgeEvents(database, config.eventRetentionDays, { signal: closing.signal }))
        .then(
          () => undefined,
          (error: unknown) =>
            app.log.warn({ err: error }, 'purge of expired idempotency keys or events failed'),
        )
        .finally(() => (purging = undefined));
    };
    purge();
    const purgeTimer = setInterval(purge, PURGE_EVERY_MS).unref();
    app.addHook('onClose', async () => {
      clearInterval(purgeTimer);
      closing.abort();
      await purging;
    });
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    if (created !== undefined) print(bootstrapMessage(created, url));
    return {
      app,
      database,
      url,
      async close() {
        await app.close();
        await database.close();
      },
    };
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
}

/**
 * Printed once, on the first start of an empty database. This is the only time the secret is
 * shown; it goes to stdout for the operator, never into the structured logs.
 */
export function bootstrapMessage(created: Bootstrapped, base: string): string {
  return [
    '',
    '=== om-payments: first start ===',
    `Created organization "${created.organization.name}" (${created.organization.currency}): ${created.organization.id}`,
    `Created admin api key "${created.apiKey.name}" (all organizations). Its secret is shown only now:`,
    '',
    `  ${created.secret}`,
    '',
    'Try it:',
    `  curl -s ${base}/v1/om/organization \\`,
    `    -H 'api-key: ${created.secret}' \\`,
    `    -H 'organization-id: ${created.organization.id}'`,
    '',
    `Console:  ${base}/console   (sign in with the key and organization above)`,
    `API docs: ${base}/docs   (set OM_BOOTSTRAP=0 to skip this step on an empty database)`,
    '',
    '',
  ].join('\n');
}
