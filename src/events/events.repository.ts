// The event log (API.md §7). Appended in the same transaction as the change it records;
// payment history, the feed and webhooks all read these rows.
import { PostgresAdapter, sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import { fixedChunks } from '../db/chunks.ts';
import { noteEvent } from '../db/commit-notes.ts';
import type { Database } from '../db/engine.ts';
import { prepared } from '../db/prepared.ts';
import type { DB, EventsTable } from '../db/schema.ts';
import { invalidParameter } from '../errors.ts';
import type { RequestContext } from '../shared/context.ts';
import { newId } from '../shared/ids.ts';

export type EntityType = 'order' | 'payment' | 'invoice' | 'payment-method' | 'webhook-endpoint';

export type Changes = Record<string, { before: unknown; after: unknown }>;

export interface NewEvent {
  /** e.g. `order.created`, `invoice.closed`, `payment.corrected`. */
  type: string;
  entityType: EntityType;
  entityId: string;
  /** The object after the change, as the API shows it. */
  data: unknown;
  changes?: Changes | undefined;
  at: string;
}

/** Who an event is by: a request's caller, or the service itself (the webhook worker). */
export type EventAuthor = Pick<RequestContext, 'principal' | 'via' | 'requestId'> & {
  organization: { id: string };
};

export async function appendEvent(
  db: Kysely<DB>,
  ctx: EventAuthor,
  event: NewEvent,
): Promise<string> {
  const id = newId();
  // Readers waiting on the feed and the webhook worker hear of it once it commits.
  noteEvent(db, ctx.organization.id);
  await insertEvent(db, {
    organization_id: ctx.organization.id,
    id,
    type: event.type,
    entity_type: event.entityType,
    entity_id: event.entityId,
    data: JSON.stringify(event.data),
    changes: event.changes === undefined ? null : JSON.stringify(event.changes),
    actor_by: ctx.principal,
    actor_via: ctx.via,
    request_id: ctx.requestId,
    created_at: event.at,
  });
  return id;
}

// Every write appends one, and nothing reads the insert's result: on PostgreSQL it travels
// with the transaction's next statement (src/db/pg-pool.ts).
const insertEvent = prepared(
  (db: Kysely<DB>, row: Insertable<EventsTable>) => db.insertInto('events').values(row),
  { deferred: true },
);

/** The fields whose values differ between two versions of an object. */
export function diff(before: object, after: object): Changes {
  const b = before as Record<string, unknown>;
  const a = after as Record<string, unknown>;
  const changes: Changes = {};
  for (const key of Object.keys(a)) {
    if (JSON.stringify(b[key]) !== JSON.stringify(a[key])) {
      changes[key] = { before: b[key] ?? null, after: a[key] ?? null };
    }
  }
  return changes;
}

export interface EventRecord {
  id: string;
  type: string;
  entityType: string;
  entityId: string;
  data: unknown;
  changes: Changes | null;
  by: string;
  via: string;
  requestId: string;
  createdAt: string;
}

/** Events of one entity, oldest first. */
export async function eventsOf(
  db: Kysely<DB>,
  organizationId: string,
  entityId: string,
): Promise<EventRecord[]> {
  const rows = await db
    .selectFrom('events')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('entity_id', '=', entityId)
    .orderBy('id', 'asc')
    .execute();
  return rows.map(toEventRecord);
}

/** The events among `ids` of one organization (the webhook worker's bodies). */
export async function eventsByIds(
  db: Kysely<DB>,
  organizationId: string,
  ids: readonly string[],
): Promise<EventRecord[]> {
  const records: EventRecord[] = [];
  // Chunks of fixed sizes: each statement text is prepared once (src/db/chunks.ts).
  for (const chunk of fixedChunks(ids, 256)) {
    const rows = await db
      .selectFrom('events')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('id', 'in', chunk)
      .execute();
    for (const row of rows) records.push(toEventRecord(row));
  }
  return records;
}

/** An event as the feed, history and webhooks show it (API.md §7). */
export function toEventRecord(r: Selectable<EventsTable>): EventRecord {
  return {
    id: r.id,
    type: r.type,
    entityType: r.entity_type,
    entityId: r.entity_id,
    data: JSON.parse(r.data) as unknown,
    changes: r.changes === null ? null : (JSON.parse(r.changes) as Changes),
    by: r.actor_by,
    via: r.actor_via,
    requestId: r.request_id,
    createdAt: r.created_at,
  };
}

// ---- The feed (API.md §7.1) ----------------------------------------------------------------

/**
 * A place in an organization's feed: after the event of transaction `xact` (PostgreSQL's
 * xid8 as decimal text; always "0" on SQLite) and sequence `seq` (migration 0010).
 */
export interface FeedPosition {
  xact: string;
  seq: number;
}

export const FEED_START: FeedPosition = { xact: '0', seq: 0 };
const CURSOR_TAG = 'e1';

export function encodeFeedCursor(position: FeedPosition): string {
  return Buffer.from(JSON.stringify([CURSOR_TAG, position.xact, position.seq])).toString(
    'base64url',
  );
}

/** The position a cursor of this feed names; anything else is InvalidParameter. */
export function decodeFeedCursor(cursor: string, field = 'after'): FeedPosition {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 3 &&
      value[0] === CURSOR_TAG &&
      typeof value[1] === 'string' &&
      /^(0|[1-9][0-9]{0,19})$/.test(value[1]) &&
      BigInt(value[1]) < 2n ** 63n &&
      Number.isSafeInteger(value[2]) &&
      (value[2] as number) >= 0
    ) {
      return { xact: value[1], seq: value[2] as number };
    }
  } catch {
    // fall through: any undecodable cursor is the same client error
  }
  throw invalidParameter(field, 'not a cursor returned by the events feed');
}

export interface FeedFilter {
  /** An exact type, or a prefix ending in `.`. */
  type?: string | undefined;
  entityId?: string | undefined;
}

export interface FeedRow {
  event: EventRecord;
  position: FeedPosition;
}

/**
 * Events of one organization strictly after `after`, in feed order, at most `limit`: only
 * those no transaction still running can precede (see migration 0010). The same function
 * serves the feed and the webhook fan-out, on both engines.
 */
export async function readFeed(
  db: Kysely<DB>,
  organizationId: string,
  after: FeedPosition,
  limit: number,
  filter: FeedFilter = {},
): Promise<FeedRow[]> {
  const postgres = isPostgresDb(db);
  let query = db.selectFrom('events').selectAll().where('organization_id', '=', organizationId);
  query = postgres
    ? query
        .where(sql<boolean>`(xact, seq) > (${after.xact}::xid8, ${after.seq})`)
        .where(sql<boolean>`xact < pg_snapshot_xmin(pg_current_snapshot())`)
    : query.where('seq', '>', after.seq);
  if (filter.type !== undefined) {
    query = filter.type.endsWith('.')
      ? query.where(sql<boolean>`substr(type, 1, ${filter.type.length}) = ${filter.type}`)
      : query.where('type', '=', filter.type);
  }
  if (filter.entityId !== undefined) query = query.where('entity_id', '=', filter.entityId);
  const rows = await (postgres ? query.orderBy('xact').orderBy('seq') : query.orderBy('seq'))
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    event: toEventRecord(r),
    position: { xact: String(r.xact), seq: Number(r.seq) },
  }));
}

/**
 * A position at or before every event that can still become visible, and after none that
 * is visible and older: where a new follower (a webhook endpoint's fan-out) starts. On
 * PostgreSQL, before the oldest running transaction; on SQLite, after the newest event.
 */
export async function feedFrontier(db: Kysely<DB>): Promise<FeedPosition> {
  if (isPostgresDb(db)) {
    const row = await sql<{
      xact: string;
    }>`select (pg_snapshot_xmin(pg_current_snapshot())::text::numeric - 1)::text as xact`.execute(
      db,
    );
    return { xact: row.rows[0]!.xact, seq: Number.MAX_SAFE_INTEGER };
  }
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .executeTakeFirst();
  return { xact: '0', seq: Number(row?.seq ?? 0) };
}

function isPostgresDb(db: Kysely<DB>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

// ---- Retention (API.md §7: EVENT_RETENTION_DAYS) -------------------------------------------

/** Events forgotten per statement: small, so writers wait at most a few ms (as idempotency). */
const PURGE_BATCH = 500;

/**
 * Forgets events older than the retention, per organization, oldest first in feed order, a
 * batch per transaction; stops between batches once `signal` is aborted. The newest event
 * of all is always kept, so SQLite never hands its sequence number out again. Payment
 * history reads what is left.
 */
export async function purgeEvents(
  database: Database,
  retentionDays: number,
  { batch = PURGE_BATCH, signal }: { batch?: number; signal?: AbortSignal } = {},
): Promise<number> {
  const cutoff = new Date(Date.now() - retentionDays * 86_400_000).toISOString();
  const orgs = await database.db.selectFrom('organizations').select('id').execute();
  let forgotten = 0;
  for (const { id: organizationId } of orgs) {
    while (signal?.aborted !== true) {
      const result = await database.transaction((tx) =>
        purgeBatch(tx, organizationId, cutoff, batch),
      );
      const deleted = Number(result.numDeletedRows);
      forgotten += deleted;
      if (deleted < batch) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return forgotten;
}

// The organization's first `batch` events in feed order, of which those past the cutoff go:
// the walk stops at the first kept event instead of reading every kept one.
function purgeBatch(tx: Kysely<DB>, organizationId: string, cutoff: string, batch: number) {
  const query = tx.deleteFrom('events').where('organization_id', '=', organizationId);
  if (isPostgresDb(tx)) {
    // `= any(array(…))`: looked up by primary key; with `in (…)` the planner may hash-join
    // the whole table against the batch (measured: a sequential scan of every event).
    const first = tx
      .selectFrom('events')
      .select('id')
      .where('organization_id', '=', organizationId)
      .orderBy('xact')
      .orderBy('seq')
      .limit(batch);
    return query
      .where(sql<boolean>`id = any(array(${first}))`)
      .where('created_at', '<', cutoff)
      .executeTakeFirst();
  }
  return query
    .where('created_at', '<', cutoff)
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('events')
        .select('id')
        .where('organization_id', '=', organizationId)
        .where('seq', '<', sql<number>`(select max(seq) from events)`)
        .orderBy('seq')
        .limit(batch),
    )
    .executeTakeFirst();
}
