// Queries built and compiled by Kysely once, then only given new values.
//
// Kysely builds an operation tree and compiles it to SQL on every execution: under load that
// was ~19 % of the server's CPU (docs/performance.md), for statements whose text never
// changes. `prepared(build)` runs `build` once per dialect with placeholder objects in place
// of its arguments, compiles it, notes where each placeholder landed among the parameters,
// and from then on executes that SQL with the real values in those places.
//
// Rules for `build`: its arguments may only be passed into value positions (`where(col, '=',
// x)`, `values(row)`, `set(patch)`); it must not look at them (a branch on a value would be
// taken once, for the placeholder). An argument that is a plain object (a row for `values`,
// a patch for `set`) gets a placeholder per key whose value is not undefined, and its set of
// keys is part of the cache key, so rows of another shape get a query of their own.
import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import { deferred } from './pg-pool.ts';
import type { DB } from './schema.ts';

/** Stands for argument `arg` (or its field `key`) in the query being built. */
class Placeholder {
  constructor(
    readonly arg: number,
    readonly key?: string,
  ) {}
}

interface Template {
  compiled: CompiledQuery;
  /** Per parameter: where its value comes from, or the constant Kysely put there. */
  sources: ({ arg: number; key?: string } | { value: unknown })[];
}

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && Object.getPrototypeOf(x) === Object.prototype;

function definedKeys(record: Record<string, unknown>): string[] {
  return Object.keys(record).filter((k) => record[k] !== undefined);
}

export function prepared<Args extends unknown[], R>(
  // A query builder, or (for raw `sql`, which compiles against a database) a compiled query.
  build: (db: Kysely<DB>, ...args: Args) => Compilable<R> | CompiledQuery<R>,
  options: {
    /**
     * A write whose result the caller never reads: on PostgreSQL it may travel with the
     * transaction's next statement (src/db/pg-pool.ts). Its errors then surface
     * there; only for writes no caller handles an error of.
     */
    deferred?: boolean;
  } = {},
): Prepared<Args, R> {
  // Keyed by the dialect's adapter, which a database and its transactions share.
  const byDialect = new WeakMap<object, Map<string, Template>>();

  const shapeOf = (args: unknown[]): string => {
    let shape = '';
    for (const a of args) {
      if (Array.isArray(a)) throw new TypeError('prepared queries take no arrays');
      shape += isRecord(a) ? `${definedKeys(a).join(',')}|` : '|';
    }
    return shape;
  };

  const templateFor = (db: Kysely<DB>, args: unknown[], shape: string): Template => {
    const adapter = db.getExecutor().adapter;
    let templates = byDialect.get(adapter);
    if (templates === undefined) byDialect.set(adapter, (templates = new Map<string, Template>()));
    let template = templates.get(shape);
    if (template === undefined) {
      const placeholders = args.map((a, i) =>
        isRecord(a)
          ? Object.fromEntries(definedKeys(a).map((k) => [k, new Placeholder(i, k)]))
          : new Placeholder(i),
      ) as Args;
      const built = build(db, ...placeholders);
      const compiledNow = 'compile' in built ? built.compile() : built;
      const compiled = options.deferred ? deferred(compiledNow) : compiledNow;
      template = {
        compiled,
        sources: compiled.parameters.map((p) =>
          p instanceof Placeholder
            ? p.key === undefined
              ? { arg: p.arg }
              : { arg: p.arg, key: p.key }
            : { value: p },
        ),
      };
      templates.set(shape, template);
    }
    return template;
  };

  const compile = (db: Kysely<DB>, ...args: Args): CompiledQuery<R> => {
    const { compiled, sources } = templateFor(db, args, shapeOf(args));
    const parameters = sources.map((s) => {
      if ('value' in s) return s.value;
      const a = args[s.arg];
      return s.key === undefined ? a : (a as Record<string, unknown>)[s.key];
    });
    return { ...compiled, parameters };
  };
  return Object.assign(
    (db: Kysely<DB>, ...args: Args) => db.executeQuery<R>(compile(db, ...args)),
    { compile },
  );
}

/**
 * A prepared query: called, it runs; `compile` gives the bound statement without running it,
 * for `together` (src/db/together.ts) to send with others in one round trip.
 */
export interface Prepared<Args extends unknown[], R> {
  (db: Kysely<DB>, ...args: Args): Promise<QueryResult<R>>;
  compile(this: void, db: Kysely<DB>, ...args: Args): CompiledQuery<R>;
}
