// Orders (API.md §3.2): the money header payments hang on. Each use case takes the request
// context first; every change runs in one transaction that locks the order, re-checks the
// rules there, writes, and appends its event.
import type { Kysely } from 'kysely';
import type { Database, Tx } from '../db/engine.ts';
import { nextValue } from '../db/counters.ts';
import { isUniqueViolation } from '../db/constraints.ts';
import { decodeCursor, toPage } from '../db/pagination.ts';
import type { DB, OrderStatus } from '../db/schema.ts';
import { AppError, invalidParameter, throwIfFailed } from '../errors.ts';
import { appendEvent, diff } from '../events/events.repository.ts';
import { formatAmount, parseAmount } from '../money/wire.ts';
import { auditOf, createdBy, updatedBy, type AuditFields } from '../shared/audit.ts';
import type { RequestContext } from '../shared/context.ts';
import { newId, nowIso } from '../shared/ids.ts';
import { normalizeOptionalInstant } from '../shared/instants.ts';
import { requireRole } from '../shared/roles.ts';
import { warning, type WithWarnings } from '../shared/warnings.ts';
import { findOrderWithPayments } from '../payments/payments.repository.ts';
import { orderPaymentsOf, type OrderPayments } from '../payments/payments.view.ts';
import * as repo from './orders.repository.ts';
import {
  balanceDueMinor,
  balanceWarnings,
  checkOrderAction,
  figuresOf,
  minimumTotalMinor,
  orderCan,
  type OrderAction,
} from './orders.rules.ts';

export interface Order extends AuditFields {
  id: string;
  number: number;
  status: OrderStatus;
  total: number;
  paidAmount: number;
  refundedAmount: number;
  pendingAmount: number;
  balanceDue: number;
  customerUid: string | null;
  externalRef: string | null;
  closedAt: string | null;
  canceledAt: string | null;
  can: OrderAction[];
}

export function toOrder(ctx: RequestContext, row: repo.OrderRow): Order {
  return {
    id: row.id,
    number: row.number,
    status: row.status,
    total: formatAmount(ctx, row.total_minor),
    paidAmount: formatAmount(ctx, row.paid_minor),
    refundedAmount: formatAmount(ctx, row.refunded_minor),
    pendingAmount: formatAmount(ctx, row.pending_minor),
    balanceDue: formatAmount(ctx, balanceDueMinor(figuresOf(row))),
    customerUid: row.customer_uid,
    externalRef: row.external_ref,
    closedAt: row.closed_at,
    canceledAt: row.canceled_at,
    can: orderCan(figuresOf(row), ctx.role),
    ...auditOf(row),
  };
}

export interface CreateOrderInput {
  total: number;
  customerUid?: string | undefined;
  externalRef?: string | undefined;
}

/**
 * Creates an order with the organization's next number. A repeat with the same
 * `externalRef` and the same content returns the existing order (ALREADY_RECORDED), so POS
 * retries converge; different content is DUPLICATE_EXTERNAL_REF.
 */
export async function createOrder(
  database: Database,
  ctx: RequestContext,
  input: CreateOrderInput,
): Promise<WithWarnings<{ id: string }>> {
  requireRole(ctx, 'cashier');
  const totalMinor = parseAmount(ctx, 'total', input.total);
  const customerUid = input.customerUid ?? null;
  const existing = async (db: Kysely<DB>): Promise<WithWarnings<{ id: string }> | undefined> => {
    if (input.externalRef === undefined) return undefined;
    const row = await repo.findOrderByExternalRef(db, ctx.organization.id, input.externalRef);
    if (row === undefined) return undefined;
    if (row.total_minor !== totalMinor || row.customer_uid !== customerUid) {
      throw new AppError('DUPLICATE_EXTERNAL_REF', { field: 'externalRef', orderId: row.id });
    }
    return { data: { id: row.id }, warnings: [warning('ALREADY_RECORDED', { orderId: row.id })] };
  };
  try {
    return await database.transaction(async (tx) => {
      const found = await existing(tx);
      if (found !== undefined) return found;
      const at = nowIso();
      const row: repo.OrderRow = {
        organization_id: ctx.organization.id,
        id: newId(),
        number: await nextValue(tx, ctx.organization.id, 'order_number'),
        status: 'open',
        total_minor: totalMinor,
        paid_minor: 0,
        refunded_minor: 0,
        pending_minor: 0,
        pending_refunds_minor: 0,
        payment_count: 0,
        customer_uid: customerUid,
        external_ref: input.externalRef ?? null,
        closed_at: null,
        canceled_at: null,
        ...createdBy(ctx, at),
      };
      await repo.insertOrder(tx, row);
      await appendEvent(tx, ctx, {
        type: 'order.created',
        entityType: 'order',
        entityId: row.id,
        data: toOrder(ctx, row),
        at,
      });
      return { data: { id: row.id }, warnings: [] };
    });
  } catch (error) {
    // Two creates with one externalRef raced past the check: the loser converges here.
    if (isUniqueViolation(error) && input.externalRef !== undefined) {
      const found = await existing(database.db);
      if (found !== undefined) return found;
    }
    throw error;
  }
}

export async function getOrder(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<Order> {
  const row = await repo.findOrder(database.db, ctx.organization.id, id);
  if (row === undefined) throw new AppError('NOT_FOUND');
  return toOrder(ctx, row);
}

export interface ListOrdersQuery {
  limit: number;
  cursor?: string | undefined;
  status?: OrderStatus | undefined;
  customerUid?: string | undefined;
  number?: number | undefined;
  externalRef?: string | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
}

export async function listOrders(
  database: Database,
  ctx: RequestContext,
  query: ListOrdersQuery,
): Promise<{ items: Order[]; next: string | null }> {
  const rows = await repo.listOrders(
    database.db,
    ctx.organization.id,
    {
      status: query.status,
      customerUid: query.customerUid,
      number: query.number,
      externalRef: query.externalRef,
      createdFrom: normalizeOptionalInstant('createdFrom', query.createdFrom),
      createdTo: normalizeOptionalInstant('createdTo', query.createdTo),
    },
    { limit: query.limit, cursor: decodeCursor(query.cursor) },
  );
  const page = toPage(rows, query.limit);
  return { items: page.rows.map((row) => toOrder(ctx, row)), next: page.next };
}

/** Runs `fn` on the order locked in a transaction; a foreign or missing id is NOT_FOUND. */
async function withLockedOrder<T>(
  database: Database,
  ctx: RequestContext,
  id: string,
  fn: (tx: Tx, row: repo.OrderRow) => Promise<T>,
): Promise<T> {
  return database.transactionLocking('orders', ctx.organization.id, id, async (tx, row) => {
    if (row === undefined) throw new AppError('NOT_FOUND');
    return fn(tx, row);
  });
}

export interface UpdateOrderInput {
  total?: number | undefined;
  customerUid?: string | null | undefined;
}

export async function updateOrder(
  database: Database,
  ctx: RequestContext,
  id: string,
  input: UpdateOrderInput,
): Promise<WithWarnings<{ success: true }>> {
  const totalMinor = input.total === undefined ? undefined : parseAmount(ctx, 'total', input.total);
  return withLockedOrder(database, ctx, id, async (tx, before) => {
    throwIfFailed(checkOrderAction('update', figuresOf(before), ctx.role));
    if (totalMinor !== undefined) {
      const minimum = minimumTotalMinor(figuresOf(before));
      if (totalMinor < minimum) {
        throw invalidParameter(
          'total',
          'is below what is already paid or reserved by pending receipts',
          {
            minimum: formatAmount(ctx, minimum),
          },
        );
      }
    }
    const at = nowIso();
    const after: repo.OrderRow = {
      ...before,
      ...(totalMinor !== undefined && { total_minor: totalMinor }),
      ...(input.customerUid !== undefined && { customer_uid: input.customerUid }),
      ...updatedBy(ctx, at),
    };
    await repo.updateOrder(tx, ctx.organization.id, id, {
      total_minor: after.total_minor,
      customer_uid: after.customer_uid,
      ...updatedBy(ctx, at),
    });
    const [beforeView, afterView] = [toOrder(ctx, before), toOrder(ctx, after)];
    await appendEvent(tx, ctx, {
      type: 'order.updated',
      entityType: 'order',
      entityId: id,
      data: afterView,
      changes: diff(pick(beforeView), pick(afterView)),
      at,
    });
    const warnings =
      totalMinor !== undefined && totalMinor !== before.total_minor
        ? balanceWarnings(ctx, after)
        : [];
    return { data: { success: true as const }, warnings };
  });
}

/** The business fields of an order whose changes an event records. */
function pick(order: Order): Record<string, unknown> {
  const { total, customerUid, status, balanceDue, closedAt, canceledAt } = order;
  return { total, customerUid, status, balanceDue, closedAt, canceledAt };
}

const TRANSITION_EVENTS = {
  close: 'order.closed',
  cancel: 'order.canceled',
  reopen: 'order.reopened',
} as const;

/** close, cancel or reopen (API.md §3.2). */
export async function transitionOrder(
  database: Database,
  ctx: RequestContext,
  id: string,
  action: Exclude<OrderAction, 'update'>,
): Promise<{ success: true }> {
  return withLockedOrder(database, ctx, id, async (tx, before) => {
    throwIfFailed(checkOrderAction(action, figuresOf(before), ctx.role));
    const at = nowIso();
    const patch =
      action === 'close'
        ? { status: 'closed' as const, closed_at: at }
        : action === 'cancel'
          ? { status: 'canceled' as const, canceled_at: at }
          : { status: 'open' as const, closed_at: null };
    const after: repo.OrderRow = { ...before, ...patch, ...updatedBy(ctx, at) };
    await repo.updateOrder(tx, ctx.organization.id, id, { ...patch, ...updatedBy(ctx, at) });
    const [beforeView, afterView] = [toOrder(ctx, before), toOrder(ctx, after)];
    await appendEvent(tx, ctx, {
      type: TRANSITION_EVENTS[action],
      entityType: 'order',
      entityId: id,
      data: afterView,
      changes: diff(pick(beforeView), pick(afterView)),
      at,
    });
    return { success: true as const };
  });
}

/** The order's payments with the methods they use (API.md §3.2, the shape of §3.5). */
export async function getOrderPayments(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<OrderPayments> {
  const { db } = database;
  const { order, rows, methods } = await findOrderWithPayments(db, ctx.organization.id, id);
  if (order === undefined) throw new AppError('NOT_FOUND');
  return orderPaymentsOf(db, ctx, order, rows, methods);
}
