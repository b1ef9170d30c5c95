// Kysely's SQLite driver, rebuilt for a server under load (issue 6). Kysely's own driver
// shares one connection behind a mutex that wakes every waiter on release (unfair: under 50
// concurrent requests some waited a second), begins DEFERRED transactions and prepares every
// statement anew. This one:
// - writes on one handle, in IMMEDIATE transactions granted strictly in arrival order;
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

class StatementCache {
  readonly #handle: SQLite.Database;
  readonly #statements = new Map<string, SQLite.Statement>();
  constructor(handle: SQLite.Database) {
    this.#handle = handle;
  }
  get(sql: string): SQLite.Statement {
    let stmt = this.#statements.get(sql);
    if (stmt !== undefined) {
      // Map order is insertion order: re-inserting makes this the most recently used.
      this.#statements.delete(sql);
    } else {
      stmt = this.#handle.prepare(sql);
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
        this.#statements.delete(this.#statements.keys().next().value!);
      }
    }
    this.#statements.set(sql, stmt);
    return stmt;
  }
}

function run(cache: StatementCache, query: CompiledQuery): QueryResult<unknown> {
  const stmt = cache.get(query.sql);
  const parameters = query.parameters as unknown[];
  if (stmt.reader) return { rows: stmt.all(parameters) };
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
}

class Shared {
  readonly writeLock = new FifoLock();
  readonly writer: StatementCache;
  readonly reader: StatementCache;
  constructor(readonly handles: SqliteHandles) {
    this.writer = new StatementCache(handles.writer);
    this.reader = handles.reader ? new StatementCache(handles.reader) : this.writer;
  }
}

/**
 * One per Kysely connection request. Outside a transaction a read runs at once on the
 * reader; a write (and, with no reader, a read) takes the write lock for that statement.
 */
class SqliteConnection implements DatabaseConnection {
  inTransaction = false;
  constructor(private readonly shared: Shared) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const { shared } = this;
    if (this.inTransaction) return run(shared.writer, query) as QueryResult<R>;
    const read = shared.reader !== shared.writer && shared.reader.get(query.sql).reader;
    if (read) return run(shared.reader, query) as QueryResult<R>;
    await shared.writeLock.acquire();
    try {
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

  constructor(open: () => SqliteHandles, lockWaitMs: number) {
    this.#open = open;
    this.#lockWaitMs = lockWaitMs;
  }

  async init(): Promise<void> {
    this.#shared = new Shared(this.#open());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return this.#idle.pop() ?? new SqliteConnection(this.#shared!);
  }

  // Transaction control goes through `connection.executeQuery`, so whatever observes the
  // connection (Kysely's query log, the benchmark's statement capture) sees it too.
  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as SqliteConnection;
    await this.#shared!.writeLock.acquire();
    c.inTransaction = true;
    try {
      const deadline = Date.now() + this.#lockWaitMs;
      for (let attempt = 0; ; attempt++) {
        try {
          await connection.executeQuery(CompiledQuery.raw('begin immediate'));
          return;
        } catch (error) {
          const busy = (error as { code?: unknown }).code === 'SQLITE_BUSY';
          if (!busy || Date.now() >= deadline) throw error;
          const backoffMs = Math.min(2 ** attempt, 50) * (0.5 + Math.random());
          await new Promise((resolve) => setTimeout(resolve, backoffMs));
        }
      }
    } catch (error) {
      c.inTransaction = false;
      this.#shared!.writeLock.release();
      throw error;
    }
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await this.#end(connection, 'commit');
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await this.#end(connection, 'rollback');
  }

  async #end(connection: DatabaseConnection, how: 'commit' | 'rollback'): Promise<void> {
    const c = connection as SqliteConnection;
    const shared = this.#shared!;
    try {
      // SQLite may have ended the transaction itself (e.g. SQLITE_FULL): nothing to roll back.
      if (how === 'rollback' && !shared.handles.writer.inTransaction) return;
      await connection.executeQuery(CompiledQuery.raw(how));
    } catch (error) {
      // A failed COMMIT leaves the transaction open; roll it back so the handle is usable
      // by the next transaction, and report the failure.
      if (shared.handles.writer.inTransaction) run(shared.writer, CompiledQuery.raw('rollback'));
      throw error;
    } finally {
      c.inTransaction = false;
      shared.writeLock.release();
    }
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    // Connections are views on the shared handles; the write lock follows transactions.
    if (this.#idle.length < 100) this.#idle.push(connection as SqliteConnection);
  }

  async destroy(): Promise<void> {
    const shared = this.#shared;
    this.#shared = undefined;
    shared?.handles.reader?.close();
    shared?.handles.writer.close();
  }
}
