// Wakes whoever waits for new events of an organization: feed readers holding a request open
// (`wait`, API.md §7.1) and the webhook worker. Waiting costs no CPU: a waiter is a listener
// on an EventEmitter until a notice or its deadline.
//
// Notices come from this process's own commits (src/db/commit-notes.ts) and, on PostgreSQL,
// from every other instance through LISTEN/NOTIFY on `om_events` (payload: organization ids).
// The NOTIFY is sent after commit by one connection of each process, at most one per
// NOTIFY_EVERY_MS, rather than by the writing transactions: a transaction that notifies
// holds PostgreSQL's notification lock until its commit is flushed, which would serialize
// every payment's commit behind the others'. That connection runs with
// synchronous_commit=off, so a notice costs no fsync. When the listening connection is
// down (retried with back-off, as src/api-keys/auth-invalidation.ts), `listening` is false
// and waiters re-check on their own every FALLBACK_POLL_MS instead.
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Database } from '../db/engine.ts';

export const EVENTS_CHANNEL = 'om_events';
const NOTIFY_EVERY_MS = 20;
const FALLBACK_POLL_MS = 1000;
const RETRY_MS = { first: 500, max: 30_000 };
/** A NOTIFY payload is at most 8000 bytes; organization ids are ~36. */
const MAX_IDS_PER_NOTICE = 150;
const ANY = Symbol('any organization');

export class EventSignal {
  readonly #emitter = new EventEmitter();
  readonly #stopLocal: () => void;
  #client: pg.Client | undefined;
  #listening = false;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;
  #delay = RETRY_MS.first;
  readonly #outgoing = new Set<string>();
  #notifyTimer: NodeJS.Timeout | undefined;
  #lastNotify = 0;

  constructor(
    database: Database,
    private readonly pgUrl: string | undefined,
    private readonly onProblem: (message: string) => void = () => undefined,
  ) {
    this.#emitter.setMaxListeners(0);
    this.#stopLocal = database.onEventsCommitted((orgs) => {
      for (const org of orgs) this.#tell(org);
      if (this.pgUrl !== undefined) this.#queueNotice(orgs);
    });
    if (pgUrl !== undefined) void this.#connect();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether every commit, of any instance, is heard (always on SQLite: one process writes). */
  get listening(): boolean {
    return this.pgUrl === undefined || this.#listening;
  }

  /**
   * Resolves once an event of `organizationId` is heard of, after `ms` at the latest (sooner
   * when nothing listens, to re-check), or when the signal closes.
   */
  wait(organizationId: string, ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const bounded = this.listening ? ms : Math.min(ms, FALLBACK_POLL_MS);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#emitter.off(organizationId, done);
        this.#emitter.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, bounded);
      this.#emitter.on(organizationId, done);
      this.#emitter.on('close', done);
    });
  }

  /** Calls `listener` with the organization of every event heard of. Answers how to stop. */
  onAny(listener: (organizationId: string) => void): () => void {
    this.#emitter.on(ANY, listener);
    return () => void this.#emitter.off(ANY, listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopLocal();
    clearTimeout(this.#retry);
    clearTimeout(this.#notifyTimer);
    this.#emitter.emit('close');
    await this.#drop();
  }

  #tell(organizationId: string): void {
    this.#emitter.emit(organizationId);
    this.#emitter.emit(ANY, organizationId);
  }

  #queueNotice(orgs: ReadonlySet<string>): void {
    for (const org of orgs) this.#outgoing.add(org);
    if (this.#notifyTimer !== undefined || this.#closed) return;
    const wait = Math.max(0, this.#lastNotify + NOTIFY_EVERY_MS - Date.now());
    this.#notifyTimer = setTimeout(() => void this.#sendNotices(), wait);
  }

  async #sendNotices(): Promise<void> {
    this.#notifyTimer = undefined;
    this.#lastNotify = Date.now();
    const ids = [...this.#outgoing];
    this.#outgoing.clear();
    const client = this.#listening ? this.#client : undefined;
    // Without a connection the others poll (FALLBACK_POLL_MS): nothing to keep for later.
    if (client === undefined) return;
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_NOTICE) {
      const payload = ids.slice(i, i + MAX_IDS_PER_NOTICE).join(',');
      await client.query('select pg_notify($1, $2)', [EVENTS_CHANNEL, payload]).catch(() => {
        // The connection's own error handler reconnects; the others poll meanwhile.
      });
    }
  }

  async #drop(): Promise<void> {
    this.#listening = false;
    const gone = this.#client;
    this.#client = undefined;
    gone?.removeAllListeners();
    gone?.on('error', () => undefined);
    await gone?.end().catch(() => undefined);
  }

  #lost(message: string): void {
    void this.#drop();
    if (this.#closed) return;
    this.onProblem(`${message}; event waiters poll every ${FALLBACK_POLL_MS} ms meanwhile`);
    this.#retry = setTimeout(() => void this.#connect(), this.#delay).unref();
    this.#delay = Math.min(this.#delay * 2, RETRY_MS.max);
  }

  async #connect(): Promise<void> {
    this.#retry = undefined;
    const next = new pg.Client({
      connectionString: this.pgUrl,
      application_name: 'om-events-listener',
    });
    this.#client = next;
    next.on(
      'error',
      (error) => this.#client === next && this.#lost(`events listener: ${error.message}`),
    );
    next.on('end', () => this.#client === next && this.#lost('events listener: connection ended'));
    next.on('notification', (message) => {
      if (message.channel !== EVENTS_CHANNEL || !message.payload) return;
      for (const org of message.payload.split(',')) this.#tell(org);
    });
    try {
      await next.connect();
      // Notices carry no data worth an fsync (see the top of the file).
      await next.query('set synchronous_commit = off');
      await next.query(`listen ${EVENTS_CHANNEL}`);
    } catch (error) {
      if (this.#client === next) this.#lost(`events listener: ${(error as Error).message}`);
      return;
    }
    if (this.#client !== next || this.#closed) {
      if (this.#closed) await this.#drop();
      return;
    }
    this.#delay = RETRY_MS.first;
    this.#listening = true;
  }
}
