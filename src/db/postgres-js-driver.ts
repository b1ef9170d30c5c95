// postgres.js (the `postgres` package) as Kysely's PostgreSQL driver: the candidate measured
// against our own protocol layer (src/db/pg-pool.ts) for issue 24, chosen with
// PG_DRIVER=postgres-js (README, configuration). The default stays `pg`.
//
// postgres.js names every statement with values when asked (`prepare`: each connection parses
// a text once; its `unsafe`, which takes Kysely's compiled text, does not by default), and
// pipelines: queries issued before earlier ones are answered are written at once, each
// with its own Sync. The marks the service already puts on its statements map onto that:
// - a `deferred()` write inside a transaction (and `begin`, and a savepoint) is issued and
//   not waited for, so it travels with whatever the transaction sends next. Its error is kept
//   and thrown by the transaction's next awaited statement (the commit at the latest), which
//   otherwise would only say "current transaction is aborted" (25P02) — the same error, at
//   the same place, as src/db/pg-pool.ts raises it;
// - `together` (src/db/together.ts) issues its reads at once and answers each.
// Outside a transaction a deferred write is simply awaited.
import {
  type CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import postgres from 'postgres';
import { isDeferred, TOGETHER, type SentStatement } from './pg-pool.ts';
import { PG_SESSION_SETTINGS } from './pg-session.ts';

const DEFERRED_PREFIX_LENGTH = '/* om:deferred */ '.length;
const SAVEPOINT = /^savepoint\s+(.+)$/i;
const ROLLBACK_TO = /^rollback\s+to\s+(?:savepoint\s+)?(.+)$/i;

export interface PostgresJsOptions {
  url: string;
  poolSize: number;
  /** int8 columns' parser (our money and counters fit a double; see src/db/engine.ts). */
  parseInt8: (text: string) => number;
  onSent?: SentStatement;
}

const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

function toResult<R>(result: postgres.RowList<postgres.Row[]>): QueryResult<R> {
  return {
    ...(WRITES.has(result.command) ? { numAffectedRows: BigInt(result.count) } : {}),
    rows: result as unknown as R[],
  };
}

/** The first failure of a statement nobody waited for, and when it was issued. */
interface Failure {
  error: unknown;
  seq: number;
}

class PostgresJsConnection implements DatabaseConnection {
  readonly sql: postgres.ReservedSql;
  inTransaction = false;
  readonly #onSent: SentStatement | undefined;
  /** Statements issued and not waited for, each settling (never rejecting) when answered. */
  #pending: Promise<void>[] = [];
  #failure: Failure | undefined;
  #seq = 0;
  /** Savepoints issued in this transaction, by name: the sequence number they were issued at. */
  #savepoints = new Map<string, number>();

  constructor(sql: postgres.ReservedSql, onSent: SentStatement | undefined) {
    this.sql = sql;
    this.#onSent = onSent;
  }

  #issue(text: string, parameters: readonly unknown[]) {
    this.#onSent?.(text, parameters, false);
    // `unsafe` leaves statements unnamed unless told (each then parsed and planned on every
    // execution); without values (transaction control) the simple protocol, one message.
    return this.sql.unsafe(text, parameters as postgres.ParameterOrJSON<never>[], {
      prepare: parameters.length > 0,
    });
  }

  /** Issues a statement whose answer nobody reads; a failure is kept for the next wait. */
  fire(text: string, parameters: readonly unknown[] = []): void {
    const seq = ++this.#seq;
    this.#pending.push(
      this.#issue(text, parameters).then(
        () => undefined,
        (error: unknown) => {
          this.#failure ??= { error, seq };
        },
      ),
    );
  }

  /** Waits for every statement issued before; throws the first one's error, if any failed. */
  async #settle(discardAfter?: number): Promise<void> {
    if (this.#pending.length > 0) {
      const pending = this.#pending;
      this.#pending = [];
      await Promise.all(pending);
    }
    const failure = this.#failure;
    this.#failure = undefined;
    if (failure !== undefined && !(discardAfter !== undefined && failure.seq > discardAfter))
      throw failure.error;
  }

  async #awaited<R>(text: string, parameters: readonly unknown[]): Promise<QueryResult<R>> {
    let result: postgres.RowList<postgres.Row[]>;
    try {
      result = await this.#issue(text, parameters);
    } catch (error) {
      // A held statement's error comes first: this one only met the aborted transaction.
      await this.#settle();
      throw error;
    }
    await this.#settle();
    return toResult<R>(result);
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const { sql: text, parameters } = query;
    if (text === TOGETHER) return this.#together(parameters as readonly CompiledQuery[]);
    if (isDeferred(query)) {
      const write = text.slice(DEFERRED_PREFIX_LENGTH);
      if (!this.inTransaction) return this.#awaited(write, parameters);
      this.fire(write, parameters);
      return { rows: [] };
    }
    if (this.inTransaction && parameters.length === 0) {
      const savepoint = SAVEPOINT.exec(text)?.[1];
      if (savepoint !== undefined) {
        this.fire(text);
        this.#savepoints.set(savepoint, this.#seq);
        return { rows: [] };
      }
      const to = ROLLBACK_TO.exec(text)?.[1];
      if (to !== undefined) {
        // What failed after the savepoint is undone with it; what failed before is not.
        const at = this.#savepoints.get(to);
        try {
          await this.#settle(at);
        } catch (error) {
          await this.#issue(text, []).catch(() => undefined);
          throw error;
        }
        return toResult<R>(await this.#issue(text, []));
      }
    }
    return this.#awaited<R>(text, parameters);
  }

  async #together<R>(queries: readonly CompiledQuery[]): Promise<QueryResult<R>> {
    const answers = await Promise.allSettled(queries.map((q) => this.#issue(q.sql, q.parameters)));
    await this.#settle();
    const failed = answers.find((a) => a.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return {
      rows: answers.map((a) => ({
        rows: (a as PromiseFulfilledResult<postgres.RowList<postgres.Row[]>>).value,
      })) as unknown as R[],
    };
  }

  // eslint-disable-next-line require-yield -- the service streams nothing
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not used on this driver');
  }

  async commit(): Promise<void> {
    this.inTransaction = false;
    this.#savepoints.clear();
    const { rows } = await this.#awaited('commit', []);
    // PostgreSQL completes COMMIT with a ROLLBACK tag when the transaction had failed.
    if ((rows as unknown as { command?: string }).command === 'ROLLBACK')
      throw new Error('the transaction was rolled back at commit');
  }

  async rollback(): Promise<void> {
    this.inTransaction = false;
    this.#savepoints.clear();
    // Whatever failed is rolled back with the rest.
    await this.#settle().catch(() => undefined);
    await this.#issue('rollback', []);
  }

  /** Before the connection goes back to the pool: nothing of this one's may linger. */
  async reset(): Promise<void> {
    this.inTransaction = false;
    this.#savepoints.clear();
    await this.#settle().catch(() => undefined);
  }
}

class PostgresJsDriver implements Driver {
  readonly #sql: postgres.Sql;
  readonly #onSent: SentStatement | undefined;

  constructor(sql: postgres.Sql, onSent: SentStatement | undefined) {
    this.#sql = sql;
    this.#onSent = onSent;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new PostgresJsConnection(await this.#sql.reserve(), this.#onSent);
  }

  async beginTransaction(
    connection: DatabaseConnection,
    settings: TransactionSettings,
  ): Promise<void> {
    const c = connection as PostgresJsConnection;
    let text = 'begin';
    if (settings.isolationLevel) text += ` isolation level ${settings.isolationLevel}`;
    if (settings.accessMode) text += ` ${settings.accessMode}`;
    c.inTransaction = true;
    // Travels with the transaction's first statement.
    c.fire(text);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return (connection as PostgresJsConnection).commit();
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return (connection as PostgresJsConnection).rollback();
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const c = connection as PostgresJsConnection;
    await c.reset();
    c.sql.release();
  }

  async destroy(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
}

export class PostgresJsDialect implements Dialect {
  readonly #sql: postgres.Sql;
  readonly #onSent: SentStatement | undefined;

  constructor(options: PostgresJsOptions) {
    this.#onSent = options.onSent;
    this.#sql = postgres(options.url, {
      max: options.poolSize,
      connection: {
        application_name: 'om-payments',
        ...PG_SESSION_SETTINGS,
      },
      // Bounded waits, as for pg (src/db/engine.ts): seconds here.
      connect_timeout: 5,
      idle_timeout: 30,
      // Statements are named per connection (`prepare`, the default). `fetch_types` stays on
      // (a lookup of array types per new connection): off, `reserve()` on a pool with no open
      // connection never settles (porsager/postgres#751, open in 3.4.9).
      onnotice: () => undefined,
      types: {
        int8: {
          to: 20,
          from: [20],
          serialize: (x: number) => String(x),
          parse: options.parseInt8,
        },
      },
    });
  }

  createDriver(): Driver {
    return new PostgresJsDriver(this.#sql, this.#onSent);
  }
  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }
  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}
