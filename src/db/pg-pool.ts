// The PostgreSQL connection under Kysely's dialect: named statements, and statements held
// back to travel in one round trip with the next.
//
// Named statements. Kysely hands pg each query as text + values, which pg sends as an
// unnamed statement: PostgreSQL parses and plans it again on every execution. Under load that
// was most of the backends' CPU, taken from the same cores the service runs on
// (docs/performance.md). Giving each distinct statement text a name makes PostgreSQL parse it
// once per connection and afterwards only bind and execute it, like `pgbench
// --protocol=prepared`. The texts are Kysely's compiled SQL with placeholders, never values,
// so their number is bounded by the code — except for `in (...)` lists, whose length varies
// with the request. Past `maxNamed` texts, statements go unnamed, so a connection never holds
// an unbounded number of prepared statements.
//
// Batches. Every round trip wakes a backend and waits for it; on two busy cores that waiting
// was the largest part of a request's time. Inside a transaction, statements whose answer
// nobody waits for are held and written in front of the transaction's next statement, the
// whole batch with one Sync (the extended protocol's pipelining): `begin`, `savepoint`, and
// writes marked `deferred()` (an order's figures, the event, the idempotency record). The
// server runs a batch's statements in order, each seeing what the ones before it did; at the
// first error it skips the rest up to the Sync, and the batch fails with that error — the one
// the held statement would have raised itself, only later (the commit at the latest), which
// then fails the transaction as the statement would have. A rollback drops held writes (to
// the savepoint it names); a transaction whose `begin` is still held ends with no round trip.
import { createRequire } from 'node:module';
import type { CompiledQuery, PostgresPool, PostgresPoolClient } from 'kysely';
import pg from 'pg';

const MAX_NAMED = 500;
const DEFERRED = '/* om:deferred */ ';

/** Marks a compiled write as one whose result is not read: it may travel later (see above). */
export function deferred<R>(query: CompiledQuery<R>): CompiledQuery<R> {
  return { ...query, sql: DEFERRED + query.sql };
}

/**
 * Sees every statement as it is sent (the benchmark replays them on the raw driver).
 * `withNext`: it went in the same round trip as the statement reported after it.
 */
export type SentStatement = (
  sql: string,
  parameters: readonly unknown[],
  withNext: boolean,
) => void;

/** One statement of a round trip; `name` when it is (or is to be) a named statement. */
interface Part {
  text: string;
  values: unknown[];
  name: string | undefined;
}

/** What pg's Connection (pg/lib/connection.js) offers a query that writes its own messages. */
interface Wire {
  stream: { cork?: () => void; uncork?: () => void };
  parsedStatements: Record<string, string | undefined>;
  submittedNamedStatements: Record<string, string | undefined>;
  parse(message: { text: string; name: string }): void;
  bind(message: { statement: string; values: unknown[] }): void;
  describe(message: { type: 'P'; name: string }): void;
  execute(message: { portal: string }): void;
  sync(): void;
  on(event: 'parseComplete', listener: () => void): void;
  off(event: 'parseComplete', listener: () => void): void;
}

type Done = (error: Error | null, results?: pg.QueryResult | pg.QueryResult[]) => void;

/** pg's Query as a base class: result parsing, errors and read timeouts stay pg's. */
const QueryBase = pg.Query as unknown as new (
  config: { text: string },
  values: undefined,
  done: Done,
) => {
  handleError(error: Error, wire: Wire): void;
  handleReadyForQuery(wire: Wire): void;
};

// How pg turns a value into its text form (dates, JSON, buffers…); not in pg's typings.
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as {
  prepareValue: (value: unknown) => string | Buffer | null;
};

/**
 * Several statements written at once with one Sync: one round trip. pg's client hands it the
 * connection when it is its turn and the backend's answers as they come; pg's Query collects
 * one result per statement. Named statements new to the connection are parsed first, so pg's
 * record of what a connection has parsed can be kept exact (below).
 */
class Batch extends QueryBase {
  readonly #parts: Part[];
  /** Names this batch parses, in order; the first `#confirmed` of them the server accepted. */
  readonly #fresh: Part[] = [];
  #confirmed = 0;
  #wire: Wire | undefined;
  readonly #onParsed = () => void this.#confirmed++;

  constructor(parts: Part[], done: Done) {
    // No name for pg: it would note one parsed statement per query; this batch notes its own.
    super({ text: parts[parts.length - 1]!.text }, undefined, done);
    this.#parts = parts;
  }

  submit(wire: Wire): Error | null {
    let values: (string | Buffer | null)[][];
    try {
      // Converted before anything is written: a value pg cannot send fails this batch alone.
      values = this.#parts.map((p) => p.values.map(prepareValue));
    } catch (error) {
      return error as Error;
    }
    const named = new Set<string>();
    for (const part of this.#parts) {
      const { name } = part;
      if (name === undefined || named.has(name)) continue;
      named.add(name);
      if (
        wire.parsedStatements[name] === undefined &&
        wire.submittedNamedStatements[name] === undefined
      )
        this.#fresh.push(part);
    }
    this.#wire = wire;
    if (this.#fresh.length > 0) wire.on('parseComplete', this.#onParsed);
    wire.stream.cork?.();
    try {
      for (const { text, name } of this.#fresh) {
        wire.parse({ text, name: name! });
        wire.submittedNamedStatements[name!] = text;
      }
      this.#parts.forEach((part, i) => {
        if (part.name === undefined) wire.parse({ text: part.text, name: '' });
        wire.bind({ statement: part.name ?? '', values: values[i]! });
        wire.describe({ type: 'P', name: '' });
        wire.execute({ portal: '' });
      });
      wire.sync();
    } finally {
      wire.stream.uncork?.();
    }
    return null;
  }

  /** The fresh names the server parsed stay known; the others are forgotten (parsed anew). */
  #settle(): void {
    const wire = this.#wire;
    if (wire === undefined || this.#fresh.length === 0) return;
    wire.off('parseComplete', this.#onParsed);
    this.#fresh.forEach(({ name, text }, i) => {
      delete wire.submittedNamedStatements[name!];
      if (i < this.#confirmed) wire.parsedStatements[name!] = text;
    });
  }

  override handleError(error: Error, wire: Wire): void {
    this.#settle();
    super.handleError(error, wire);
  }

  override handleReadyForQuery(wire: Wire): void {
    this.#settle();
    super.handleReadyForQuery(wire);
  }
}

const TRANSACTION_START = /^(begin|start transaction)\b/i;
const TRANSACTION_END = /^(commit|rollback|end|abort)\b/i;
const SAVEPOINT = /^savepoint\s+(.+)$/i;
const ROLLBACK_TO = /^rollback\s+to\s+(?:savepoint\s+)?(.+)$/i;
const ROLLBACK = /^(rollback|abort)\b/i;

/** The answer to a held statement (nobody reads it). */
const HELD: pg.QueryResult = { command: '', rowCount: 0, rows: [], fields: [], oid: 0 };

export class BatchingPool implements PostgresPool {
  readonly #pool: pg.Pool;
  readonly #names = new Map<string, string>();
  // One wrapper per pg client, so Kysely (which keys its connections by client) keeps one.
  readonly #clients = new WeakMap<pg.PoolClient, PostgresPoolClient>();

  constructor(
    pool: pg.Pool,
    readonly maxNamed = MAX_NAMED,
    readonly onSent?: SentStatement,
  ) {
    this.#pool = pool;
  }

  async connect(): Promise<PostgresPoolClient> {
    const client = await this.#pool.connect();
    let wrapped = this.#clients.get(client);
    if (wrapped === undefined) {
      wrapped = this.#wrap(client);
      this.#clients.set(client, wrapped);
    }
    return wrapped;
  }

  end(): Promise<void> {
    return this.#pool.end();
  }

  #wrap(client: pg.PoolClient): PostgresPoolClient {
    let inTransaction = false;
    // Held statements, oldest first; `begin` is held only as the first.
    let held: Part[] = [];
    const part = (text: string, values: unknown[]): Part => ({
      text,
      values,
      // Without values (begin, commit, savepoints) there is nothing to bind again.
      name: values.length === 0 ? undefined : this.#nameOf(text),
    });
    const send = (parts: Part[]): Promise<pg.QueryResult> => {
      if (this.onSent)
        parts.forEach((p, i) => this.onSent!(p.text, p.values, i < parts.length - 1));
      if (parts.length === 1) {
        const [{ text, values, name }] = parts as [Part];
        // Alone and without values, the simple protocol is one message.
        return name === undefined
          ? client.query(text, values)
          : client.query({ name, text, values });
      }
      return new Promise((resolve, reject) => {
        const batch = new Batch(parts, (error, results) => {
          if (error) reject(error);
          else resolve(Array.isArray(results) ? results[results.length - 1]! : results!);
        });
        client.query(batch as unknown as pg.Submittable);
      });
    };
    const hold = (p: Part) => {
      held.push(p);
      return Promise.resolve(HELD);
    };
    const sendWithHeld = (p: Part) => {
      const parts = [...held, p];
      held = [];
      return send(parts);
    };
    const query = (text: string, values: unknown[]): Promise<pg.QueryResult> => {
      if (text.startsWith(DEFERRED)) {
        const write = part(text.slice(DEFERRED.length), values);
        return inTransaction ? hold(write) : sendWithHeld(write);
      }
      // Transaction control never has values; statements with values skip the tests.
      if (values.length > 0) return sendWithHeld(part(text, values));
      if (TRANSACTION_START.test(text) && !inTransaction) {
        inTransaction = true;
        return hold(part(text, values));
      }
      if (inTransaction && SAVEPOINT.test(text)) return hold(part(text, values));
      const rollbackTo = ROLLBACK_TO.exec(text)?.[1];
      if (rollbackTo !== undefined) {
        const at = held.findLastIndex((h) => SAVEPOINT.exec(h.text)?.[1] === rollbackTo);
        if (at >= 0) {
          // The savepoint is still held: dropping what came after it is the whole rollback.
          held = held.slice(0, at + 1);
          return Promise.resolve(HELD);
        }
        // Everything held came after the savepoint and is undone anyway (a held `begin` is
        // kept, so a savepoint the server never had still fails there).
        held = held.filter((h) => TRANSACTION_START.test(h.text));
        return sendWithHeld(part(text, values));
      }
      if (TRANSACTION_END.test(text)) {
        inTransaction = false;
        if (ROLLBACK.test(text)) {
          const begun = !(held.length > 0 && TRANSACTION_START.test(held[0]!.text));
          held = [];
          // A transaction the server never saw begin has nothing to roll back.
          if (!begun) return Promise.resolve(HELD);
        }
      }
      return sendWithHeld(part(text, values));
    };
    return {
      // Kysely calls query(text, values) only: we pass no cursor constructor.
      query: query as unknown as PostgresPoolClient['query'],
      release: (destroy?: boolean) => {
        held = [];
        inTransaction = false;
        client.release(destroy);
      },
    };
  }

  #nameOf(text: string): string | undefined {
    let name = this.#names.get(text);
    if (name === undefined && this.#names.size < this.maxNamed) {
      name = `om_${this.#names.size}`;
      this.#names.set(text, name);
    }
    return name;
  }
}
