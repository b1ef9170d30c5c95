// The move engine (API.md §3.2, §6): the one place a payment's money changes an order's
// figures. A payment moves from `before` to `after` (null: created), and everything that
// depends on it — the order's figures and payment count, the source receipt's refund totals,
// the event — moves in the same transaction, under the order's lock the caller holds.
import type { Database, Tx } from '../db/engine.ts';
import { isUniqueViolation } from '../db/constraints.ts';
import { AppError } from '../errors.ts';
import { appendEvent, diff } from '../events/events.repository.ts';
import { updateOrder, type OrderRow } from '../orders/orders.repository.ts';
import { balanceWarnings } from '../orders/orders.rules.ts';
import type { RequestContext } from '../shared/context.ts';
import type { Warning } from '../shared/warnings.ts';
import * as repo from './payments.repository.ts';
import { isLive, moveFigures, type Figures } from './payments.rules.ts';
import { orderFacts, toPayment, type Payment } from './payments.view.ts';

type Row = repo.PaymentRow;

export interface Move {
  before: Row | null;
  after: Row;
  /** The payment is soft-deleted by this move. */
  deleted?: boolean;
  eventType: string;
  /** Record before/after values of the changed fields in the event. */
  changes?: boolean;
  /** `after`'s refund source as the caller read it under the order's lock: not read again. */
  source?: Row | null;
}

const counted = (row: Row | null, deleted = false) =>
  row === null || deleted
    ? null
    : { type: row.type, status: row.status, amountMinor: row.amount_minor };

function figuresOfOrder(order: OrderRow): Figures {
  return {
    paidMinor: order.paid_minor,
    refundedMinor: order.refunded_minor,
    pendingMinor: order.pending_minor,
    pendingRefundsMinor: order.pending_refunds_minor,
  };
}

/** What a refund contributes to its source receipt's refund totals. */
function refundShare(row: Row | null, deleted = false) {
  if (row === null || deleted || row.type !== 'refund' || row.source_payment_id === null)
    return null;
  return {
    sourceId: row.source_payment_id,
    reservedMinor: isLive(row.status) ? row.amount_minor : 0,
    refundedMinor: row.status === 'complete' ? row.amount_minor : 0,
    live: isLive(row.status) ? 1 : 0,
  };
}

async function adjustSources(
  tx: Tx,
  ctx: RequestContext,
  before: Row | null,
  after: Row | null,
  deleted: boolean,
  known: Row | null | undefined,
) {
  const minus = refundShare(before);
  const plus = refundShare(after, deleted);
  const deltas = new Map<string, { reserved: number; refunded: number; live: number }>();
  const add = (share: ReturnType<typeof refundShare>, sign: number) => {
    if (share === null) return;
    const d = deltas.get(share.sourceId) ?? { reserved: 0, refunded: 0, live: 0 };
    d.reserved += sign * share.reservedMinor;
    d.refunded += sign * share.refundedMinor;
    d.live += sign * share.live;
    deltas.set(share.sourceId, d);
  };
  add(minus, -1);
  add(plus, 1);
  for (const [sourceId, d] of deltas) {
    if (d.reserved === 0 && d.refunded === 0 && d.live === 0) continue;
    // Nothing else writes the order's payments while its lock is held, so a row read under
    // it is still current.
    const source =
      known?.id === sourceId ? known : await repo.findPayment(tx, ctx.organization.id, sourceId);
    if (source === undefined) throw new Error('refund source vanished inside the order lock');
    await repo.updatePayment(tx, ctx.organization.id, sourceId, {
      refunds_reserved_minor: source.refunds_reserved_minor + d.reserved,
      refunded_minor: source.refunded_minor + d.refunded,
      live_refunds: source.live_refunds + d.live,
    });
  }
}

/**
 * Writes a payment that takes a transactionRef (§6.3). Each write checks the ref inside its
 * order's lock, but two writes on two orders hold two locks and can both pass; the unique
 * index stops the second. Inside a savepoint, so the transaction stays usable to answer it
 * (on PostgreSQL a failed statement spoils the whole transaction otherwise).
 */
async function writeTakingRef(
  database: Database,
  tx: Tx,
  ctx: RequestContext,
  row: Row,
  write: () => Promise<void>,
): Promise<void> {
  await database.savepoint(tx, 'transaction_ref');
  try {
    await write();
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    await database.rollbackTo(tx, 'transaction_ref');
    const holder = await repo.findByTransactionRef(
      tx,
      ctx.organization.id,
      row.type,
      row.transaction_ref!,
    );
    if (holder === undefined) throw error;
    // Another order's payment: a retry on the same order would have met it under the lock.
    throw new AppError('DUPLICATE_TRANSACTION_REF', {
      field: 'transactionRef',
      paymentId: holder.id,
    });
  }
}

/** Applies a move; returns the order as it is afterwards. */
export async function commitMove(
  database: Database,
  tx: Tx,
  ctx: RequestContext,
  order: OrderRow,
  move: Move,
): Promise<OrderRow> {
  const { before, after, deleted = false, source } = move;
  const write =
    before === null
      ? () => repo.insertPayment(tx, after)
      : () => repo.updatePayment(tx, ctx.organization.id, after.id, changedColumns(before, after));
  const takesRef =
    after.transaction_ref !== null && after.transaction_ref !== before?.transaction_ref;
  await (takesRef ? writeTakingRef(database, tx, ctx, after, write) : write());
  const figures = moveFigures(figuresOfOrder(order), counted(before), counted(after, deleted));
  const countDelta = (before === null ? 1 : 0) - (deleted ? 1 : 0);
  const orderAfter: OrderRow = {
    ...order,
    paid_minor: figures.paidMinor,
    refunded_minor: figures.refundedMinor,
    pending_minor: figures.pendingMinor,
    pending_refunds_minor: figures.pendingRefundsMinor,
    payment_count: order.payment_count + countDelta,
  };
  await updateOrder(tx, ctx.organization.id, order.id, {
    paid_minor: orderAfter.paid_minor,
    refunded_minor: orderAfter.refunded_minor,
    pending_minor: orderAfter.pending_minor,
    pending_refunds_minor: orderAfter.pending_refunds_minor,
    payment_count: orderAfter.payment_count,
  });
  await adjustSources(tx, ctx, before, after, deleted, source);
  const facts = orderFacts(ctx, orderAfter);
  const view = toPayment(ctx, after, facts);
  await appendEvent(tx, ctx, {
    type: move.eventType,
    entityType: 'payment',
    entityId: after.id,
    data: view,
    changes:
      move.changes && before !== null
        ? diff(eventFields(toPayment(ctx, before, facts)), eventFields(view))
        : undefined,
    at: after.updated_at,
  });
  return orderAfter;
}

/** The business fields of a payment whose changes history records (not `can`, not audit). */
const NOT_IN_HISTORY = new Set(['can', 'createdAt', 'updatedAt', 'updatedBy', 'updatedVia']);
function eventFields(p: Payment): Record<string, unknown> {
  return Object.fromEntries(Object.entries(p).filter(([key]) => !NOT_IN_HISTORY.has(key)));
}

export function changedColumns(before: Row, after: Row): Partial<Row> {
  const patch: Partial<Row> = {};
  for (const key of Object.keys(after) as (keyof Row)[]) {
    if (after[key] !== before[key]) (patch as Record<string, unknown>)[key] = after[key];
  }
  return patch;
}

/** Warnings for the order's balance, when this move changed what was received. */
export function moneyWarnings(ctx: RequestContext, before: OrderRow, after: OrderRow): Warning[] {
  return before.paid_minor === after.paid_minor ? [] : balanceWarnings(ctx, after);
}
