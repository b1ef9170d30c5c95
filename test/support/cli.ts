// The command-line tool run as a real child process (`node bin/om-payments.js …`) against a
// test database: the same entry point an operator uses, no shell in between.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestDatabase } from './database.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(REPO_ROOT, 'bin', 'om-payments.js');

/**
 * Settings the service reads from the environment. They are removed from the inherited
 * environment so a value set in the developer's shell (or DATABASE_URL exported by
 * scripts/with-postgres.sh) never leaks into a child; tests pass what they mean explicitly.
 */
const SERVICE_SETTINGS = [
  'PORT',
  'HOST',
  'DATABASE_URL',
  'PG_POOL_SIZE',
  'WORKERS',
  'OM_BOOTSTRAP',
  'OM_DEFAULT_CURRENCY',
  'BODY_LIMIT',
  'MAX_AMOUNT',
  'LOG_LEVEL',
  'RETRY_AFTER_SECONDS',
];

export interface CliResult {
  /** Exit code; null when the process was killed (e.g. by the timeout). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Extra environment; a value of undefined removes the variable. */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Run as another user (uid/gid); the tests only use this when running as root. */
  uid?: number;
  gid?: number;
}

export function childEnv(
  testDatabase: TestDatabase | undefined,
  extra: Record<string, string | undefined> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SERVICE_SETTINGS) delete env[name];
  if (testDatabase !== undefined) env.DATABASE_URL = testDatabase.url;
  env.LOG_LEVEL = 'silent';
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Runs `node bin/om-payments.js <args>` to completion (killed after the timeout). */
export function runCli(
  testDatabase: TestDatabase | undefined,
  args: readonly string[],
  options: RunOptions = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      env: childEnv(testDatabase, options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid !== undefined && { uid: options.uid }),
      ...(options.gid !== undefined && { gid: options.gid }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The one JSON object a `--json` command printed: stdout must be exactly one line. */
export function parseJsonLine(result: CliResult): any {
  if (result.code !== 0) {
    throw new Error(`command failed (code ${String(result.code)}): ${result.stderr}`);
  }
  if (!result.stdout.endsWith('\n') || result.stdout.indexOf('\n') !== result.stdout.length - 1) {
    throw new Error(`expected exactly one line on stdout, got ${JSON.stringify(result.stdout)}`);
  }
  const value: unknown = JSON.parse(result.stdout);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`expected one JSON object, got ${result.stdout}`);
  }
  return value;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

export interface ServedProcess {
  child: ChildProcess;
  url: string;
  port: number;
  /** Everything the process printed to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves with the exit code (null if killed). */
  stop(): Promise<number | null>;
}

const running = new Set<ServedProcess>();

/**
 * Starts `node bin/om-payments.js serve` on a free port and waits (at most `readyMs`) until
 * GET /healthz answers 200. Rejects, after killing the child, if it exits or never gets ready.
 */
export async function startServe(
  testDatabase: TestDatabase,
  env: Record<string, string | undefined> = {},
  readyMs = 15_000,
): Promise<ServedProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: REPO_ROOT,
    env: childEnv(testDatabase, { PORT: String(port), HOST: '127.0.0.1', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => {
      exitCode = code;
      resolve(code);
    });
  });
  child.on('error', () => undefined);

  const served: ServedProcess = {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop() {
      running.delete(served);
      if (exitCode !== undefined) return exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  running.add(served);

  const deadline = Date.now() + readyMs;
  for (;;) {
    if (exitCode !== undefined) {
      await served.stop();
      throw new Error(`serve exited with code ${String(exitCode)} before it was ready: ${stderr}`);
    }
    try {
      const response = await fetch(`${served.url}/healthz`, {
        signal: AbortSignal.timeout(1000),
      });
      if (response.status === 200) return served;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await served.stop();
      throw new Error(`serve not ready within ${readyMs} ms; stderr: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Stops every server this module started and that is still running (for after hooks). */
export async function stopAllServed(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
}
