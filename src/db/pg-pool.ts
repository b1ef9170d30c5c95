// The PostgreSQL connection under Kysely's dialect: named statements, statements held back to
// travel in one round trip with the next, and rows decoded without asking twice.
//
// Named statements. Kysely hands pg each query as text + values, which pg sends as an
// unnamed statement: PostgreSQL parses and plans it again on every execution. Under load that
// was most of the backends' CPU, taken from the same cores the service runs on
// (docs/performance.md). Giving each distinct statement text a name makes PostgreSQL parse it
// once per connection and afterwards only bind and execute it, like `pgbench
// --protocol=prepared`. The texts are Kysely's compiled SQL with placeholders, never values,
// so their number is bounded by the code — except for `in (...)` lists, whose length varies
// with the request. At most `maxNamed` texts hold a name at a time, the least recently used
// giving its name up for a new text (names are never reused); each connection closes the
// statements it holds under names given up (a Close message in front of its next round
// trip), so no connection holds more than about `maxNamed` prepared statements, and a text
// named again is parsed again under its new name. A named statement is described (its
// columns) once; afterwards its rows are decoded with what that said, without a Describe.
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
//
// Together. Reads that do not depend on each other's answers (an order, its payments and
// their methods; a row lock and the row it guards) can travel as one batch as well, each
// answered (src/db/together.ts). The server runs them in the order given, each seeing what
// the ones before it did, so a read placed after a lock reads under that lock.
import { createRequire } from 'node:module';
import type { CompiledQuery, PostgresPool, PostgresPoolClient } from 'kysely';
import pg from 'pg';

const MAX_NAMED = 500;
const DEFERRED = '/* om:deferred */ ';
/** The text of a query whose values are the compiled queries to send together. */
export const TOGETHER = '/* om:together */';

/** Marks a compiled write as one whose result is not read: it may travel later (see above). */
export function deferred<R>(query: CompiledQuery<R>): CompiledQuery<R> {
  return { ...query, sql: DEFERRED + query.sql };
}

export function isDeferred(query: CompiledQuery): boolean {
  return query.sql.startsWith(DEFERRED);
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

/** The parser of a column type's text form (pg-types' signature). */
export type TypeParser = (oid: number, format: 'text') => (text: string) => unknown;

export interface BatchingPoolOptions {
  /** Statement texts holding a name at a time (past it, the least recently used gives it up). */
  maxNamed?: number;
  onSent?: SentStatement;
  /** Column values' parsers; pg's defaults when not given. */
  typeParser?: TypeParser;
}

/** Builds a row from a DataRow's text values. */
type Decoder = (values: (string | null)[]) => Record<string, unknown>;

/** A statement text's name and, once PostgreSQL has described it, how its rows decode. */
interface Named {
  name: string;
  decoder?: Decoder;
}

/** Names given up (see the top of the file) that a connection still holds. */
type DeadNames = (wire: Wire, used: ReadonlySet<string>) => string[];

/** One statement of a round trip. */
interface Part {
  text: string;
  values: unknown[];
  /** Set when the statement is (or is to be) a named statement. */
  named: Named | undefined;
}

/** What pg's Connection (pg/lib/connection.js) offers a query that writes its own messages. */
interface Wire {
  stream: { cork?: () => void; uncork?: () => void };
  parsedStatements: Record<string, string | undefined>;
  submittedNamedStatements: Record<string, string | undefined>;
  parse(message: { text: string; name: string }): void;
  bind(message: { statement: string; values: (string | Buffer | null)[] }): void;
  describe(message: { type: 'P'; name: string }): void;
  close(message: { type: 'S'; name: string }): void;
  execute(message: { portal: string }): void;
  sync(): void;
  sendCopyFail(message: string): void;
  on(event: 'parseComplete', listener: () => void): void;
  off(event: 'parseComplete', listener: () => void): void;
}

interface FieldDescription {
  name: string;
  dataTypeID: number;
}

/** What Kysely's PostgreSQL driver reads of an answer. */
interface Answer {
  command: string;
  rowCount: number | null;
  rows: Record<string, unknown>[];
}

type Done = (error: Error | null, answers?: Answer[]) => void;

// How pg turns a value into its text form (dates, JSON, buffers…); not in pg's typings.
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as {
  prepareValue: (value: unknown) => string | Buffer | null;
};

/**
 * Rows as object literals of one fixed shape, built by a function generated from the column
 * names (so V8 keeps one hidden class for them), each value through its column's parser.
 */
function decoderFor(fields: FieldDescription[], typeParser: TypeParser): Decoder {
  const parsers = fields.map((f) => typeParser(f.dataTypeID, 'text'));
  const props = fields
    .map(({ name }, i) => `${JSON.stringify(name)}: v[${i}] === null ? null : p[${i}](v[${i}])`)
    .join(', ');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- built from column names only
  const build = new Function('p', 'v', `return { ${props} };`) as (
    p: typeof parsers,
    v: (string | null)[],
  ) => Record<string, unknown>;
  return (values) => build(parsers, values);
}

/** A command tag ("INSERT 0 1", "UPDATE 3", "BEGIN"): command and row count, as pg reads it. */
const TAG = /^([A-Za-z]+)(?: (\d+))?(?: (\d+))?/;

/**
 * One round trip: one or more statements written at once with one Sync, answered with the
 * rows of the last `answered` of them (those in front are held writes). It stands in for pg's Query (pg's client hands it the connection when it
 * is its turn, then the backend's messages as they come), so it decodes rows itself: see
 * the top of the file. Named statements new to the connection are parsed first, so pg's
 * record of what a connection has parsed can be kept exact (`#settle`).
 */
class RoundTrip {
  /** Read by pg's client, which wraps it to enforce its read timeout. */
  callback: Done;
  readonly #parts: Part[];
  readonly #typeParser: TypeParser;
  /** The statement whose messages are arriving, and how its rows decode. */
  #at = 0;
  #decoder: Decoder | undefined;
  /** The index of the first statement answered; the answers, in order. */
  readonly #firstAnswered: number;
  readonly #answers: Answer[];
  /** Statements this round trip parses, in order; the first `#confirmed` the server accepted. */
  readonly #fresh: Part[] = [];
  #confirmed = 0;
  #wire: Wire | undefined;
  readonly #onParsed = () => void this.#confirmed++;
  readonly #deadNames: DeadNames;

  constructor(
    parts: Part[],
    answered: number,
    typeParser: TypeParser,
    deadNames: DeadNames,
    done: Done,
  ) {
    this.#parts = parts;
    this.#deadNames = deadNames;
    this.#firstAnswered = parts.length - answered;
    this.#answers = Array.from({ length: answered }, () => ({
      command: '',
      rowCount: null,
      rows: [],
    }));
    this.#typeParser = typeParser;
    this.callback = done;
  }

  submit(wire: Wire): Error | null {
    let values: (string | Buffer | null)[][];
    try {
      // Converted before anything is written: a value pg cannot send fails this trip alone.
      values = this.#parts.map((p) => p.values.map(prepareValue));
    } catch (error) {
      return error as Error;
    }
    const seen = new Set<string>();
    for (const part of this.#parts) {
      const name = part.named?.name;
      if (name === undefined || seen.has(name)) continue;
      seen.add(name);
      if (wire.parsedStatements[name] === undefined && !(name in wire.submittedNamedStatements))
        this.#fresh.push(part);
    }
    this.#wire = wire;
    const dead = this.#deadNames(wire, seen);
    if (this.#fresh.length > 0) wire.on('parseComplete', this.#onParsed);
    wire.stream.cork?.();
    try {
      // Closing a statement the server does not have is no error, so these are forgotten
      // at once; the server runs them before anything of this trip can fail.
      for (const name of dead) {
        wire.close({ type: 'S', name });
        delete wire.parsedStatements[name];
      }
      for (const { text, named } of this.#fresh) {
        wire.parse({ text, name: named!.name });
        wire.submittedNamedStatements[named!.name] = text;
      }
      this.#parts.forEach(({ text, named }, i) => {
        if (named === undefined) wire.parse({ text, name: '' });
        wire.bind({ statement: named?.name ?? '', values: values[i]! });
        if (named?.decoder === undefined) wire.describe({ type: 'P', name: '' });
        wire.execute({ portal: '' });
      });
      wire.sync();
    } finally {
      wire.stream.uncork?.();
    }
    this.#decoder = this.#parts[0]!.named?.decoder;
    return null;
  }

  handleRowDescription(message: { fields: FieldDescription[] }): void {
    this.#decoder = decoderFor(message.fields, this.#typeParser);
    const named = this.#parts[this.#at]?.named;
    if (named !== undefined) named.decoder = this.#decoder;
  }

  handleDataRow(message: { fields: (string | null)[] }): void {
    const answer = this.#answers[this.#at - this.#firstAnswered];
    if (answer !== undefined) answer.rows.push(this.#decoder!(message.fields));
  }

  handleCommandComplete(message: { text: string }): void {
    const answer = this.#answers[this.#at - this.#firstAnswered];
    if (answer !== undefined) {
      const tag = TAG.exec(message.text);
      answer.command = tag?.[1] ?? '';
      const count = tag?.[3] ?? tag?.[2];
      answer.rowCount = count === undefined ? null : Number(count);
    }
    this.#next();
  }

  handleEmptyQuery(): void {
    this.#next();
  }

  #next(): void {
    this.#at++;
    this.#decoder = this.#parts[this.#at]?.named?.decoder;
  }

  handleError(error: Error): void {
    this.#settle();
    this.callback(error);
  }

  handleReadyForQuery(): void {
    this.#settle();
    this.callback(null, this.#answers);
  }

  // Never asked for here (no row limits, no COPY); answered as pg's Query answers them.
  handlePortalSuspended(): void {}
  handleCopyInResponse(wire: Wire): void {
    wire.sendCopyFail('No source stream defined');
  }
  handleCopyData(): void {}

  /** Fresh names the server parsed stay known; the others are forgotten (parsed anew). */
  #settle(): void {
    const wire = this.#wire;
    if (wire === undefined || this.#fresh.length === 0) return;
    wire.off('parseComplete', this.#onParsed);
    this.#fresh.forEach(({ named, text }, i) => {
      delete wire.submittedNamedStatements[named!.name];
      if (i < this.#confirmed) wire.parsedStatements[named!.name] = text;
    });
    this.#fresh.length = 0;
  }
}

/**
 * The server ended the session (terminated, shutting down: SQLSTATE 57P01–57P03, or a
 * connection exception, class 08), or pg saw the connection end. The FATAL error arrives
 * before the socket closes, so pg's pool would still take such a connection back.
 */
function isSessionLost(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (
    (typeof code === 'string' && /^(08...|57P0[1-3])$/.test(code)) ||
    (typeof message === 'string' && message.startsWith('Connection terminated'))
  );
}

const TRANSACTION_START = /^(begin|start transaction)\b/i;
const TRANSACTION_END = /^(commit|rollback|end|abort)\b/i;
const SAVEPOINT = /^savepoint\s+(.+)$/i;
const ROLLBACK_TO = /^rollback\s+to\s+(?:savepoint\s+)?(.+)$/i;
const ROLLBACK = /^(rollback|abort)\b/i;

/** The answer to a held statement (nobody reads it). */
const HELD: Answer = { command: '', rowCount: 0, rows: [] };

export class BatchingPool implements PostgresPool {
  readonly #pool: pg.Pool;
  readonly #maxNamed: number;
  readonly #onSent: SentStatement | undefined;
  readonly #typeParser: TypeParser;
  /** Texts holding a name, least recently used first. */
  readonly #named = new Map<string, Named>();
  /** Names given so far (each once), and names given up so far. */
  #names = 0;
  #givenUp = 0;
  // One wrapper per pg client, so Kysely (which keys its connections by client) keeps one.
  readonly #clients = new WeakMap<pg.PoolClient, PostgresPoolClient>();

  constructor(pool: pg.Pool, options: BatchingPoolOptions = {}) {
    this.#pool = pool;
    this.#maxNamed = options.maxNamed ?? MAX_NAMED;
    this.#onSent = options.onSent;
    this.#typeParser = options.typeParser ?? (pg.types.getTypeParser as TypeParser);
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
    /** Set when a statement failed because the session ended (see `isSessionLost`). */
    let lost = false;
    // Names given up when this connection last closed what it held under such names.
    let closedUpTo = this.#givenUp;
    const deadNames: DeadNames = (wire, used) => {
      if (closedUpTo === this.#givenUp) return [];
      closedUpTo = this.#givenUp;
      return Object.entries(wire.parsedStatements).flatMap(([name, text]) =>
        text !== undefined && this.#named.get(text)?.name !== name && !used.has(name) ? [name] : [],
      );
    };
    // Held statements, oldest first; `begin` is held only as the first.
    let held: Part[] = [];
    const part = (text: string, values: unknown[]): Part => ({
      text,
      values,
      // Without values (begin, commit, savepoints) there is nothing to bind again.
      named: values.length === 0 ? undefined : this.#namedFor(text),
    });
    /**
     * Sends `parts` in one round trip. Answers the last one; with `together`, the last
     * `together` ones, each its answer as one row of the result.
     */
    const send = (parts: Part[], together = 0): Promise<Answer> => {
      parts.forEach((p, i) => this.#onSent?.(p.text, p.values, i < parts.length - 1));
      const [only] = parts;
      // Alone and without values (transaction control, DDL), the simple protocol: one
      // message, and the text may hold several statements.
      // (Not while names were given up since this connection last closed the statements
      // it held under such names: only a round trip of our own closes them.)
      if (
        parts.length === 1 &&
        only!.named === undefined &&
        only!.values.length === 0 &&
        closedUpTo === this.#givenUp
      )
        return client.query(only!.text).catch((error: unknown) => {
          if (isSessionLost(error)) lost = true;
          throw error;
        });
      return new Promise((resolve, reject) => {
        const answered = Math.max(together, 1);
        const trip = new RoundTrip(parts, answered, this.#typeParser, deadNames, (e, a) => {
          if (e) {
            if (isSessionLost(e)) lost = true;
            reject(e);
          }
          // Each answer is a row of the batch's result (read by src/db/together.ts).
          else
            resolve(
              together > 0
                ? { command: 'SELECT', rowCount: null, rows: a as unknown as Answer['rows'] }
                : a![0]!,
            );
        });
        client.query(trip as unknown as pg.Submittable);
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
    const sendTogether = (queries: CompiledQuery[]) => {
      const parts = queries.map((q) => part(q.sql, [...q.parameters]));
      const all = [...held, ...parts];
      held = [];
      return send(all, parts.length);
    };
    const query = (text: string, values: unknown[]): Promise<Answer> => {
      if (text === TOGETHER) return sendTogether(values as CompiledQuery[]);
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
        // A connection whose session ended goes, even before its socket closes: handed to
        // the next waiter as it is, it would fail that one's statement too.
        if (lost) destroy = true;
        lost = false;
        held = [];
        inTransaction = false;
        client.release(destroy);
      },
    };
  }

  #namedFor(text: string): Named {
    let named = this.#named.get(text);
    if (named !== undefined) {
      // Used now: to the end of the order (a Map keeps insertion order).
      this.#named.delete(text);
      this.#named.set(text, named);
      return named;
    }
    if (this.#named.size >= this.#maxNamed) {
      // The least recently used text gives up its name.
      const oldest = this.#named.keys().next().value!;
      this.#named.delete(oldest);
      this.#givenUp++;
    }
    named = { name: `om_${this.#names++}` };
    this.#named.set(text, named);
    return named;
  }
}
