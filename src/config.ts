// One typed schema of environment settings, validated at boot (DESIGN habit 9).
// A bad value stops the process with a one-line reason instead of failing later.
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import os from 'node:os';
import path from 'node:path';
import { isSupportedCurrency } from './money/currency.ts';

const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  DATABASE_URL: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * PostgreSQL connections this instance (all its workers together) opens at most; each worker
   * gets an equal share, floor(PG_POOL_SIZE / WORKERS) (docs/scaling.md).
   */
  PG_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  /**
   * Service processes on the one port (src/cluster.ts): a count, or `auto` for one per core
   * this process may use (os.availableParallelism()).
   */
  WORKERS: Type.String({ pattern: '^(auto|[1-9][0-9]{0,2})$', default: '1' }),
  /**
   * PostgreSQL's driver: `pg` under our own protocol layer (src/db/pg-pool.ts), or
   * postgres.js (src/db/postgres-js-driver.ts), measured against it (docs/performance.md).
   */
  PG_DRIVER: Type.Union([Type.Literal('pg'), Type.Literal('postgres-js')], { default: 'pg' }),
  OM_BOOTSTRAP: Type.Union([Type.Literal('0'), Type.Literal('1')], { default: '1' }),
  OM_DEFAULT_CURRENCY: Type.String({ pattern: '^[A-Z]{3}$', default: 'SAR' }),
  /** Largest request body in bytes; larger bodies are 413. */
  BODY_LIMIT: Type.Integer({ minimum: 1024, maximum: 10 * 1024 * 1024, default: 65536 }),
  /**
   * Largest single amount, in major units of the organization's currency. Capped so that
   * even with 4 decimals it stays far inside the integers a double holds exactly.
   */
  MAX_AMOUNT: Type.Integer({ minimum: 1, maximum: 100_000_000_000, default: 1_000_000_000 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  /** Requests per minute per api key; 0 turns the limit off. */
  RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 6000 }),
  /** How long Idempotency-Key records are kept (API.md §5: at least 24 h). */
  IDEMPOTENCY_RETENTION_HOURS: Type.Integer({ minimum: 24, maximum: 24 * 365, default: 24 }),
  /**
   * PostgreSQL: how long an authentication answer may be reused, at most, while this process
   * hears every key and organization change (src/api-keys/auth-cache.ts); 0 reads it on every
   * request (use 0 behind a pooler that drops LISTEN/NOTIFY, e.g. PgBouncer in transaction
   * mode).
   */
  AUTH_CACHE_TTL_MS: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 30_000 }),
  /** Seconds a client is told to wait (Retry-After) when the database is unreachable. */
  RETRY_AFTER_SECONDS: Type.Integer({ minimum: 1, maximum: 3600, default: 2 }),
  /** 0 turns /metrics and every figure behind it off (to measure what they cost). */
  METRICS: Type.Union([Type.Literal('0'), Type.Literal('1')], { default: '1' }),
  /** How long events are kept for the feed and payment history (API.md §7). */
  EVENT_RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
  /** `0` turns this process's webhook delivery worker off (API.md §7.3). */
  WEBHOOK_WORKER: Type.Union([Type.Literal('0'), Type.Literal('1')], { default: '1' }),
  /** `1` lets webhook endpoints use http:// (tests, closed networks; API.md §7.2). */
  WEBHOOK_ALLOW_HTTP: Type.Union([Type.Literal('0'), Type.Literal('1')], { default: '0' }),
  /** `1` lets webhook endpoints resolve to loopback/private addresses (API.md §7.2). */
  WEBHOOK_ALLOW_PRIVATE: Type.Union([Type.Literal('0'), Type.Literal('1')], { default: '0' }),
  /** Webhook attempts in flight at once, per process (src/webhooks/webhooks.worker.ts). */
  WEBHOOK_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 4096, default: 512 }),
  /**
   * Of those, to any one endpoint at most: an endpoint slow to answer (or not answering: 10 s
   * each) holds no more, and the rest keep going to the others.
   */
  WEBHOOK_ENDPOINT_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 4096, default: 256 }),
  /** Seconds between a failed attempt and the next, comma-separated (API.md §7.3). */
  WEBHOOK_RETRY_SCHEDULE: Type.String({
    pattern: '^\\s*\\d{1,7}(\\s*,\\s*\\d{1,7}){0,19}\\s*$',
    default: '5,300,1800,7200,18000,36000,36000',
  }),
});

export type Env = Static<typeof EnvSchema>;

export type DatabaseConfig =
  | { engine: 'sqlite'; file: string; lockWaitMs?: number }
  | { engine: 'postgres'; url: string; poolSize: number; driver?: PgDriver };

export type PgDriver = 'pg' | 'postgres-js';

export interface Config {
  port: number;
  /** Service processes sharing the port; 1 = this process serves (no cluster). */
  workers: number;
  host: string;
  database: DatabaseConfig;
  bootstrap: boolean;
  defaultCurrency: string;
  bodyLimit: number;
  maxAmountMajor: number;
  logLevel: string;
  retryAfterSeconds: number;
  rateLimitPerMinute: number;
  idempotencyRetentionHours: number;
  authCacheTtlMs: number;
  metrics: boolean;
  eventRetentionDays: number;
  webhooks: WebhookConfig;
}

export interface WebhookConfig {
  worker: boolean;
  allowHttp: boolean;
  allowPrivate: boolean;
  /** Seconds to wait after each failed attempt; past the last, a delivery is failed. */
  retryScheduleSeconds: number[];
  /** Attempts in flight per process, in all and to one endpoint. */
  concurrency: number;
  endpointConcurrency: number;
}

export class ConfigError extends Error {}

/** More processes than this on one machine would only contend for its cores and locks. */
const MAX_WORKERS = 64;

export const DEFAULT_SQLITE_FILE = './data/om-payments.db';

/** Reads the settings this service knows from an environment; ignores everything else. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const known: Record<string, unknown> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const raw = env[key];
    if (raw !== undefined && raw !== '') known[key] = raw;
  }
  // Environment values are strings: convert numbers, then validate strictly.
  const candidate = Value.Default(EnvSchema, Value.Convert(EnvSchema, known));
  const firstError = Value.Errors(EnvSchema, candidate).First();
  if (firstError) {
    const name = firstError.path.replace(/^\//, '');
    throw new ConfigError(`${name}=${String(env[name])}: ${firstError.message}`);
  }
  const e = candidate as Env;
  if (!isSupportedCurrency(e.OM_DEFAULT_CURRENCY)) {
    throw new ConfigError(
      `OM_DEFAULT_CURRENCY=${e.OM_DEFAULT_CURRENCY}: not an ISO 4217 currency code`,
    );
  }
  if (e.WEBHOOK_ENDPOINT_CONCURRENCY > e.WEBHOOK_CONCURRENCY) {
    throw new ConfigError(
      `WEBHOOK_ENDPOINT_CONCURRENCY=${e.WEBHOOK_ENDPOINT_CONCURRENCY}: more than WEBHOOK_CONCURRENCY=${e.WEBHOOK_CONCURRENCY}, the attempts in flight in all`,
    );
  }
  const workers = e.WORKERS === 'auto' ? os.availableParallelism() : Number(e.WORKERS);
  if (workers > MAX_WORKERS) {
    throw new ConfigError(`WORKERS=${e.WORKERS}: at most ${MAX_WORKERS} workers`);
  }
  const database = parseDatabaseUrl(
    e.DATABASE_URL,
    Math.floor(e.PG_POOL_SIZE / workers),
    e.PG_DRIVER,
  );
  if (workers > 1 && database.engine === 'sqlite' && database.file === ':memory:') {
    throw new ConfigError(
      `WORKERS=${e.WORKERS}: workers share one database, and sqlite::memory: is private to a process`,
    );
  }
  if (database.engine === 'postgres' && database.poolSize < 1) {
    throw new ConfigError(
      `WORKERS=${e.WORKERS} (${workers} workers) needs PG_POOL_SIZE >= ${workers}, one connection each ` +
        `(PG_POOL_SIZE=${e.PG_POOL_SIZE} is the whole instance's budget)`,
    );
  }
  return {
    port: e.PORT,
    workers,
    host: e.HOST,
    database,
    bootstrap: e.OM_BOOTSTRAP !== '0',
    defaultCurrency: e.OM_DEFAULT_CURRENCY,
    bodyLimit: e.BODY_LIMIT,
    maxAmountMajor: e.MAX_AMOUNT,
    logLevel: e.LOG_LEVEL,
    retryAfterSeconds: e.RETRY_AFTER_SECONDS,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    idempotencyRetentionHours: e.IDEMPOTENCY_RETENTION_HOURS,
    authCacheTtlMs: e.AUTH_CACHE_TTL_MS,
    metrics: e.METRICS !== '0',
    eventRetentionDays: e.EVENT_RETENTION_DAYS,
    webhooks: {
      worker: e.WEBHOOK_WORKER === '1',
      allowHttp: e.WEBHOOK_ALLOW_HTTP === '1',
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE === '1',
      retryScheduleSeconds: e.WEBHOOK_RETRY_SCHEDULE.split(',').map((x) => Number(x.trim())),
      concurrency: e.WEBHOOK_CONCURRENCY,
      endpointConcurrency: e.WEBHOOK_ENDPOINT_CONCURRENCY,
    },
  };
}

export function parseDatabaseUrl(
  url: string | undefined,
  poolSize: number,
  driver: PgDriver = 'pg',
): DatabaseConfig {
  if (url === undefined) return { engine: 'sqlite', file: path.resolve(DEFAULT_SQLITE_FILE) };
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (file === '')
      throw new ConfigError('DATABASE_URL=sqlite: needs a file path (sqlite:<path>)');
    return { engine: 'sqlite', file: file === ':memory:' ? file : path.resolve(file) };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    try {
      new URL(url);
    } catch {
      throw new ConfigError('DATABASE_URL: not a valid postgres:// URL');
    }
    return { engine: 'postgres', url, poolSize, ...(driver === 'pg' ? {} : { driver }) };
  }
  throw new ConfigError(
    'DATABASE_URL: must be sqlite:<path> or postgres://user@host:port/db (unset = embedded SQLite)',
  );
}
