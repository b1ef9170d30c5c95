// Webhook attempts run on a thread of their own (webhooks.sender-thread.ts), not on the
// service's event loop. On the service's loop an attempt's HTTP client — the request, its
// headers, signing, the socket's reads and the answer's parsing, and their garbage — was
// ~11 % of the busy time under the mixed load with an endpoint taking every event, while the
// loop is the service's limit and the machine had a third of its CPU idle (docs/events.md
// "Measured"). The database work of a delivery (fan-out, claims, outcomes) stays on the loop:
// SQLite keeps one writer, and a claim is written before its attempt goes to the thread.
//
// Attempts cross in batches (one message per turn each way). The thread starts on the first
// attempt, so a process that never delivers never starts it; should it stop, the attempts it
// held fail (their claims come due again when their lease ends) and the next one starts
// a new thread.
import { Worker } from 'node:worker_threads';
import type { Attempt, AttemptOutcome } from './webhooks.delivery.ts';

export type ToSender =
  | { kind: 'attempts'; attempts: { id: number; attempt: Attempt }[] }
  /** Abort what is in flight, answer it, close the connections and exit. */
  | { kind: 'close' };

export type FromSender = { kind: 'outcomes'; outcomes: { id: number; outcome: AttemptOutcome }[] };

export interface Sender {
  send(attempt: Attempt): Promise<AttemptOutcome>;
  /** Aborts the attempts in flight (each answers as aborted), then stops the thread. */
  close(): Promise<void>;
}

const ABORTED: AttemptOutcome = {
  ok: false,
  statusCode: null,
  error: 'aborted: the service was closing',
};

/**
 * The thread runs TypeScript: it registers tsx itself (the service's own loader, bin/ and
 * `--import tsx`, does not reach a worker's entry), then loads its module.
 */
const BOOT = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then(({ register }) => { register(); return import(${JSON.stringify(
    new URL('./webhooks.sender-thread.ts', import.meta.url).href,
  )}); });`;

export function startSender(): Sender {
  let thread: { worker: Worker; exited: Promise<void> } | undefined;
  let closed = false;
  let nextId = 0;
  const waiting = new Map<
    number,
    { resolve: (o: AttemptOutcome) => void; reject: (e: Error) => void }
  >();
  let queued: { id: number; attempt: Attempt }[] = [];

  function started(): Worker {
    if (thread !== undefined) return thread.worker;
    const worker = new Worker(BOOT, { eval: true });
    worker.unref(); // idle, it keeps no process alive
    worker.on('message', (m: FromSender) => {
      for (const { id, outcome } of m.outcomes) {
        waiting.get(id)?.resolve(outcome);
        waiting.delete(id);
      }
    });
    // An error is followed by 'exit', where what the thread held is failed.
    worker.on('error', () => undefined);
    const exited = new Promise<void>((resolve) =>
      worker.once('exit', () => {
        thread = undefined;
        const lost = new Error('the webhook sender thread stopped');
        for (const w of waiting.values()) w.reject(lost);
        waiting.clear();
        resolve();
      }),
    );
    thread = { worker, exited };
    return worker;
  }

  const flush = () => {
    const attempts = queued;
    queued = [];
    if (attempts.length > 0)
      started().postMessage({ kind: 'attempts', attempts } satisfies ToSender);
  };

  return {
    send(attempt) {
      if (closed) return Promise.resolve(ABORTED);
      const id = nextId++;
      if (queued.length === 0) setImmediate(flush);
      queued.push({ id, attempt });
      return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
    },
    async close() {
      closed = true;
      for (const { id } of queued) {
        waiting.get(id)?.resolve(ABORTED);
        waiting.delete(id);
      }
      queued = [];
      if (thread === undefined) return;
      const { worker, exited } = thread;
      worker.ref(); // unreferenced, the wait for its exit would not keep the process alive
      worker.postMessage({ kind: 'close' } satisfies ToSender);
      await exited;
    },
  };
}
