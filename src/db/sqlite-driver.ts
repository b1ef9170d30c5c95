// Kysely's SQLite driver, rebuilt for a server under load (issue 6). Kysely's own driver
// shares one connection behind a mutex that wakes every waiter on release (unfair: under 50
// concurrent requests some waited a second), begins DEFERRED transactions and prepares every
// statement anew. This one:
// - writes on one handle, in IMMEDIATE transactions granted strictly in arrival order,
//   with one commit shared by the transactions of one event-loop turn (group commit, below);
// - reads outside a transaction (auth lookups, GETs) on a second handle, which WAL lets run
//   beside an open write transaction: they see the last committed state, as on PostgreSQL
//   (for ':memory:', which a second handle cannot share, the write handle reads too);
// - keeps prepared statements per handle, a bounded cache keyed by SQL text;
// - waits for another process's write lock without freezing the event loop: better-sqlite3
//   waits synchronously (busy_timeout), so that wait is kept short and the rest of it is
//   asynchronous, with back-off, up to `lockWaitMs`; then SQLITE_BUSY goes up (→ 503).
import type SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  SelectQueryNode,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
} from 'kysely';

/** Statements kept prepared per handle; the service issues far fewer distinct ones. */
const STATEMENT_CACHE_SIZE = 500;

/** Sees every statement sent to SQLite, transaction control included. */
export type StatementObserver = (query: CompiledQuery) => void;

/** A prepared statement, and for those that return rows, the builder of one row object. */
interface Prepared {
  stmt: SQLite.Statement;
  toRow: ((values: unknown[]) => Record<string, unknown>) | undefined;
}

/**
 * A function building one row object from better-sqlite3's raw (array) row. better-sqlite3
 * builds row objects property by property in C++; reading 100 payments took ~630 µs that
 * way and ~270 µs as arrays turned into objects by a literal of fixed shape (measured,
 * docs/performance.md). Column names come from the statement, quoted by JSON.stringify; a
 * repeated name keeps its last value, as better-sqlite3's objects do.
 */
function rowBuilder(columns: readonly string[]): (values: unknown[]) => Record<string, unknown> {
  const fields = columns.map((name, i) => `${JSON.stringify(name)}: v[${i}]`).join(', ');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- built from column names only
  return new Function('v', `return { ${fields} };`) as (v: unknown[]) => Record<string, unknown>;
}

class StatementCache {
  readonly #handle: SQLite.Database;
  readonly #statements = new Map<string, Prepared>();
  constructor(
    handle: SQLite.Database,
    readonly observe: StatementObserver | undefined,
  ) {
    this.#handle = handle;
  }
  get(sql: string): Prepared {
    let prepared = this.#statements.get(sql);
    if (prepared !== undefined) {
      // Map order is insertion order: re-inserting makes this the most recently used.
      this.#statements.delete(sql);
    } else {
      const stmt = this.#handle.prepare(sql);
      const toRow = stmt.reader
        ? rowBuilder(
            stmt
              .raw(true)
              .columns()
              .map((c) => c.name),
          )
        : undefined;
      prepared = { stmt, toRow };
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
        this.#statements.delete(this.#statements.keys().next().value!);
      }
    }
    this.#statements.set(sql, prepared);
    return prepared;
  }
}

function run(cache: StatementCache, query: CompiledQuery): QueryResult<unknown> {
  cache.observe?.(query);
  const { stmt, toRow } = cache.get(query.sql);
  const parameters = query.parameters as unknown[];
  if (toRow !== undefined) return { rows: (stmt.all(parameters) as unknown[][]).map(toRow) };
  const { changes, lastInsertRowid } = stmt.run(parameters);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}

/** A lock granted in arrival order (Kysely's wakes all waiters and lets them race). */
class FifoLock {
  #held = false;
  readonly #waiting: (() => void)[] = [];
  async acquire(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#held = false;
    else next(); // ownership passes straight to the next in line
  }
}

export interface SqliteHandles {
  writer: SQLite.Database;
  /** Undefined: reads use the writer (':memory:'). */
  reader: SQLite.Database | undefined;
  /** Stops whatever else `open` started for these handles (the checkpoint worker). */
  stop?: () => Promise<void>;
}

/**
 * The open SQLite transaction that several requests' transactions share (see the driver).
 * `waiting` are the members that finished and wait for its commit.
 */
interface CommitGroup {
  members: number;
  waiting: { resolve: () => void; reject: (error: unknown) => void }[];
}

/** Members one shared commit takes at most, so no answer waits behind a long queue. */
const MAX_GROUP = 64;

class Shared {
  readonly writeLock = new FifoLock();
  group: CommitGroup | undefined;
  readonly writer: StatementCache;
  readonly reader: StatementCache;
  constructor(
    readonly handles: SqliteHandles,
    observe: StatementObserver | undefined,
  ) {
    this.writer = new StatementCache(handles.writer, observe);
    this.reader = handles.reader ? new StatementCache(handles.reader, observe) : this.writer;
  }
}

/**
 * One per Kysely connection request. Outside a transaction a read runs at once on the
 * reader; a write (and, with no reader, a read) takes the write lock for that statement.
 */
class SqliteConnection implements DatabaseConnection {
  inTransaction = false;
  /** This connection holds the write lock (from BEGIN until COMMIT or ROLLBACK). */
  holdsLock = false;
  constructor(
    private readonly shared: Shared,
    private readonly flush: (c: SqliteConnection) => Promise<void>,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const { shared } = this;
    if (this.inTransaction) return run(shared.writer, query) as QueryResult<R>;
    const read = shared.reader !== shared.writer && shared.reader.get(query.sql).stmt.reader;
    if (read) return run(shared.reader, query) as QueryResult<R>;
    await shared.writeLock.acquire();
    try {
      // A statement of its own must not land in a shared transaction nobody commits for it.
      if (shared.group !== undefined) await this.flush(this);
      return run(shared.writer, query) as QueryResult<R>;
    } finally {
      shared.writeLock.release();
    }
  }

  async *streamQuery<R>(query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(query.query)) throw new Error('only SELECT can be streamed');
    const rows = (await this.executeQuery<R>(query)).rows;
    for (const row of rows) yield { rows: [row] };
  }
}

export class SqliteServerDriver implements Driver {
  readonly #open: () => SqliteHandles;
  readonly #lockWaitMs: number;
  #shared: Shared | undefined;
  /** Released connection objects, reused (they hold no state between uses). */
  readonly #idle: SqliteConnection[] = [];

  readonly #observe: StatementObserver | undefined;

  constructor(open: () => SqliteHandles, lockWaitMs: number, observe?: StatementObserver) {
    this.#open = open;
    this.#lockWaitMs = lockWaitMs;
    this.#observe = observe;
  }

  async init(): Promise<void> {
    this.#shared = new Shared(this.#open(), this.#observe);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return this.#idle.pop() ?? new SqliteConnection(this.#shared!, (c) => this.#flush(c));
  }

  // Group commit. Every commit is an fsync, which better-sqlite3 performs on the event loop
  // itself: a commit per request would stop all other work for one fsync per request. So a
  // request's transaction is a savepoint inside one open SQLite transaction; when it ends,
  // it waits for that transaction's commit, which runs once the event loop has taken its
  // turn (setImmediate) — by then the requests that arrived meanwhile have joined — or at
  // once when MAX_GROUP transactions have joined. Nobody is answered before the commit that
  // makes their writes durable; if that commit fails, every member fails. A member's
  // rollback undoes only its savepoint. Members see earlier members' writes, as they would
  // after those committed, and if the shared commit fails they fail with them.
  //
  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as SqliteConnection;
    const shared = this.#shared!;
    await shared.writeLock.acquire();
    c.holdsLock = true;
    c.inTransaction = true;
    try {
      // SQLite ends a transaction itself on some errors (disk full, I/O): that group is gone.
      if (shared.group !== undefined && !shared.handles.writer.inTransaction) {
        this.#fail(new Error('the shared SQLite transaction was rolled back'));
      }
      if (shared.group === undefined) {
        await this.#beginImmediate(c);
        shared.group = { members: 0, waiting: [] };
        setImmediate(() => void this.#scheduledFlush());
      }
      await c.executeQuery(CompiledQuery.raw('savepoint om_tx'));
      shared.group.members++;
    } catch (error) {
      c.inTransaction = false;
      c.holdsLock = false;
      shared.writeLock.release();
      throw error;
    }
  }

  /** The commit a group's first member scheduled: after the requests queued have joined. */
  async #scheduledFlush(): Promise<void> {
    const shared = this.#shared;
    if (shared?.group === undefined) return;
    await shared.writeLock.acquire();
    try {
      // The connection object only carries the statement to the writer.
      const c = this.#idle.pop() ?? new SqliteConnection(shared, (x) => this.#flush(x));
      // A failure was already reported to every member; nothing is left to do here.
      await this.#flush(c).catch(() => undefined);
      this.#idle.push(c);
    } finally {
      shared.writeLock.release();
    }
  }

  async #beginImmediate(c: SqliteConnection): Promise<void> {
    const deadline = Date.now() + this.#lockWaitMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await c.executeQuery(CompiledQuery.raw('begin immediate'));
        return;
      } catch (error) {
        const busy = (error as { code?: unknown }).code === 'SQLITE_BUSY';
        if (!busy || Date.now() >= deadline) throw error;
        const backoffMs = Math.min(2 ** attempt, 50) * (0.5 + Math.random());
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
      }
    }
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as SqliteConnection;
    const shared = this.#shared!;
    let committed: Promise<void> | undefined;
    try {
      if (!shared.handles.writer.inTransaction) {
        const error = new Error('the shared SQLite transaction was rolled back');
        this.#fail(error);
        throw error;
      }
      await c.executeQuery(CompiledQuery.raw('release om_tx'));
      const group = shared.group!;
      if (group.members < MAX_GROUP) {
        committed = new Promise((resolve, reject) => group.waiting.push({ resolve, reject }));
      } else {
        await this.#flush(c);
      }
    } finally {
      c.inTransaction = false;
      c.holdsLock = false;
      shared.writeLock.release();
    }
    await committed;
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as SqliteConnection;
    // After a failed COMMIT Kysely rolls back too; by then there is nothing left to do.
    if (!c.holdsLock) return;
    try {
      if (this.#shared!.handles.writer.inTransaction) {
        await c.executeQuery(CompiledQuery.raw('rollback to om_tx'));
        await c.executeQuery(CompiledQuery.raw('release om_tx'));
      } else {
        this.#fail(new Error('the shared SQLite transaction was rolled back'));
      }
    } finally {
      c.inTransaction = false;
      c.holdsLock = false;
      this.#shared!.writeLock.release();
    }
  }

  /** Commits the open group (the caller holds the write lock) and answers its members. */
  async #flush(c: SqliteConnection): Promise<void> {
    const shared = this.#shared!;
    const group = shared.group;
    if (group === undefined) return;
    shared.group = undefined;
    const wasInTransaction = c.inTransaction;
    c.inTransaction = true; // the statement goes to the writer whatever the connection does
    try {
      await c.executeQuery(CompiledQuery.raw('commit'));
    } catch (error) {
      if (shared.handles.writer.inTransaction) run(shared.writer, CompiledQuery.raw('rollback'));
      for (const member of group.waiting) member.reject(error);
      throw error;
    } finally {
      c.inTransaction = wasInTransaction;
    }
    for (const member of group.waiting) member.resolve();
  }

  /** The group's transaction is gone: its waiting members fail. */
  #fail(error: Error): void {
    const group = this.#shared!.group;
    this.#shared!.group = undefined;
    for (const member of group?.waiting ?? []) member.reject(error);
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    // Connections are views on the shared handles; the write lock follows transactions.
    if (this.#idle.length < 100) this.#idle.push(connection as SqliteConnection);
  }

  async destroy(): Promise<void> {
    const shared = this.#shared;
    this.#shared = undefined;
    await shared?.handles.stop?.();
    shared?.handles.reader?.close();
    shared?.handles.writer.close();
  }
}
