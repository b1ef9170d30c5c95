// The PostgreSQL connection under Kysely's dialect: named statements and deferred writes.
//
// Named statements. Kysely hands pg each query as text + values, which pg sends as an
// unnamed statement: PostgreSQL parses and plans it again on every execution. Under load
// that was most of the backends' CPU, taken from the same cores the service runs on
// (docs/performance.md). Giving each distinct statement text a name makes pg parse it once
// per connection and afterwards only bind and execute it, like `pgbench --protocol=prepared`.
// The texts are Kysely's compiled SQL with placeholders, never values, so their number is
// bounded by the code — except for `in (...)` lists, whose length varies with the request.
// Past `maxNamed` texts, statements go unnamed, so a connection never holds an unbounded
// number of prepared statements.
//
// Deferred writes. Every statement is a round trip, and on a busy machine each one wakes a
// backend and waits for it. Writes whose result nobody reads (an order's figures, the event
// record, the idempotency record) are marked by `deferred()` and, inside a transaction, held
// back until the transaction's next statement, then sent together as one statement (each as
// a data-modifying WITH query), before that statement. The parts of one statement do not
// see each other's rows, so an update of a table with a held write sends that write first. So a create-payment's order update,
// event and idempotency record travel as one statement before the commit. A held write's
// error surfaces from the statement it was sent before (the commit at the latest), which
// then fails the transaction as the write itself would have. A rollback drops held writes.
import type { CompiledQuery, PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

const MAX_NAMED = 500;
const DEFERRED = '/* om:deferred */ ';

/** Marks a compiled write as one whose result is not read: it may travel later (see above). */
export function deferred<R>(query: CompiledQuery<R>): CompiledQuery<R> {
  return { ...query, sql: DEFERRED + query.sql };
}

/** Sees every statement as it is sent (the benchmark replays them on the raw driver). */
export type SentStatement = (sql: string, parameters: readonly unknown[]) => void;

interface Held {
  text: string;
  values: unknown[];
}

const TRANSACTION_START = /^(begin|start transaction)\b/i;
const TRANSACTION_END = /^(commit|rollback|end|abort)\b/i;
const ROLLBACK = /^rollback\b/i;
const ROLLBACK_TO = /^rollback\s+to\b/i;
const UPDATED_TABLE = /^update\s+("[^"]+"|\S+)/i;
const INSERTED_TABLE = /^insert\s+into\s+("[^"]+"|[^\s(]+)/i;
const tableOf = (text: string) => UPDATED_TABLE.exec(text)?.[1] ?? INSERTED_TABLE.exec(text)?.[1];

/**
 * The held writes as one statement: all but the last as data-modifying WITH queries, their
 * placeholders renumbered after those of the writes before them. Kysely's PostgreSQL SQL
 * quotes identifiers and binds every value, so `$n` occurs only as a placeholder.
 */
function combine(held: Held[]): Held {
  if (held.length === 1) return held[0]!;
  let offset = 0;
  const texts = held.map(({ text, values }) => {
    const renumbered = text.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
    offset += values.length;
    return renumbered;
  });
  const last = texts.pop()!;
  return {
    text: `with ${texts.map((t, i) => `w${i} as (${t})`).join(', ')} ${last}`,
    values: held.flatMap((h) => h.values),
  };
}

export class NamedStatementPool implements PostgresPool {
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
    let held: Held[] = [];
    const send = (text: string, values: unknown[]) => {
      this.onSent?.(text, values);
      const name = values.length === 0 ? undefined : this.#nameOf(text);
      // Without values (begin, commit, savepoints) the simple protocol is one message.
      return name === undefined ? client.query(text, values) : client.query({ name, text, values });
    };
    const flush = async () => {
      if (held.length === 0) return;
      const { text, values } = combine(held);
      held = [];
      await send(text, values);
    };
    const query = async (text: string, values: unknown[]) => {
      if (text.startsWith(DEFERRED)) {
        const write = { text: text.slice(DEFERRED.length), values };
        // The parts of one statement all see the data as it was before it, so an update
        // would miss a held write to its table: send what is held first.
        const updated = UPDATED_TABLE.exec(write.text)?.[1];
        if (updated !== undefined && held.some((h) => tableOf(h.text) === updated)) await flush();
        if (inTransaction) {
          held.push(write);
          return { command: 'UPDATE', rowCount: 0, rows: [] };
        }
        return send(write.text, write.values);
      }
      // Transaction control never has values; statements with values skip the tests.
      const control = values.length === 0;
      if (control && ROLLBACK.test(text)) held = [];
      else if (held.length > 0) await flush();
      if (control && TRANSACTION_START.test(text)) inTransaction = true;
      else if (control && TRANSACTION_END.test(text) && !ROLLBACK_TO.test(text)) {
        inTransaction = false;
      }
      return send(text, values);
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
