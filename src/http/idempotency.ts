// Idempotency-Key (API.md §5). A write carrying the header runs, with the record of its
// answer, in one database transaction: the effect and the stored response commit together,
// so a retry after a crash either finds both or neither. Same key, method, path and body →
// the stored answer again (`idempotent-replayed: true`); same key with anything else → 422;
// a repeat while the first still runs → 409. Functional (4xx) outcomes are stored; 5xx are
// not, so those can be retried.
import { createHash } from 'node:crypto';
import { setImmediate as letRequestsRun } from 'node:timers/promises';
import { brotliCompressSync, brotliDecompressSync, constants as zlib } from 'node:zlib';
import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { isUniqueViolation } from '../db/constraints.ts';
import { prepared } from '../db/prepared.ts';
import { withRowLock } from '../db/row-lock.ts';
import type { Database, Tx } from '../db/engine.ts';
import type { DB } from '../db/schema.ts';
import { AppError, invalidParameter } from '../errors.ts';
import { nowIso } from '../shared/ids.ts';
import { errorBody } from './error-handler.ts';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
const WRITES = new Set(['POST', 'PATCH', 'DELETE']);
const MAX_KEY_LENGTH = 255;

/** The record's own key refused it — not some unique constraint the effect ran into. */
function isKeyTaken(error: unknown): boolean {
  if (!isUniqueViolation(error)) return false;
  const { constraint, message } = error as { constraint?: unknown; message?: unknown };
  return (
    constraint === 'idempotency_keys_pk' ||
    (typeof message === 'string' && message.includes('idempotency_keys.scope'))
  );
}

interface Outcome {
  status: number;
  body: string;
  replayed: boolean;
}

type StoredAnswer = Selectable<DB['idempotency_keys']>;

/**
 * Answers from this many characters on are stored compressed. A confirm or delete answers
 * the order's whole payment list (~60 KB at 100 payments): as text it was most of the
 * request's database work and WAL volume (docs/performance.md); Brotli at its fastest level
 * shrinks it ~14× for ~60 µs. Short answers are not worth it.
 */
const COMPRESS_FROM_CHARS = 2048;

function encodeAnswer(body: string): Pick<StoredAnswer, 'response' | 'response_encoding'> {
  if (body.length < COMPRESS_FROM_CHARS) return { response: body, response_encoding: 'identity' };
  const packed = brotliCompressSync(body, {
    params: {
      [zlib.BROTLI_PARAM_QUALITY]: zlib.BROTLI_MIN_QUALITY,
      [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT,
      [zlib.BROTLI_PARAM_SIZE_HINT]: body.length,
    },
  });
  return { response: packed.toString('base64'), response_encoding: 'br' };
}

function decodeAnswer(stored: StoredAnswer): string {
  return stored.response_encoding === 'br'
    ? brotliDecompressSync(Buffer.from(stored.response, 'base64')).toString('utf8')
    : stored.response;
}

// Statements of every keyed write, compiled once (src/db/prepared.ts).
const selectAnswer = prepared((db: Kysely<DB>, scope: string, key: string) =>
  db.selectFrom('idempotency_keys').selectAll().where('scope', '=', scope).where('key', '=', key),
);
// PostgreSQL: the claim fails unless the key is free (migration 0006), so it is held and
// travels in front of the request's first statement (src/db/pg-pool.ts); a refusal stops
// that round trip before anything of the request runs, and fails the transaction with it.
const claimKey = prepared(
  (db: Kysely<DB>, lockName: string, scope: string, key: string) =>
    sql`select om_claim_idempotency_key(${lockName}, ${scope}, ${key})`.compile(db),
  { deferred: true },
);
// On PostgreSQL the record travels with the commit (src/db/pg-pool.ts), so a
// key that another request committed meanwhile fails the commit: see runIdempotently.
const insertAnswer = prepared(
  (db: Kysely<DB>, row: Insertable<DB['idempotency_keys']>) =>
    db.insertInto('idempotency_keys').values(row),
  { deferred: true },
);

/** The SQLSTATEs of om_claim_idempotency_key's refusals (migration 0006). */
const ANSWER_STORED = 'OMI01';
const KEY_IN_USE = 'OMI02';
const sqlState = (error: unknown) =>
  typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;

/**
 * Makes the key this request's, or answers why not. Only one request at a time may work
 * under a key: SQLite's IMMEDIATE transaction already holds the only write lock, so the
 * lookup is all there is to do (in-process, no round trip). PostgreSQL takes a
 * transaction-scoped advisory lock on the key, in a claim that travels with the request's
 * first statement and refuses a stored or held key (answered in runIdempotently's catch).
 * A stored answer replays whoever holds the lock, so concurrent repeats of a finished key
 * all get it.
 */
async function claim(
  database: Database,
  tx: Tx,
  scope: string,
  key: string,
): Promise<StoredAnswer | undefined> {
  if (database.engine !== 'postgres') return (await selectAnswer(tx, scope, key)).rows[0];
  await claimKey(tx, JSON.stringify([scope, key]), scope, key);
  return undefined;
}

/** The stored answer again (`idempotent-replayed`), or 422 for another request under the key. */
function replay(stored: StoredAnswer, fingerprint: string): Outcome {
  if (stored.fingerprint !== fingerprint) throw new AppError('IDEMPOTENCY_KEY_REUSED');
  return { status: stored.status_code, body: decodeAnswer(stored), replayed: true };
}

function fingerprintOf(request: FastifyRequest): string {
  return createHash('sha256')
    .update(JSON.stringify([request.method, request.url, request.body ?? null]))
    .digest('hex');
}

async function runIdempotently(
  database: Database,
  scope: string,
  key: string,
  request: FastifyRequest,
  reply: FastifyReply,
  handle: (scoped: Database) => Promise<unknown>,
): Promise<Outcome> {
  const fingerprint = fingerprintOf(request);
  try {
    // One transaction for the whole request: the handler's effect and the record of its
    // answer commit or roll back together.
    return await database.transaction(async (tx) => {
      const stored = await claim(database, tx, scope, key);
      if (stored !== undefined) return replay(stored, fingerprint);
      await database.savepoint(tx, 'effect');
      let status: number;
      let body: string;
      try {
        const result = await handle(database.within(tx));
        status = reply.statusCode;
        const serialized = reply.serialize(result);
        body =
          typeof serialized === 'string'
            ? serialized
            : Buffer.from(serialized as ArrayBuffer).toString('utf8');
      } catch (error) {
        // A functional refusal is an answer too: undo any partial effect, keep the answer.
        if (!(error instanceof AppError) || error.status >= 500) throw error;
        await database.rollbackTo(tx, 'effect');
        status = error.status;
        body = JSON.stringify(errorBody(request, error));
      }
      await insertAnswer(tx, {
        scope,
        key,
        fingerprint,
        status_code: status,
        ...encodeAnswer(body),
        created_at: nowIso(),
      });
      return { status, body, replayed: false };
    });
  } catch (error) {
    // PostgreSQL's claim refused the key; everything here rolled back. An answer stored
    // under it does not change any more (until purged), so it is read outside the
    // transaction; gone meanwhile, the key is free again and a retry runs it.
    const state = sqlState(error);
    if (state === ANSWER_STORED) {
      const stored = (await selectAnswer(database.db, scope, key)).rows[0];
      if (stored !== undefined) return replay(stored, fingerprint);
    }
    // A key in use by a running request; or, on PostgreSQL, the first request under the key
    // committed after this one's claim looked, and the record (sent with the commit) hit its
    // key. A retry gets the first one's answer.
    if (state === ANSWER_STORED || state === KEY_IN_USE || isKeyTaken(error)) {
      throw new AppError('IDEMPOTENCY_IN_PROGRESS');
    }
    throw error;
  }
}

/**
 * Wraps the handler of every POST, PATCH and DELETE route registered after this call (in
 * this plugin scope). `scopeOf` names whose keys they are: the organization, or the admin key.
 */
export function registerIdempotency(
  app: FastifyInstance,
  database: Database,
  scopeOf: (request: FastifyRequest) => string,
): void {
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.some((m) => WRITES.has(m))) return;
    const handler = route.handler as RouteHandlerMethod;
    // Documented (and length-checked) with the route's other headers.
    const headers = (route.schema?.headers ?? { type: 'object', properties: {} }) as {
      properties?: Record<string, unknown>;
    };
    route.schema = {
      ...route.schema,
      headers: {
        ...headers,
        properties: {
          ...headers.properties,
          [IDEMPOTENCY_HEADER]: {
            type: 'string',
            minLength: 1,
            maxLength: MAX_KEY_LENGTH,
            description: 'Makes the write safe to retry (API.md §5).',
          },
        },
      },
    };
    route.handler = async function (this: FastifyInstance, request, reply) {
      const key = request.headers[IDEMPOTENCY_HEADER];
      if (key === undefined) return handler.call(this, request, reply);
      if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
        throw invalidParameter('Idempotency-Key', `must be 1 to ${MAX_KEY_LENGTH} characters`);
      }
      const outcome = await runIdempotently(
        database,
        scopeOf(request),
        key,
        request,
        reply,
        (scoped) => {
          request.database = scoped;
          return Promise.resolve(handler.call(this, request, reply));
        },
      );
      reply.code(outcome.status).type('application/json; charset=utf-8');
      if (outcome.replayed) reply.header('idempotent-replayed', 'true');
      return reply.send(outcome.body);
    };
  });
}

/**
 * Keys forgotten per statement. One DELETE of everything expired held SQLite's thread (and so
 * every request) ~2.8 µs per key: a second for 360,000 keys, an hour of a busy chain's
 * writes when the purge ran hourly. A batch of 500 takes ~2–3 ms, and requests are answered
 * between batches (measured: docs/performance.md).
 */
const PURGE_BATCH = 500;

// The oldest expired keys, up to a batch; on PostgreSQL skipping keys another instance's
// purge is deleting right now, so purges never wait on each other.
const purgeBatch = (tx: Kysely<DB>, cutoff: string, batch: number) =>
  tx
    .deleteFrom('idempotency_keys')
    .where((eb) =>
      eb(
        eb.refTuple('scope', 'key'),
        'in',
        withRowLock(
          tx,
          eb
            .selectFrom('idempotency_keys')
            .select(['scope', 'key'])
            .where('created_at', '<', cutoff)
            .orderBy('created_at')
            .limit(batch),
          'update',
          { skipLocked: true },
        ).$asTuple('scope', 'key'),
      ),
    )
    .executeTakeFirst();

/**
 * Forgets keys older than the retention (API.md §5: kept at least 24 h), oldest first, a
 * batch per transaction, letting waiting requests run between batches; stops between
 * batches once `signal` is aborted (the server closing). Answers how many it forgot.
 */
export async function purgeIdempotencyKeys(
  database: Database,
  retentionHours: number,
  { batch = PURGE_BATCH, signal }: { batch?: number; signal?: AbortSignal } = {},
): Promise<number> {
  const cutoff = new Date(Date.now() - retentionHours * 3_600_000).toISOString();
  let forgotten = 0;
  while (signal?.aborted !== true) {
    const result = await database.transaction((tx) => purgeBatch(tx, cutoff, batch));
    const deleted = Number(result.numDeletedRows);
    forgotten += deleted;
    if (deleted < batch) break;
    await letRequestsRun();
  }
  return forgotten;
}
