// An app on a fresh database of the engine under test, with an organization and keys of
// every role, called through Fastify's inject (the real routing, validation and storage).
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { loadConfig, type Config, type DatabaseConfig } from '../../src/config.ts';
import { createDatabase, type Database } from '../../src/db/engine.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import type { Role } from '../../src/db/schema.ts';
import { createApiKey } from '../../src/api-keys/api-keys.service.ts';
import { createOrganization } from '../../src/organizations/organizations.service.ts';
import { cliCaller } from '../../src/shared/context.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export interface TestOrg {
  id: string;
  keys: Record<Role, string>;
}

export interface TestApp {
  app: FastifyInstance;
  database: Database;
  testDatabase: TestDatabase;
  config: Config;
  /** An admin key for every organization. */
  rootKey: string;
  createOrg(currency?: string): Promise<TestOrg>;
  /** A request with the api-key and organization-id headers of `org` (role default admin). */
  call(org: TestOrg, role: Role, options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

const cli = cliCaller('test');

export async function startTestApp(
  overrides: Partial<Config> = {},
  databaseConfig?: (db: TestDatabase) => DatabaseConfig,
): Promise<TestApp> {
  const testDatabase = await createTestDatabase();
  const config: Config = {
    ...loadConfig({}),
    bootstrap: false,
    database: databaseConfig ? databaseConfig(testDatabase) : testDatabase.config,
    ...overrides,
  };
  const database = createDatabase(config.database);
  await migrateToLatest(database);
  const app = await buildApp({ config, database, logger: false });
  await app.ready();
  const root = await createApiKey(database, cli, {
    name: 'root',
    role: 'admin',
    organizations: 'all',
  });

  return {
    app,
    database,
    testDatabase,
    config,
    rootKey: root.secret,
    async createOrg(currency = 'SAR') {
      const org = await createOrganization(database, cli, { name: `Org ${currency}`, currency });
      const keys = {} as Record<Role, string>;
      for (const role of ['viewer', 'cashier', 'manager', 'admin'] as const) {
        const made = await createApiKey(database, cli, {
          name: `${role} key`,
          role,
          organizations: [org.id],
          via: 'pos',
          principal: `${role}@test`,
        });
        keys[role] = made.secret;
      }
      return { id: org.id, keys };
    },
    call(org, role, options) {
      return app.inject({
        ...options,
        headers: { 'api-key': org.keys[role], 'organization-id': org.id, ...options.headers },
      });
    },
    async close() {
      await app.close();
      await database.close();
      await testDatabase.drop();
    },
  };
}

/** The body of a response as JSON. */
export function json<T = Record<string, any>>(response: LightMyRequestResponse): T {
  return JSON.parse(response.body) as T;
}
