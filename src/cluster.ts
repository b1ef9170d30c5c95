// `serve` on every core: WORKERS service processes on one port (node:cluster; DESIGN "Cores").
// The primary only supervises. Before forking it migrates the database and runs the
// first-start bootstrap, once; then each worker is a whole service (src/server.ts) with its
// own database handles or pool and its own instanceId (API.md §1), and the primary hands
// incoming connections to the workers in turn. Every guarantee that holds between instances
// sharing one database (API.md §5, §9) holds between workers for the same reasons: locks and
// idempotency records live in the database, never in a process.
// - A worker that dies is started again in its slot, after a back-off that grows while
//   replacements keep dying young (logged as JSON, like everything the service logs).
// - SIGTERM / SIGINT: every worker stops taking connections, finishes what it has in flight
//   and closes its database; the primary exits once all have (0), or after the grace period,
//   killing what is left (1).
import cluster, { type Worker } from 'node:cluster';
import { pino } from 'pino';
import type { Config } from './config.ts';
import { createDatabase } from './db/engine.ts';
import { migrateToLatest } from './db/migrate.ts';
import { bootstrapIfEmpty, type Bootstrapped } from './bootstrap.ts';
import { bootstrapMessage, startServer } from './server.ts';
import { answerMetricsRequests } from './http/cluster-metrics.ts';

/** First restart delay of a slot, doubled for each replacement that dies young. */
const RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 10_000;
/** A worker that ran this long died of something other than its start: no back-off. */
const STABLE_AFTER_MS = 10_000;
/** How long the workers get to finish their requests on shutdown before they are killed. */
const SHUTDOWN_GRACE_MS = 30_000;

/** Sent by a worker to the primary once it listens. */
interface ListeningMessage {
  type: 'om:listening';
  url: string;
}

const isListening = (m: unknown): m is ListeningMessage =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'om:listening';

/** Runs the service as the configuration says: in this process, or as a cluster. */
export async function serve(config: Config): Promise<void> {
  if (config.workers === 1) return serveHere(config, undefined);
  if (cluster.isPrimary) return supervise(config);
  return serveHere({ ...config, bootstrap: false }, (url) =>
    process.send?.({ type: 'om:listening', url } satisfies ListeningMessage),
  );
}

/** One service process: listens, and on SIGTERM / SIGINT drains and exits. */
async function serveHere(
  config: Config,
  listening: ((url: string) => void) | undefined,
): Promise<void> {
  const server = await startServer(config);
  listening?.(server.url);
  let stopping = false;
  const stop = (): void => {
    // Both signals may come (Ctrl-C reaches every process of the group, then the primary
    // forwards SIGTERM): one close.
    if (stopping) return;
    stopping = true;
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

interface Slot {
  index: number;
  worker?: Worker;
  startedAt: number;
  /** Replacements in a row that died before STABLE_AFTER_MS. */
  youngDeaths: number;
  timer?: NodeJS.Timeout;
}

async function supervise(config: Config): Promise<void> {
  const log = pino({ level: config.logLevel, base: { pid: process.pid, role: 'primary' } });
  const created = await prepareDatabase(config);
  log.info(
    {
      workers: config.workers,
      engine: config.database.engine,
      ...(config.database.engine === 'postgres' && { poolPerWorker: config.database.poolSize }),
    },
    'starting workers',
  );

  const slots: Slot[] = Array.from({ length: config.workers }, (_, index) => ({
    index,
    startedAt: 0,
    youngDeaths: 0,
  }));
  let stopping = false;
  let everyListening = false;
  const listened = new Set<number>();
  let printed = false;

  const fork = (slot: Slot): void => {
    slot.timer = undefined;
    slot.startedAt = Date.now();
    // The worker reads the same settings from the same environment.
    const worker = cluster.fork();
    slot.worker = worker;
    worker.on('message', (message: unknown) => {
      if (!isListening(message)) return;
      log.info({ worker: slot.index, workerPid: worker.process.pid }, 'worker listening');
      listened.add(slot.index);
      if (!printed && created !== undefined) {
        printed = true;
        process.stdout.write(bootstrapMessage(created, message.url));
      }
      if (!everyListening && listened.size === slots.length) {
        everyListening = true;
        log.info({ url: message.url, workers: slots.length }, 'listening');
      }
    });
    worker.on('exit', (code, signal) => {
      if (slot.worker === worker) slot.worker = undefined;
      const facts = { worker: slot.index, workerPid: worker.process.pid, code, signal };
      if (stopping) {
        log.info(facts, 'worker stopped');
        if (slots.every((s) => s.worker === undefined)) finish(0);
        return;
      }
      if (!everyListening) {
        // A worker that cannot start (port taken, database unreachable …) is a failed start
        // of the service, not something to retry for ever: the worker printed why.
        log.error(facts, 'worker failed to start');
        stopping = true;
        for (const s of slots) s.worker?.process.kill('SIGKILL');
        finish(1);
        return;
      }
      const lived = Date.now() - slot.startedAt;
      slot.youngDeaths = lived < STABLE_AFTER_MS ? slot.youngDeaths + 1 : 0;
      const delay = Math.min(
        MAX_RESTART_DELAY_MS,
        RESTART_DELAY_MS * 2 ** Math.max(0, slot.youngDeaths - 1),
      );
      log.error({ ...facts, livedMs: lived, restartInMs: delay }, 'worker died; restarting');
      slot.timer = setTimeout(() => fork(slot), delay);
    });
  };

  let finished = false;
  const finish = (code: number): void => {
    if (finished) return;
    finished = true;
    log.info({ code }, 'stopped');
    log.flush();
    process.exit(code);
  };

  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: draining workers');
    for (const slot of slots) clearTimeout(slot.timer);
    const alive = slots.flatMap((s) => (s.worker === undefined ? [] : [s.worker]));
    if (alive.length === 0) return finish(0);
    for (const worker of alive) worker.process.kill('SIGTERM');
    setTimeout(() => {
      const left = slots.flatMap((s) => (s.worker === undefined ? [] : [s.worker]));
      log.error({ workers: left.length, graceMs: SHUTDOWN_GRACE_MS }, 'drain timed out; killing');
      for (const worker of left) worker.process.kill('SIGKILL');
      finish(1);
    }, SHUTDOWN_GRACE_MS).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  // One /metrics for the instance, whichever worker a scrape reaches.
  if (config.metrics) answerMetricsRequests();
  for (const slot of slots) fork(slot);
}

/**
 * Migrations and the first-start bootstrap, once, before any worker starts. (Each worker's
 * start migrates too, which then finds nothing to do; migrations take a lock either way.)
 */
async function prepareDatabase(config: Config): Promise<Bootstrapped | undefined> {
  const database = createDatabase(config.database);
  try {
    await migrateToLatest(database);
    return config.bootstrap ? await bootstrapIfEmpty(database, config.defaultCurrency) : undefined;
  } finally {
    await database.close();
  }
}
