// Webhook endpoints (API.md §7.2): admin role only, per organization. Each change appends a
// `webhook-endpoint.*` event in its transaction. The secret is answered only at creation and
// rotation; deliveries are made by the worker (webhooks.worker.ts).
import type { WebhookConfig } from '../config.ts';
import { noteEvent } from '../db/commit-notes.ts';
import type { Database } from '../db/engine.ts';
import { decodeCursor, toPage } from '../db/pagination.ts';
import type { DeliveryStatus } from '../db/schema.ts';
import { AppError, invalidParameter } from '../errors.ts';
import { appendEvent, diff, feedFrontier, type EventRecord } from '../events/events.repository.ts';
import { auditOf, createdBy, updatedBy, type AuditFields } from '../shared/audit.ts';
import type { RequestContext } from '../shared/context.ts';
import { newId, nowIso } from '../shared/ids.ts';
import { requireRole } from '../shared/roles.ts';
import { checkedAddresses, TargetRefused } from './webhooks.delivery.ts';
import * as repo from './webhooks.repository.ts';
import {
  MAX_DESCRIPTION,
  PREVIOUS_SECRET_MS,
  eventPatternsProblem,
  newSecret,
  urlProblem,
} from './webhooks.rules.ts';

export interface WebhookEndpoint extends AuditFields {
  id: string;
  url: string;
  /** Exact types and `prefix.*` patterns; null = every event. */
  events: string[] | null;
  description: string | null;
  enabled: boolean;
  /** Since when every attempt has failed; null while deliveries succeed. */
  failingSince: string | null;
}

export function toEndpoint(row: repo.EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    events: row.events === null ? null : (JSON.parse(row.events) as string[]),
    description: row.description,
    enabled: row.enabled === 1,
    failingSince: row.failing_since,
    ...auditOf(row),
  };
}

export interface Delivery {
  id: string;
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  lastAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  createdAt: string;
}

function toDelivery(row: repo.DeliveryRow): Delivery {
  return {
    id: row.id,
    eventId: row.event_id,
    eventType: row.event_type,
    status: row.status,
    attempts: Number(row.attempts),
    lastAttemptAt: row.last_attempt_at,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    // Not due while succeeded or failed, whatever the column last held.
    nextAttemptAt: row.status === 'pending' ? row.next_attempt_at : null,
    createdAt: row.created_at,
  };
}

/** URL rules of API.md §7.2, checked at creation and change (and again at each delivery). */
async function checkUrl(config: WebhookConfig, url: string): Promise<void> {
  const problem = urlProblem(url, config.allowHttp);
  if (problem !== null) throw invalidParameter('url', problem);
  try {
    await checkedAddresses(new URL(url), config.allowPrivate);
  } catch (error) {
    if (error instanceof TargetRefused) throw invalidParameter('url', error.message);
    // A name that does not resolve now cannot be judged now: it is judged at every delivery,
    // which refuses it then if it resolves to a non-public address.
  }
}

function checkEvents(events: string[] | null | undefined): string | null {
  if (events === undefined || events === null) return null;
  const problem = eventPatternsProblem(events);
  if (problem !== null) throw invalidParameter('events', problem);
  return JSON.stringify([...new Set(events)]);
}

function checkDescription(description: string | null | undefined): string | null {
  if (description === undefined || description === null) return null;
  if (description.length > MAX_DESCRIPTION)
    throw invalidParameter('description', `at most ${MAX_DESCRIPTION} characters`);
  return description;
}

export interface CreateEndpointInput {
  url: string;
  events?: string[] | null | undefined;
  description?: string | null | undefined;
  enabled?: boolean | undefined;
}

export async function createEndpoint(
  database: Database,
  ctx: RequestContext,
  config: WebhookConfig,
  input: CreateEndpointInput,
): Promise<{ id: string; secret: string }> {
  requireRole(ctx, 'admin');
  await checkUrl(config, input.url);
  const events = checkEvents(input.events);
  const description = checkDescription(input.description);
  const id = newId();
  const secret = newSecret();
  const at = nowIso();
  return database.transaction(async (tx) => {
    const row: repo.EndpointRow = {
      organization_id: ctx.organization.id,
      id,
      url: input.url,
      events,
      description,
      enabled: input.enabled === false ? 0 : 1,
      secret,
      previous_secret: null,
      previous_secret_expires_at: null,
      failing_since: null,
      ...createdBy(ctx, at),
    };
    await repo.insertEndpoint(tx, row);
    // From here on the worker fans this organization's events out (a no-op if it does).
    await repo.followFeed(tx, ctx.organization.id, await feedFrontier(tx));
    await appendEvent(tx, ctx, {
      type: 'webhook-endpoint.created',
      entityType: 'webhook-endpoint',
      entityId: id,
      data: toEndpoint(row),
      at,
    });
    return { id, secret };
  });
}

export async function listEndpoints(
  database: Database,
  ctx: RequestContext,
  input: { limit: number; cursor?: string | undefined },
): Promise<{ items: WebhookEndpoint[]; next: string | null }> {
  requireRole(ctx, 'admin');
  const rows = await repo.listEndpoints(database.db, ctx.organization.id, {
    limit: input.limit,
    cursor: decodeCursor(input.cursor),
  });
  const page = toPage(rows, input.limit);
  return { items: page.rows.map(toEndpoint), next: page.next };
}

export async function getEndpoint(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<WebhookEndpoint> {
  requireRole(ctx, 'admin');
  const row = await repo.findEndpoint(database.db, ctx.organization.id, id);
  if (row === undefined) throw new AppError('NOT_FOUND');
  return toEndpoint(row);
}

export interface UpdateEndpointInput {
  url?: string | undefined;
  events?: string[] | null | undefined;
  description?: string | null | undefined;
  enabled?: boolean | undefined;
}

export async function updateEndpoint(
  database: Database,
  ctx: RequestContext,
  config: WebhookConfig,
  id: string,
  input: UpdateEndpointInput,
): Promise<void> {
  requireRole(ctx, 'admin');
  if (input.url !== undefined) await checkUrl(config, input.url);
  const events = input.events === undefined ? undefined : checkEvents(input.events);
  const description =
    input.description === undefined ? undefined : checkDescription(input.description);
  await database.transaction(async (tx) => {
    const before = await repo.lockEndpoint(tx, ctx.organization.id, id);
    if (before === undefined) throw new AppError('NOT_FOUND');
    const at = nowIso();
    const enabled = input.enabled === undefined ? undefined : input.enabled ? 1 : 0;
    const patch = {
      ...(input.url !== undefined && { url: input.url }),
      ...(events !== undefined && { events }),
      ...(description !== undefined && { description }),
      ...(enabled !== undefined && { enabled }),
      // Turned on again: the 5 days of failure start over.
      ...(enabled === 1 && before.enabled === 0 && { failing_since: null }),
      ...updatedBy(ctx, at),
    };
    const after: repo.EndpointRow = { ...before, ...patch };
    await repo.updateEndpoint(tx, ctx.organization.id, id, patch);
    await appendEvent(tx, ctx, {
      type: 'webhook-endpoint.updated',
      entityType: 'webhook-endpoint',
      entityId: id,
      data: toEndpoint(after),
      changes: diff(endpointFields(toEndpoint(before)), endpointFields(toEndpoint(after))),
      at,
    });
  });
}

const endpointFields = ({ url, events, description, enabled, failingSince }: WebhookEndpoint) => ({
  url,
  events,
  description,
  enabled,
  failingSince,
});

export async function deleteEndpoint(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<void> {
  requireRole(ctx, 'admin');
  await database.transaction(async (tx) => {
    const row = await repo.lockEndpoint(tx, ctx.organization.id, id);
    if (row === undefined) throw new AppError('NOT_FOUND');
    // Its pending deliveries go with it: nothing is sent to an endpoint that was deleted.
    await repo.deleteEndpoint(tx, ctx.organization.id, id);
    await appendEvent(tx, ctx, {
      type: 'webhook-endpoint.deleted',
      entityType: 'webhook-endpoint',
      entityId: id,
      data: toEndpoint(row),
      at: nowIso(),
    });
  });
}

/** A new secret; the previous one keeps signing beside it for 24 h (API.md §7.2). */
export async function rotateSecret(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<{ secret: string }> {
  requireRole(ctx, 'admin');
  const secret = newSecret();
  return database.transaction(async (tx) => {
    const row = await repo.lockEndpoint(tx, ctx.organization.id, id);
    if (row === undefined) throw new AppError('NOT_FOUND');
    const at = nowIso();
    const patch = {
      secret,
      previous_secret: row.secret,
      previous_secret_expires_at: new Date(Date.parse(at) + PREVIOUS_SECRET_MS).toISOString(),
      ...updatedBy(ctx, at),
    };
    await repo.updateEndpoint(tx, ctx.organization.id, id, patch);
    await appendEvent(tx, ctx, {
      type: 'webhook-endpoint.secret-rotated',
      entityType: 'webhook-endpoint',
      entityId: id,
      data: toEndpoint({ ...row, ...patch }),
      at,
    });
    return { secret };
  });
}

/**
 * Sends a `webhook.test` event to this endpoint alone: a delivery of its own, not an event
 * of the feed (it changes nothing), delivered by the worker like any other.
 */
export async function testEndpoint(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<{ eventId: string }> {
  requireRole(ctx, 'admin');
  return database.transaction(async (tx) => {
    const row = await repo.findEndpoint(tx, ctx.organization.id, id);
    if (row === undefined) throw new AppError('NOT_FOUND');
    const at = nowIso();
    const event: EventRecord = {
      id: newId(),
      type: 'webhook.test',
      entityType: 'webhook-endpoint',
      entityId: id,
      data: toEndpoint(row),
      changes: null,
      by: ctx.principal,
      via: ctx.via,
      requestId: ctx.requestId,
      createdAt: at,
    };
    await repo.insertDeliveries(tx, [deliveryRow(ctx.organization.id, id, event, at, false)]);
    // Wakes the worker once committed (as an event of this organization would).
    noteEvent(tx, ctx.organization.id);
    return { eventId: event.id };
  });
}

/**
 * A new pending delivery of `event` to an endpoint, due at `at`. The event itself is kept
 * only when it is not in the feed (`inFeed` false: webhook.test).
 */
export function deliveryRow(
  organizationId: string,
  endpointId: string,
  event: Pick<EventRecord, 'id' | 'type'>,
  at: string,
  inFeed = true,
) {
  return {
    organization_id: organizationId,
    id: newId(),
    endpoint_id: endpointId,
    event_id: event.id,
    event_type: event.type,
    payload: inFeed ? null : JSON.stringify(event),
    status: 'pending' as const,
    attempts: 0,
    last_attempt_at: null,
    last_status_code: null,
    last_error: null,
    next_attempt_at: at,
    created_at: at,
  };
}

export async function listDeliveries(
  database: Database,
  ctx: RequestContext,
  endpointId: string,
  input: { limit: number; cursor?: string | undefined; status?: DeliveryStatus | undefined },
): Promise<{ items: Delivery[]; next: string | null }> {
  requireRole(ctx, 'admin');
  const cursor = decodeCursor(input.cursor);
  const endpoint = await repo.findEndpoint(database.db, ctx.organization.id, endpointId);
  if (endpoint === undefined) throw new AppError('NOT_FOUND');
  const rows = await repo.listDeliveries(
    database.db,
    ctx.organization.id,
    endpointId,
    input.status,
    {
      limit: input.limit,
      cursor,
    },
  );
  const page = toPage(rows, input.limit);
  return { items: page.rows.map(toDelivery), next: page.next };
}

/** Schedules a new attempt now (a failed delivery becomes pending again). */
export async function retryDelivery(
  database: Database,
  ctx: RequestContext,
  endpointId: string,
  deliveryId: string,
): Promise<void> {
  requireRole(ctx, 'admin');
  await database.transaction(async (tx) => {
    const found = await repo.retryDelivery(
      tx,
      ctx.organization.id,
      endpointId,
      deliveryId,
      nowIso(),
    );
    if (!found) throw new AppError('NOT_FOUND');
    noteEvent(tx, ctx.organization.id);
  });
}

/** Deliveries looked at per count: past any alert's threshold, yet a scrape stays cheap. */
export const PENDING_COUNT_CAP = 10_000;

/**
 * The delivery backlog of every organization, for /metrics (API.md §9): an operations
 * figure, so no tenant; counted from the database because the work is shared by every
 * instance. At most PENDING_COUNT_CAP deliveries are counted.
 */
export async function pendingDeliveries(
  database: Database,
): Promise<{ due: number; scheduled: number }> {
  const { pending, due } = await repo.countPending(database.db, nowIso(), PENDING_COUNT_CAP);
  return { due, scheduled: pending - due };
}
