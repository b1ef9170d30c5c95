// The engine under test is chosen by TEST_DATABASE_URL: unset → a fresh embedded SQLite file;
// postgres://… → a fresh database created on that server for each call (dropped afterwards),
// so test files never see each other's rows.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { DatabaseConfig } from '../../src/config.ts';

export const TEST_ENGINE: 'sqlite' | 'postgres' = process.env.TEST_DATABASE_URL?.startsWith(
  'postgres',
)
  ? 'postgres'
  : 'sqlite';

export interface TestDatabase {
  config: DatabaseConfig;
  /** A DATABASE_URL for child processes (CLI, server) pointing at the same database. */
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `om_t_${randomBytes(6).toString('hex')}`;
  if (TEST_ENGINE === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'om-test-'));
    const file = path.join(dir, `${name}.db`);
    return {
      config: { engine: 'sqlite', file },
      url: `sqlite:${file}`,
      drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const adminUrl = process.env.TEST_DATABASE_URL!;
  await adminQuery(adminUrl, `create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    config: {
      engine: 'postgres',
      url: url.toString(),
      poolSize: 10,
      // The driver under test (src/config.ts): pg unless PG_DRIVER says otherwise.
      ...(process.env.PG_DRIVER === 'postgres-js' ? { driver: 'postgres-js' as const } : {}),
    },
    url: url.toString(),
    drop: () => adminQuery(adminUrl, `drop database if exists ${name} with (force)`),
  };
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
