// The event log (API.md §7). Appended in the same transaction as the change it records;
// payment history, the feed and webhooks all read these rows.
import type { Insertable, Kysely } from 'kysely';
import { prepared } from '../db/prepared.ts';
import type { DB, EventsTable } from '../db/schema.ts';
import type { RequestContext } from '../shared/context.ts';
import { newId } from '../shared/ids.ts';

export type EntityType = 'order' | 'payment' | 'invoice' | 'payment-method';

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

export async function appendEvent(
  db: Kysely<DB>,
  ctx: RequestContext,
  event: NewEvent,
): Promise<string> {
  const id = newId();
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
  return rows.map((r) => ({
    id: r.id,
    type: r.type,
    entityId: r.entity_id,
    data: JSON.parse(r.data) as unknown,
    changes: r.changes === null ? null : (JSON.parse(r.changes) as Changes),
    by: r.actor_by,
    via: r.actor_via,
    requestId: r.request_id,
    createdAt: r.created_at,
  }));
}
