// WAL checkpoints on a worker thread. SQLite copies the write-ahead log back into the
// database file (and fsyncs it) on the commit that crosses wal_autocheckpoint; with
// better-sqlite3 that commit runs on the event loop, so every few thousand requests one of
// them stalled all others for the checkpoint's fsync — the tail of the latency. A PASSIVE
// checkpoint runs beside writers, so a worker with its own connection does it every
// CHECKPOINT_INTERVAL_MS instead. Durability does not depend on checkpoints (a commit is
// durable once the WAL is fsynced, synchronous=FULL); the writer keeps a far higher
// autocheckpoint threshold as a fallback should the worker stop.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const CHECKPOINT_INTERVAL_MS = 100;
/** The writer's own checkpoint threshold, in pages, reached only if the worker stops. */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 20_000;

// Plain CommonJS run by the worker (eval: no loader, no TypeScript in the thread).
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 0');
db.pragma('synchronous = FULL');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // busy or a transient error: the next tick tries again
  }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

export function startCheckpointer(file: string): Checkpointer {
  const module = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { module, file, intervalMs: CHECKPOINT_INTERVAL_MS },
  });
  // A worker that cannot start (or dies) leaves the writer's fallback threshold in charge.
  worker.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.unref();
  return {
    async stop() {
      worker.ref(); // unreferenced, the wait for its exit would not keep the process alive
      worker.postMessage('stop');
      await exited;
    },
  };
}
