// The command-line tool: serve, migrate, and the administration of organizations and keys.
// Administration validates input with the same schemas as the HTTP API.
import { Command, Option } from 'commander';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { loadConfig, ConfigError, type Config } from './config.ts';
import { createDatabase, type Database } from './db/engine.ts';
import { migrateToLatest } from './db/migrate.ts';
import { ROLES } from './db/schema.ts';
import { AppError, invalidParameter } from './errors.ts';
import { CreateApiKeyBody } from './api-keys/api-keys.schemas.ts';
import * as apiKeys from './api-keys/api-keys.service.ts';
import { CreateOrganizationBody } from './organizations/organizations.schemas.ts';
import * as organizations from './organizations/organizations.service.ts';
import { cliCaller } from './shared/context.ts';
import { serve } from './cluster.ts';
import { operatorName } from './shared/operator.ts';

const caller = cliCaller(`cli:${operatorName()}`);

function out(value: unknown, json: boolean, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text()}\n`);
}

/** Checks input against a `{params}` body schema's inner object, as the HTTP API would. */
function validated<T>(body: TSchema & { properties: { params: TSchema } }, input: unknown): T {
  const schema = body.properties.params;
  const error = Value.Errors(schema, input).First();
  if (error !== undefined) {
    throw invalidParameter(
      error.path.replace(/^\//, '').replace(/\//g, '.') || 'input',
      error.message,
    );
  }
  return input as T;
}

async function withDatabase<T>(fn: (database: Database, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const database = createDatabase(config.database);
  try {
    await migrateToLatest(database);
    return await fn(database, config);
  } finally {
    await database.close();
  }
}

async function allPages<T>(
  list: (page: { limit: number; cursor?: string }) => Promise<{ items: T[]; next: string | null }>,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await list({ limit: 100, ...(cursor !== undefined && { cursor }) });
    items.push(...page.items);
    cursor = page.next ?? undefined;
  } while (cursor !== undefined);
  return items;
}

const program = new Command()
  .name('om-payments')
  .description('Payments service of an order-management platform');

program
  .command('serve')
  .description('start the HTTP service (migrates the database first; WORKERS processes)')
  .action(async () => {
    await serve(loadConfig());
  });

program
  .command('migrate')
  .description('apply pending database migrations and exit')
  .option('--json', 'print one JSON object')
  .action(async (opts: { json?: boolean }) => {
    const config = loadConfig();
    const database = createDatabase(config.database);
    try {
      const applied = await migrateToLatest(database);
      out({ applied }, opts.json === true, () =>
        applied.length === 0 ? 'database is up to date' : `applied: ${applied.join(', ')}`,
      );
    } finally {
      await database.close();
    }
  });

const org = program.command('org').description('organizations');
org
  .command('create')
  .description('create an organization')
  .requiredOption('--name <name>', 'display name')
  .requiredOption('--currency <code>', 'ISO 4217 currency, fixed for ever (e.g. SAR, KWD, JPY)')
  .option('--max-payments-per-order <n>', 'payments allowed on one order (default 100)', (v) =>
    Number(v),
  )
  .option('--time-zone <iana>', 'IANA time zone reports cut days in (default Asia/Riyadh)')
  .option('--json', 'print one JSON object')
  .action(
    async (opts: {
      name: string;
      currency: string;
      maxPaymentsPerOrder?: number;
      timeZone?: string;
      json?: boolean;
    }) => {
      const input = validated<organizations.CreateOrganizationInput>(CreateOrganizationBody, {
        name: opts.name,
        currency: opts.currency,
        ...(opts.maxPaymentsPerOrder !== undefined && {
          maxPaymentsPerOrder: opts.maxPaymentsPerOrder,
        }),
        ...(opts.timeZone !== undefined && { timeZone: opts.timeZone }),
      });
      const created = await withDatabase((database) =>
        organizations.createOrganization(database, caller, input),
      );
      out(created, opts.json === true, () => `${created.id}  ${created.currency}  ${created.name}`);
    },
  );
org
  .command('list')
  .description('list organizations')
  .option('--json', 'print one JSON object')
  .action(async (opts: { json?: boolean }) => {
    const items = await withDatabase((database) =>
      allPages((page) => organizations.listOrganizations(database, caller, page)),
    );
    out(
      { items },
      opts.json === true,
      () =>
        items.map((o) => `${o.id}  ${o.currency}  ${o.name}`).join('\n') || '(no organizations)',
    );
  });

const key = program.command('key').description('api keys');
key
  .command('create')
  .description('issue an api key; its secret is printed once')
  .requiredOption('--org <ids>', 'organization id(s), comma-separated, or "all"')
  .addOption(
    new Option('--role <role>', 'what the key may do').choices(ROLES).makeOptionMandatory(),
  )
  .requiredOption('--name <name>', 'what the key is for, e.g. "till 3"')
  .option('--principal <principal>', 'recorded as createdBy (default: the name)')
  .option('--via <via>', 'channel recorded as createdVia: pos, web, api… (default api)')
  .option('--json', 'print one JSON object')
  .action(
    async (opts: {
      org: string;
      role: string;
      name: string;
      principal?: string;
      via?: string;
      json?: boolean;
    }) => {
      const input = validated<apiKeys.CreateApiKeyInput>(CreateApiKeyBody, {
        name: opts.name,
        role: opts.role,
        organizations: opts.org === 'all' ? 'all' : opts.org.split(',').map((s) => s.trim()),
        ...(opts.principal !== undefined && { principal: opts.principal }),
        ...(opts.via !== undefined && { via: opts.via }),
      });
      const { apiKey, secret } = await withDatabase((database) =>
        apiKeys.createApiKey(database, caller, input),
      );
      out({ ...apiKey, secret }, opts.json === true, () =>
        [
          `${apiKey.id}  ${apiKey.role}  ${apiKey.name}`,
          `secret (shown once, store it now): ${secret}`,
        ].join('\n'),
      );
    },
  );
key
  .command('list')
  .description('list api keys (secrets are never shown again)')
  .option('--json', 'print one JSON object')
  .action(async (opts: { json?: boolean }) => {
    const items = await withDatabase((database) =>
      allPages((page) => apiKeys.listApiKeys(database, caller, page)),
    );
    out(
      { items },
      opts.json === true,
      () =>
        items
          .map(
            (k) =>
              `${k.id}  ${k.role.padEnd(7)}  ${k.secretPrefix}…  ${k.revokedAt === null ? 'active ' : 'revoked'}  ` +
              `${k.organizations === 'all' ? 'all' : k.organizations.join(',')}  ${k.name}`,
          )
          .join('\n') || '(no api keys)',
    );
  });
key
  .command('revoke')
  .description('revoke an api key at once')
  .argument('<id>', 'the key id')
  .option('--json', 'print one JSON object')
  .action(async (id: string, opts: { json?: boolean }) => {
    const revoked = await withDatabase((database) => apiKeys.revokeApiKey(database, caller, id));
    out(revoked, opts.json === true, () => `revoked ${revoked.id} (${revoked.name})`);
  });

function fail(error: unknown): never {
  if (error instanceof ConfigError) {
    process.stderr.write(`om-payments: configuration: ${error.message}\n`);
  } else if (error instanceof AppError) {
    const details = error.details !== undefined ? ` ${JSON.stringify(error.details)}` : '';
    process.stderr.write(`om-payments: ${error.code}: ${error.message}${details}\n`);
  } else {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`om-payments: ${message}\n`);
  }
  process.exit(1);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  fail(error);
}
