// Named (server-side prepared) statements for Kysely's PostgreSQL dialect.
//
// Kysely hands pg each query as text + values, which pg sends as an unnamed statement:
// PostgreSQL parses and plans it again on every execution. Under load that was most of
// the backends' CPU, taken from the same cores the service runs on (docs/performance.md).
// Giving each distinct statement text a name makes pg parse it once per connection and
// afterwards only bind and execute it, like `pgbench --protocol=prepared`.
//
// The texts are Kysely's compiled SQL with placeholders, never values, so their number is
// bounded by the code — except for `in (...)` lists, whose length varies with the request.
// Past MAX_NAMED texts, statements go unnamed as before, so a connection never holds an
// unbounded number of prepared statements.
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

const MAX_NAMED = 500;

export class NamedStatementPool implements PostgresPool {
  readonly #pool: pg.Pool;
  readonly #names = new Map<string, string>();
  // One wrapper per pg client, so Kysely (which keys its connections by client) keeps one.
  readonly #clients = new WeakMap<pg.PoolClient, PostgresPoolClient>();

  constructor(
    pool: pg.Pool,
    readonly maxNamed = MAX_NAMED,
  ) {
    this.#pool = pool;
  }

  async connect(): Promise<PostgresPoolClient> {
    const client = await this.#pool.connect();
    let wrapped = this.#clients.get(client);
    if (wrapped === undefined) {
      wrapped = {
        // Kysely calls query(text, values) only: we pass no cursor constructor.
        query: ((text: string, values: unknown[]) => {
          const name = values.length === 0 ? undefined : this.#nameOf(text);
          // Without values (begin, commit, savepoints) the simple protocol is one message.
          return name === undefined
            ? client.query(text, values)
            : client.query({ name, text, values });
        }) as unknown as PostgresPoolClient['query'],
        release: (destroy?: boolean) => client.release(destroy),
      };
      this.#clients.set(client, wrapped);
    }
    return wrapped;
  }

  end(): Promise<void> {
    return this.#pool.end();
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
