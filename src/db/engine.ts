// The two storage engines behind one Kysely interface. Durability is never traded for speed:
// SQLite runs WAL with synchronous=FULL, PostgreSQL keeps its fsync defaults.
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import {
  type CompiledQuery,
  Kysely,
  PostgresDialect,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  sql,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type QueryCompiler,
  type Selectable,
  type Driver,
  type Transaction,
} from 'kysely';
import type { DatabaseConfig } from '../config.ts';
import type { DB } from './schema.ts';
import { BatchingPool, type TypeParser } from './pg-pool.ts';
import { PostgresJsDialect } from './postgres-js-driver.ts';
import { prepared } from './prepared.ts';
import { withRowLock } from './row-lock.ts';
import { takeNotes, type CommitListener } from './commit-notes.ts';
import { together } from './together.ts';
import { FALLBACK_AUTOCHECKPOINT_PAGES, startCheckpointer } from './sqlite-checkpointer.ts';
import { SqliteServerDriver, type SqliteHandles, type StatementObserver } from './sqlite-driver.ts';
import { pgSessionOptions } from './pg-session.ts';

export type Engine = 'sqlite' | 'postgres';
export type Tx = Transaction<DB>;

/** Tables whose rows are locked by `lockRow`, with the columns that identify a row. */
const LOCKABLE = {
  organizations: { org: 'id', id: 'id' },
  orders: { org: 'organization_id', id: 'id' },
  invoices: { org: 'organization_id', id: 'id' },
  payment_methods: { org: 'organization_id', id: 'id' },
} as const;
export type LockableTable = keyof typeof LOCKABLE;

/** Reads to send with a lock, by name; a name may be left undefined (nothing to read). */
export type Alongside = Record<string, CompiledQuery<unknown> | undefined>;
export type RowsByName<A extends Alongside> = {
  [K in keyof A]: A[K] extends CompiledQuery<infer R> ? R[] : undefined;
};

export interface Database {
  readonly engine: Engine;
  /** The query interface: in the view `within` a transaction, that transaction. */
  readonly db: Kysely<DB>;
  /**
   * One write transaction. SQLite begins IMMEDIATE, taking the database write lock up front
   * (it has no SELECT … FOR UPDATE); PostgreSQL runs READ COMMITTED and locks rows explicitly.
   * In the view `within` a transaction, `fn` runs in that one instead.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * A transaction in which one row — e.g. the order all money changes hang on — is locked
   * before `fn` runs, so every check `fn` makes holds until commit (API.md §5).
   * `fn` gets the row as read under the lock (one statement locks and loads it), or
   * undefined when it does not exist in that organization; and, when `alongside` names
   * reads, their rows (by the same names; undefined for a read not given), sent in the
   * lock's round trip and run once the lock is held (src/db/together.ts).
   */
  transactionLocking<T, Table extends LockableTable, A extends Alongside = Record<never, never>>(
    table: Table,
    organizationId: string,
    id: string,
    fn: (tx: Tx, row: Selectable<DB[Table]> | undefined, alongside: RowsByName<A>) => Promise<T>,
    alongside?: (tx: Tx) => A,
  ): Promise<T>;
  /** Serializes transactions on a name (bootstrap and similar one-off work). */
  lockName(tx: Tx, name: string): Promise<void>;
  /**
   * The database as seen inside `tx`: `db` is `tx`, and `transaction` and
   * `transactionLocking` join it. The idempotency layer hands a request's handler this view,
   * so the effect and the record of its answer (API.md §5) commit or roll back together.
   * Passed explicitly rather than found through AsyncLocalStorage, whose promise hooks
   * slowed every await of every request (docs/performance.md).
   */
  within(tx: Tx): Database;
  /** Marks a point inside a transaction that `rollbackTo` can return to. */
  savepoint(tx: Tx, name: string): Promise<void>;
  rollbackTo(tx: Tx, name: string): Promise<void>;
  /**
   * Calls `listener` after every transaction of this process that appended events commits,
   * with their organizations (src/db/commit-notes.ts). Answers the function that stops it.
   */
  onEventsCommitted(listener: CommitListener): () => void;
  /** Throws if the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * SQLite does run DDL inside transactions; saying so makes Kysely's migrator run each
 * migration batch in one (IMMEDIATE) transaction, which is what serializes two processes
 * migrating the same file — Kysely takes no other lock on SQLite.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class SqliteServerDialect implements Dialect {
  constructor(
    private readonly open: () => SqliteHandles,
    private readonly lockWaitMs: number,
    private readonly observe: StatementObserver | undefined,
  ) {}
  createDriver(): Driver {
    return new SqliteServerDriver(this.open, this.lockWaitMs, this.observe);
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

/** How long a write transaction waits for SQLite's write lock before it is answered 503. */
const SQLITE_LOCK_WAIT_MS = 5000;
/** Page cache per SQLite handle, in KiB (the writer and the reader each have one). */
const SQLITE_CACHE_KIB = 32 * 1024;
/** The synchronous part of any lock wait: short, so the event loop never stalls for long. */
const SQLITE_BUSY_TIMEOUT_MS = 50;

export function openSqlite(file: string): SQLite.Database {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const handle = new SQLite(file);
  handle.pragma('journal_mode = WAL');
  handle.pragma('synchronous = FULL');
  handle.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  handle.pragma('foreign_keys = ON');
  // SQLite's default page cache is 2 MiB: with a million payments, index pages the write
  // path needs fall out of it and come back through read(2) on every request.
  handle.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
  return handle;
}

/** int8 columns (money, counters) arrive from pg as strings; ours always fit a double exactly. */
function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error('int8 value outside the safe integer range');
  return n;
}

function int8AsNumber(oid: number, format?: 'text' | 'binary'): unknown {
  return oid === 20 ? parseInt8 : (pg.types.getTypeParser(oid, format) as unknown);
}

export function createPgPool(url: string, poolSize: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    application_name: 'om-payments',
    options: pgSessionOptions(),
    // Bounded waits: an unreachable database answers 503 quickly instead of hanging.
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    query_timeout: 30_000,
    types: { getTypeParser: int8AsNumber as typeof pg.types.getTypeParser },
  });
  // A client whose server went away emits 'error': idle ones through the pool, checked-out
  // ones (e.g. between two statements of a transaction) on themselves. Unheard, either would
  // crash the process. The broken client fails its next query (answered 503) and the pool
  // makes new clients once the server is back.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** A statement as it was sent to the engine (text and bound values). */
export interface ExecutedStatement {
  sql: string;
  parameters: readonly unknown[];
  /** PostgreSQL: sent in the same round trip as the next statement (src/db/pg-pool.ts). */
  withNext?: boolean;
}

export interface DatabaseOptions {
  /**
   * Sees every statement sent, transaction control included — the benchmark uses it to
   * replay exactly what the service issues on the raw driver (its engine ceiling).
   */
  onStatement?: (statement: ExecutedStatement) => void;
}

export function createDatabase(config: DatabaseConfig, options: DatabaseOptions = {}): Database {
  const { onStatement } = options;
  if (config.engine === 'sqlite') {
    const { file } = config;
    const open = (): SqliteHandles => {
      const writer = openSqlite(file);
      if (file === ':memory:') return { writer, reader: undefined };
      writer.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
      const checkpointer = startCheckpointer(file);
      return { writer, reader: openSqlite(file), stop: () => checkpointer.stop() };
    };
    // The driver reports statements itself: some (the shared commit) run outside any
    // connection Kysely handed out, where Kysely's query log would not see them.
    const observe =
      onStatement && ((q: CompiledQuery) => onStatement({ sql: q.sql, parameters: q.parameters }));
    const lockWaitMs = config.lockWaitMs ?? SQLITE_LOCK_WAIT_MS;
    const db = new Kysely<DB>({ dialect: new SqliteServerDialect(open, lockWaitMs, observe) });
    return build('sqlite', db);
  }
  if (config.driver === 'postgres-js') {
    const db = new Kysely<DB>({
      dialect: new PostgresJsDialect({
        url: config.url,
        poolSize: config.poolSize,
        parseInt8,
        onSent:
          onStatement &&
          ((sql, parameters, withNext) => onStatement({ sql, parameters, withNext })),
      }),
    });
    return build('postgres', db);
  }
  const pool = createPgPool(config.url, config.poolSize);
  // Reported as sent, round trips marked (src/db/pg-pool.ts), so the benchmark replays what
  // PostgreSQL really received, the way it received it.
  const sent =
    onStatement &&
    ((sql: string, parameters: readonly unknown[], withNext: boolean) =>
      onStatement({ sql, parameters, withNext }));
  const db = new Kysely<DB>({
    dialect: new PostgresDialect({
      pool: new BatchingPool(pool, { onSent: sent, typeParser: int8AsNumber as TypeParser }),
    }),
  });
  return build('postgres', db);
}

function build(engine: Engine, db: Kysely<DB>): Database {
  // One prepared lock statement per table (src/db/prepared.ts): every money change runs one.
  const lockStatements = new Map<LockableTable, ReturnType<typeof lockStatement>>();
  const lockStatement = (table: LockableTable) => {
    const { org, id: idColumn } = LOCKABLE[table];
    return prepared((db: Kysely<DB>, organizationId: string, id: string) => {
      // The table is only known at run time here; the caller's type parameter names the row.
      const query = (db as unknown as Kysely<Record<string, Record<string, unknown>>>)
        .selectFrom(table)
        .selectAll()
        .where(org, '=', organizationId)
        .where(idColumn, '=', id);
      return withRowLock(db, query, 'update');
    });
  };

  async function lockRow<Table extends LockableTable, A extends Alongside>(
    tx: Tx,
    table: Table,
    organizationId: string,
    id: string,
    alongside: ((tx: Tx) => A) | undefined,
  ): Promise<[Selectable<DB[Table]> | undefined, RowsByName<A>]> {
    let lock = lockStatements.get(table);
    if (lock === undefined) lockStatements.set(table, (lock = lockStatement(table)));
    const reads = Object.entries(alongside?.(tx) ?? {}).filter(
      (read): read is [string, CompiledQuery<unknown>] => read[1] !== undefined,
    );
    const [rows, ...answers] =
      reads.length === 0
        ? [(await lock(tx, organizationId, id)).rows]
        : await together(tx, lock.compile(tx, organizationId, id), ...reads.map(([, q]) => q));
    const byName = Object.fromEntries(reads.map(([name], i) => [name, answers[i]]));
    return [rows[0] as Selectable<DB[Table]> | undefined, byName as RowsByName<A>];
  }

  const commitListeners = new Set<CommitListener>();
  const topLevel = async <T>(fn: (tx: Tx) => Promise<T>): Promise<T> => {
    let ran: Tx | undefined;
    const result = await db.transaction().execute((tx) => {
      ran = tx;
      return fn(tx);
    });
    // Resolved only once committed (SQLite: the group's commit, src/db/sqlite-driver.ts).
    const orgs = ran && takeNotes(ran);
    if (orgs !== undefined) {
      for (const listener of commitListeners) {
        try {
          listener(orgs);
        } catch {
          // A listener's trouble is its own; the transaction committed.
        }
      }
    }
    return result;
  };
  const view = (current: Tx | undefined): Database => {
    const transaction = <T>(fn: (tx: Tx) => Promise<T>): Promise<T> =>
      current !== undefined ? fn(current) : topLevel(fn);
    return {
      engine,
      db: current ?? db,
      transaction,
      within: (tx) => view(tx),
      async savepoint(tx, name) {
        await sql`savepoint ${sql.id(name)}`.execute(tx);
      },
      async rollbackTo(tx, name) {
        await sql`rollback to savepoint ${sql.id(name)}`.execute(tx);
      },
      transactionLocking: (table, organizationId, id, fn, alongside) =>
        transaction(async (tx) =>
          fn(tx, ...(await lockRow(tx, table, organizationId, id, alongside))),
        ),
      async lockName(tx, name) {
        if (engine === 'postgres')
          await sql`select pg_advisory_xact_lock(hashtext(${name}))`.execute(tx);
      },
      onEventsCommitted(listener) {
        commitListeners.add(listener);
        return () => void commitListeners.delete(listener);
      },
      async ping() {
        await sql`select 1`.execute(db);
      },
      close: () => db.destroy(),
    };
  };
  return view(undefined);
}
