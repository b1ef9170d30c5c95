// SQL of webhook endpoints, deliveries and the fan-out cursor; organization id first.
import { sql, type Insertable, type Kysely, type Selectable, type Updateable } from 'kysely';
import { fixedChunks } from '../db/chunks.ts';
import { newestFirst, type PageCursor } from '../db/pagination.ts';
import { withRowLock } from '../db/row-lock.ts';
import type {
  DB,
  DeliveryStatus,
  WebhookDeliveriesTable,
  WebhookEndpointsTable,
} from '../db/schema.ts';
import type { FeedPosition } from '../events/events.repository.ts';

export type EndpointRow = Selectable<WebhookEndpointsTable>;
export type DeliveryRow = Selectable<WebhookDeliveriesTable>;

export async function insertEndpoint(db: Kysely<DB>, row: Insertable<WebhookEndpointsTable>) {
  await db.insertInto('webhook_endpoints').values(row).execute();
}

export function findEndpoint(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
): Promise<EndpointRow | undefined> {
  return db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .executeTakeFirst();
}

/** The endpoint, locked until the transaction ends (PostgreSQL; SQLite holds its write lock). */
export function lockEndpoint(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
): Promise<EndpointRow | undefined> {
  return withRowLock(
    db,
    db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('id', '=', id),
    'update',
  ).executeTakeFirst();
}

export function listEndpoints(
  db: Kysely<DB>,
  organizationId: string,
  page: { limit: number; cursor: PageCursor | undefined },
): Promise<EndpointRow[]> {
  return newestFirst(
    db.selectFrom('webhook_endpoints').selectAll().where('organization_id', '=', organizationId),
    page,
  ).execute();
}

export function enabledEndpoints(db: Kysely<DB>, organizationId: string): Promise<EndpointRow[]> {
  return db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('enabled', '=', 1)
    .execute();
}

/** The ids of the organization's endpoints, enabled or not. */
export async function endpointIds(db: Kysely<DB>, organizationId: string): Promise<Set<string>> {
  const rows = await db
    .selectFrom('webhook_endpoints')
    .select('id')
    .where('organization_id', '=', organizationId)
    .execute();
  return new Set(rows.map((r) => r.id));
}

export async function updateEndpoint(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
  patch: Updateable<WebhookEndpointsTable>,
): Promise<void> {
  await db
    .updateTable('webhook_endpoints')
    .set(patch)
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .execute();
}

export async function deleteEndpoint(db: Kysely<DB>, organizationId: string, id: string) {
  await db
    .deleteFrom('webhook_deliveries')
    .where('organization_id', '=', organizationId)
    .where('endpoint_id', '=', id)
    .execute();
  await db
    .deleteFrom('webhook_endpoints')
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .execute();
}

// ---- Deliveries ----------------------------------------------------------------------------

export async function insertDeliveries(
  db: Kysely<DB>,
  rows: Insertable<WebhookDeliveriesTable>[],
): Promise<void> {
  // A statement's parameters are bounded (SQLite: 32766); 12 columns × 256 rows stays well
  // under. Chunks of fixed sizes: each statement text is prepared once (src/db/chunks.ts).
  for (const chunk of fixedChunks(rows, 256))
    await db.insertInto('webhook_deliveries').values(chunk).execute();
}

export function listDeliveries(
  db: Kysely<DB>,
  organizationId: string,
  endpointId: string,
  status: DeliveryStatus | undefined,
  page: { limit: number; cursor: PageCursor | undefined },
): Promise<DeliveryRow[]> {
  let q = db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('endpoint_id', '=', endpointId);
  if (status !== undefined) q = q.where('status', '=', status);
  return newestFirst(q, page).execute();
}

/** Schedules an attempt of one delivery of one endpoint now; answers whether it exists. */
export async function retryDelivery(
  db: Kysely<DB>,
  organizationId: string,
  endpointId: string,
  id: string,
  now: string,
): Promise<boolean> {
  const result = await db
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', next_attempt_at: now })
    .where('organization_id', '=', organizationId)
    .where('endpoint_id', '=', endpointId)
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Whether any delivery to an enabled endpoint is due at `now` (a read: no write lock). */
export async function anyDue(db: Kysely<DB>, now: string): Promise<boolean> {
  const row = await dueQuery(db, now).select('d.id').limit(1).executeTakeFirst();
  return row !== undefined;
}

/** Pending deliveries to enabled endpoints (a disabled endpoint's wait until it is enabled). */
const pendingQuery = (db: Kysely<DB>) =>
  db
    .selectFrom('webhook_deliveries as d')
    .where('d.status', '=', 'pending')
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('webhook_endpoints as e')
          .select('e.id')
          .whereRef('e.organization_id', '=', 'd.organization_id')
          .whereRef('e.id', '=', 'd.endpoint_id')
          .where('e.enabled', '=', 1),
      ),
    );

const dueQuery = (db: Kysely<DB>, now: string) =>
  pendingQuery(db).where('d.next_attempt_at', '<=', now);

/**
 * Pending deliveries to enabled endpoints, at most `cap` of them looked at, and how many of
 * those are due at `now` (the /metrics backlog). It walks the claim's partial index
 * (webhook_deliveries_due: pending rows only) and an endpoint's primary key per row, so it
 * costs the backlog, capped, never the table's history.
 */
export async function countPending(
  db: Kysely<DB>,
  now: string,
  cap: number,
): Promise<{ pending: number; due: number }> {
  const rows = await db
    .selectFrom(
      // Soonest first (the index's order): past the cap, due ones are counted before the rest.
      pendingQuery(db).select('d.next_attempt_at').orderBy('d.next_attempt_at').limit(cap).as('p'),
    )
    .select((eb) => [
      eb.fn.countAll<number | string | bigint>().as('pending'),
      eb.fn
        .sum<number | string | bigint | null>(
          eb.case().when('p.next_attempt_at', '<=', now).then(1).else(0).end(),
        )
        .as('due'),
    ])
    .executeTakeFirst();
  return { pending: Number(rows?.pending ?? 0), due: Number(rows?.due ?? 0) };
}

/** An endpoint, by organization: how the worker names one it holds attempts to. */
export interface EndpointKey {
  organizationId: string;
  endpointId: string;
}

/**
 * Up to `limit` due deliveries, soonest first, none to the endpoints in `except` (those the
 * worker holds as many attempts to as it may). On PostgreSQL they are locked for the claim,
 * and rows another worker is claiming right now are skipped, not waited for.
 */
export function dueDeliveries(
  db: Kysely<DB>,
  now: string,
  limit: number,
  except: readonly EndpointKey[],
): Promise<DeliveryRow[]> {
  let query = dueQuery(db, now).selectAll('d').orderBy('d.next_attempt_at').limit(limit);
  if (except.length > 0)
    query = query.where((eb) =>
      eb.not(
        eb(
          eb.refTuple('d.organization_id', 'd.endpoint_id'),
          'in',
          except.map((k) => eb.tuple(k.organizationId, k.endpointId)),
        ),
      ),
    );
  return withRowLock(db, query, 'update', { skipLocked: true }).execute();
}

/**
 * Claims `rows` (read by dueDeliveries in this transaction) until `leaseUntil`: their
 * `next_attempt_at` becomes the claim's end, so no other worker takes them meanwhile and a
 * killed worker's claims come due again when it ends. Answers them as claimed.
 */
export async function claimDeliveries(
  db: Kysely<DB>,
  rows: readonly DeliveryRow[],
  leaseUntil: string,
): Promise<DeliveryRow[]> {
  for (const chunk of fixedChunks(rows, 256))
    await db
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: leaseUntil })
      .where((eb) =>
        eb(
          eb.refTuple('organization_id', 'id'),
          'in',
          chunk.map((d) => eb.tuple(d.organization_id, d.id)),
        ),
      )
      .execute();
  return rows.map((d) => ({ ...d, next_attempt_at: leaseUntil }));
}

export interface AttemptRecord {
  status: DeliveryStatus;
  at: string;
  statusCode: number | null;
  error: string | null;
  nextAttemptAt: string | null;
}

/** Outcomes per statement at most: 8 parameters each, well under either engine's bound. */
const RECORD_CHUNK = 256;

/**
 * Records attempts' outcomes, each only if its claim (`delivery.next_attempt_at` as claimed)
 * is still this worker's; answers the ids recorded. One statement for many outcomes: the
 * worker records what ended in one turn of the event loop together, and a statement per
 * outcome was most of what recording cost (docs/events.md "Measured"). `(values …) as v`
 * names its columns column1…column8 on both engines.
 */
export async function recordAttempts(
  db: Kysely<DB>,
  items: readonly { delivery: DeliveryRow; outcome: AttemptRecord }[],
): Promise<Set<string>> {
  const recorded = new Set<string>();
  for (const chunk of fixedChunks(items, RECORD_CHUNK)) {
    const values = sql.join(
      chunk.map(
        ({ delivery: d, outcome: o }) =>
          sql`(${d.organization_id}, ${d.id}, ${d.next_attempt_at}, ${o.status}, ${o.at}, cast(${o.statusCode} as integer), ${o.error}, ${o.nextAttemptAt})`,
      ),
    );
    const result = await sql<{ id: string }>`
      update webhook_deliveries
      set status = v.column4, attempts = attempts + 1, last_attempt_at = v.column5,
        last_status_code = v.column6, last_error = v.column7, next_attempt_at = v.column8
      from (values ${values}) as v
      where webhook_deliveries.organization_id = v.column1 and webhook_deliveries.id = v.column2
        and webhook_deliveries.status = 'pending' and webhook_deliveries.next_attempt_at = v.column3
      returning webhook_deliveries.id`.execute(db);
    for (const row of result.rows) recorded.add(row.id);
  }
  return recorded;
}

/** Gives a claim back (the service is closing mid-attempt): due again at once. */
export async function releaseClaim(db: Kysely<DB>, delivery: DeliveryRow, now: string) {
  await db
    .updateTable('webhook_deliveries')
    .set({ next_attempt_at: now })
    .where('organization_id', '=', delivery.organization_id)
    .where('id', '=', delivery.id)
    .where('status', '=', 'pending')
    .where('next_attempt_at', '=', delivery.next_attempt_at)
    .execute();
}

// ---- Fan-out cursor ------------------------------------------------------------------------

/** Starts following an organization's feed at `from`, unless it is followed already. */
export async function followFeed(db: Kysely<DB>, organizationId: string, from: FeedPosition) {
  await db
    .insertInto('webhook_fanout')
    .values({ organization_id: organizationId, xact: from.xact, seq: from.seq })
    .onConflict((oc) => oc.column('organization_id').doNothing())
    .execute();
}

/** A fan-out row's position (`seq` may come back as a string: bigint on PostgreSQL). */
const positionOf = (row: { xact: string; seq: number | string }): FeedPosition => ({
  xact: String(row.xact),
  seq: Number(row.seq),
});

/** Where fan-out stands in an organization's feed, or undefined when it is not followed. */
export async function followedFeed(
  db: Kysely<DB>,
  organizationId: string,
): Promise<FeedPosition | undefined> {
  const row = await db
    .selectFrom('webhook_fanout')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .executeTakeFirst();
  return row && positionOf(row);
}

/** Every followed organization and where its fan-out stands. */
export async function followedFeeds(db: Kysely<DB>): Promise<Map<string, FeedPosition>> {
  const rows = await db.selectFrom('webhook_fanout').selectAll().execute();
  return new Map(rows.map((r) => [r.organization_id, positionOf(r)]));
}

/** Where an organization's fan-out stands, and until when a worker attempts past it. */
export interface Fanout {
  position: FeedPosition;
  leaseUntil: string | null;
}

/** The organization's fan-out, locked; undefined when another worker holds the lock. */
export async function lockFanout(
  db: Kysely<DB>,
  organizationId: string,
): Promise<Fanout | undefined> {
  const row = await withRowLock(
    db,
    db.selectFrom('webhook_fanout').selectAll().where('organization_id', '=', organizationId),
    'update',
    { skipLocked: true },
  ).executeTakeFirst();
  return (
    row && {
      position: positionOf(row),
      leaseUntil: row.lease_until,
    }
  );
}

/** Leases the range after the (locked) position to this worker until `until`. */
export async function leaseFanout(db: Kysely<DB>, organizationId: string, until: string) {
  await db
    .updateTable('webhook_fanout')
    .set({ lease_until: until })
    .where('organization_id', '=', organizationId)
    .execute();
}

/**
 * Moves the position to `to`. With `lease`: only while that lease is still the row's, which
 * it ends; answers whether it did (false: the lease ran out and another worker took over).
 */
export async function moveFanout(
  db: Kysely<DB>,
  organizationId: string,
  to: FeedPosition,
  lease?: string,
): Promise<boolean> {
  let update = db
    .updateTable('webhook_fanout')
    .set({ xact: to.xact, seq: to.seq, lease_until: null })
    .where('organization_id', '=', organizationId);
  if (lease !== undefined) update = update.where('lease_until', '=', lease);
  const result = await update.executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
