// What every black-box suite shares: a fresh database of the engine under test, the real
// server as a child process on loopback (so it can be killed -9 and restarted), an admin
// key, JSON over HTTP with every answer classified, and the figures a suite reports.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApiKey } from '../src/api-keys/api-keys.service.ts';
import { createDatabase, type Database } from '../src/db/engine.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { cliCaller } from '../src/shared/context.ts';
import { createTestDatabase, TEST_ENGINE, type TestDatabase } from '../test/support/database.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export type Profile = 'ci' | 'full';
export const ENGINE = TEST_ENGINE;

/** One figure a suite measured, and the mark it must meet. */
export interface Figure {
  name: string;
  value: number;
  /** The figure passes when `value` satisfies this. */
  mark: { op: '==' | '<=' | '>='; target: number };
}

export interface SuiteResult {
  suite: string;
  engine: string;
  profile: Profile;
  durationMs: number;
  figures: Figure[];
  /** Free-form extra numbers for the JSON file (not judged). */
  info?: Record<string, unknown>;
}

export const exactly = (name: string, value: number, target: number): Figure => ({
  name,
  value,
  mark: { op: '==', target },
});
export const atMost = (name: string, value: number, target: number): Figure => ({
  name,
  value,
  mark: { op: '<=', target },
});
export const atLeast = (name: string, value: number, target: number): Figure => ({
  name,
  value,
  mark: { op: '>=', target },
});

export function passes(f: Figure): boolean {
  const { op, target } = f.mark;
  return op === '==' ? f.value === target : op === '<=' ? f.value <= target : f.value >= target;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ServerHandle {
  url: string;
  port: number;
  /** The running process's id (for its memory figures). */
  readonly pid: number;
  /** Ends the process: SIGKILL simulates a crash (nothing flushed, no shutdown hooks). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and database. */
  restart(): Promise<void>;
}

/** The real server (`bin/om-payments.js serve`) on a fresh port of 127.0.0.1. */
export async function startServer(
  databaseUrl: string,
  env: Record<string, string> = {},
  /** Flags for node itself (e.g. --cpu-prof, which NODE_OPTIONS does not take). */
  nodeFlags: string[] = [],
): Promise<ServerHandle> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const url = `http://127.0.0.1:${port}`;
  const launch = async () => {
    child = spawn(
      process.execPath,
      [...nodeFlags, path.join(ROOT, 'bin/om-payments.js'), 'serve'],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          DATABASE_URL: databaseUrl,
          PORT: String(port),
          HOST: '127.0.0.1',
          OM_BOOTSTRAP: '0',
          LOG_LEVEL: 'silent',
          RATE_LIMIT_PER_MINUTE: '0',
          ...env,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`server exited: ${stderr.slice(0, 500)}`);
      try {
        const r = await fetch(`${url}/healthz`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error('server did not answer /healthz within 30 s');
      await sleep(100);
    }
  };
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const c = child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  await launch();
  running.add(kill);
  return {
    url,
    port,
    get pid() {
      return child?.pid ?? 0;
    },
    kill,
    restart: launch,
  };
}

const running = new Set<(signal?: NodeJS.Signals) => Promise<void>>();
/** Stops every server a suite started (also on failure). */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...running].map((kill) => kill('SIGKILL')));
  running.clear();
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Reply {
  status: number;
  /** null when the body is not JSON (which is itself a finding). */
  body: any;
  text: string;
  headers: Headers;
}

/** One HTTP call; a network failure (connection refused or reset) is status 0. */
export async function call(
  base: string,
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: unknown,
  rawBody?: string,
): Promise<Reply> {
  try {
    const r = await fetch(base + url, {
      method,
      headers: {
        ...(body !== undefined || rawBody !== undefined
          ? { 'content-type': 'application/json' }
          : {}),
        ...headers,
      },
      ...(rawBody !== undefined
        ? { body: rawBody }
        : body !== undefined
          ? { body: JSON.stringify(body) }
          : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await r.text();
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    return { status: r.status, body: parsed, text, headers: r.headers };
  } catch {
    return { status: 0, body: null, text: '', headers: new Headers() };
  }
}

export interface Fixture {
  testDatabase: TestDatabase;
  database: Database;
  /** An admin key for every organization. */
  rootKey: string;
  close(): Promise<void>;
}

/** A fresh, migrated database with a root admin key; the suite's servers use its URL. */
export async function fixture(): Promise<Fixture> {
  const testDatabase = await createTestDatabase();
  const database = createDatabase(testDatabase.config);
  await migrateToLatest(database);
  const { secret } = await createApiKey(database, cliCaller('reliability'), {
    name: 'root',
    role: 'admin',
    organizations: 'all',
  });
  return {
    testDatabase,
    database,
    rootKey: secret,
    async close() {
      await database.close();
      await testDatabase.drop();
    },
  };
}

export interface OrgKeys {
  id: string;
  keys: Record<'viewer' | 'cashier' | 'manager' | 'admin', string>;
  method: string;
}

/** An organization with a key of every role and a visible payment method, made over HTTP. */
export async function makeOrganization(
  base: string,
  rootKey: string,
  currency = 'SAR',
): Promise<OrgKeys> {
  const admin = { 'api-key': rootKey };
  const org = await call(base, 'POST', '/v1/admin/organizations', admin, {
    params: { name: `Rel ${currency}`, currency },
  });
  if (org.status !== 200) throw new Error(`creating an organization: ${org.status} ${org.text}`);
  const id = org.body.data.id as string;
  const keys = {} as OrgKeys['keys'];
  for (const role of ['viewer', 'cashier', 'manager', 'admin'] as const) {
    const k = await call(base, 'POST', '/v1/admin/api-keys', admin, {
      params: { name: role, role, organizations: [id], via: 'pos' },
    });
    keys[role] = k.body.data.secret as string;
  }
  const m = await call(
    base,
    'POST',
    '/v1/om/payment-methods',
    { 'api-key': keys.admin, 'organization-id': id },
    {
      params: { locales: { ar: { name: 'نقد' }, en: { name: 'Cash' } } },
    },
  );
  return { id, keys, method: m.body.data.id as string };
}

export function headersFor(
  org: OrgKeys,
  role: keyof OrgKeys['keys'] = 'manager',
): Record<string, string> {
  return { 'api-key': org.keys[role], 'organization-id': org.id };
}
