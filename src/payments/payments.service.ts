// Payments (API.md §3.5, §5, §6): receipts and refunds against orders. Every change runs in
// one transaction that locks the order first, then loads, decides with the pure rules, and
// writes the payment, the order's figures, the source receipt's refund totals and an event
// together — so concurrent requests, on one server or many, can never over-collect or
// over-refund.
import type { Database, Tx } from '../db/engine.ts';
import { isUniqueViolation } from '../db/constraints.ts';
import { decodeCursor, toPage } from '../db/pagination.ts';
import type { PaymentStatus, PaymentType } from '../db/schema.ts';
import { together } from '../db/together.ts';
import { AppError, failureToError, invalidParameter, type RuleFailure } from '../errors.ts';
import { appendEvent, diff, eventsOf, type EventRecord } from '../events/events.repository.ts';
import { findInvoiceForUse } from '../invoices/invoices.repository.ts';
import { formatAmount, parseAmount } from '../money/wire.ts';
import {
  lockOrderOfPaymentQuery,
  orderOfPaymentQuery,
  ordersAmongQuery,
  updateOrder,
  type OrderRow,
} from '../orders/orders.repository.ts';
import { balanceWarnings } from '../orders/orders.service.ts';
import {
  findPaymentMethodForUse,
  methodForUseQuery,
  methodsAmongQuery,
  type PaymentMethodRow,
} from '../payment-methods/payment-methods.repository.ts';
import { createdBy, updatedBy } from '../shared/audit.ts';
import type { RequestContext } from '../shared/context.ts';
import { newId, nowIso } from '../shared/ids.ts';
import { normalizeOptionalInstant } from '../shared/instants.ts';
import { requireRole } from '../shared/roles.ts';
import { warning, type Warning, type WithWarnings } from '../shared/warnings.ts';
import * as repo from './payments.repository.ts';
import {
  canCreateAs,
  canTransition,
  checkPaymentAction,
  countLimit,
  isLive,
  moveFigures,
  orderRefundableMinor,
  receiptCapacityMinor,
  refundableMinor,
  type Figures,
} from './payments.rules.ts';
import {
  listedPaymentsOf,
  orderFacts,
  orderPayments,
  paymentFacts,
  toPayment,
  type OrderPayments,
  type Payment,
} from './payments.view.ts';

type Row = repo.PaymentRow;

// ---------------------------------------------------------------------------------------
// The one write path: a payment moves from `before` to `after` (null: created / deleted),
// and everything that depends on it moves in the same transaction.

interface Move {
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
async function commitMove(
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

function changedColumns(before: Row, after: Row): Partial<Row> {
  const patch: Partial<Row> = {};
  for (const key of Object.keys(after) as (keyof Row)[]) {
    if (after[key] !== before[key]) (patch as Record<string, unknown>)[key] = after[key];
  }
  return patch;
}

/** Warnings for the order's balance, when this move changed what was received. */
function moneyWarnings(ctx: RequestContext, before: OrderRow, after: OrderRow): Warning[] {
  return before.paid_minor === after.paid_minor ? [] : balanceWarnings(ctx, after);
}

// ---------------------------------------------------------------------------------------
// Checks shared by create and update.

async function usableMethod(tx: Tx, ctx: RequestContext, methodId: string): Promise<void> {
  checkMethod(await findPaymentMethodForUse(tx, ctx.organization.id, methodId), methodId);
}

/** A payment's method must exist in the organization and be visible. */
function checkMethod(method: PaymentMethodRow | undefined, methodId: string): void {
  if (method === undefined || method.visible !== 1) {
    throw new AppError('MethodNotFound', { field: 'methodId', methodId });
  }
}

async function usableInvoice(
  tx: Tx,
  ctx: RequestContext,
  order: OrderRow,
  invoiceId: string,
): Promise<void> {
  const invoice = await findInvoiceForUse(tx, ctx.organization.id, invoiceId);
  if (invoice === undefined || invoice.order_id !== order.id) {
    throw new AppError('INVOICE_NOT_FOUND', { field: 'invoiceId', invoiceId });
  }
  if (invoice.status !== 'open')
    throw new AppError('INVOICE_CLOSED', { field: 'invoiceId', invoiceId });
}

/** A refund's source: a complete receipt of the same order (§3.5). */
async function usableSource(
  tx: Tx,
  ctx: RequestContext,
  order: OrderRow,
  sourceId: string,
): Promise<Row> {
  return checkSource(await repo.findPayment(tx, ctx.organization.id, sourceId), order, sourceId);
}

function checkSource(source: Row | undefined, order: OrderRow, sourceId: string): Row {
  if (source === undefined)
    throw invalidParameter('sourcePaymentId', 'no such payment', { sourcePaymentId: sourceId });
  if (source.type !== 'receipt' || source.status !== 'complete' || source.order_id !== order.id) {
    throw new AppError('INVALID_STATUS', {
      field: 'sourcePaymentId',
      reason: 'the source must be a complete receipt of the same order',
      sourceType: source.type,
      sourceStatus: source.status,
    });
  }
  return source;
}

async function uniqueTransactionRef(
  tx: Tx,
  ctx: RequestContext,
  type: PaymentType,
  ref: string,
  selfId: string,
) {
  const holder = await repo.findByTransactionRef(tx, ctx.organization.id, type, ref);
  if (holder !== undefined && holder.id !== selfId) {
    throw new AppError('DUPLICATE_TRANSACTION_REF', {
      field: 'transactionRef',
      paymentId: holder.id,
    });
  }
}

/** Throws a rule failure, with amounts the rules give in minor units shown in major units. */
function enforce(ctx: RequestContext, failure: RuleFailure | null): void {
  if (failure === null) return;
  const { availableMinor, ...details } = failure.details ?? {};
  throw failureToError(
    typeof availableMinor === 'number'
      ? {
          code: failure.code,
          details: { ...details, available: formatAmount(ctx, availableMinor) },
        }
      : failure,
  );
}

function limitReached(ctx: RequestContext, limit: string, availableMinor: number): AppError {
  return new AppError('LIMIT_REACHED', {
    field: 'amount',
    limit,
    available: formatAmount(ctx, Math.max(0, availableMinor)),
  });
}

/**
 * Checks an amount against §6.2, with `own` — the payment's current contribution — given
 * back first, so an update is checked as if the payment were not there yet.
 */
function checkAmount(
  ctx: RequestContext,
  type: PaymentType,
  amountMinor: number,
  order: OrderRow,
  source: Row | null,
  own: { orderMinor: number; sourceMinor: number },
): void {
  const facts = orderFacts(ctx, order);
  if (type === 'receipt') {
    const available = receiptCapacityMinor(facts) + own.orderMinor;
    if (amountMinor > available) throw limitReached(ctx, 'orderTotal', available);
    return;
  }
  if (source !== null) {
    const available = refundableMinor(paymentFacts(source)) + own.sourceMinor;
    if (amountMinor > available) throw limitReached(ctx, 'sourceRefundable', available);
  }
  const available = orderRefundableMinor(facts) + own.orderMinor;
  if (amountMinor > available) throw limitReached(ctx, 'orderRefundable', available);
}

// ---------------------------------------------------------------------------------------
// Create (§3.5.1).

export interface CreatePaymentInput {
  orderId: string;
  type: PaymentType;
  custom?: boolean | undefined;
  amount?: number | undefined;
  methodId?: string | undefined;
  customerUid?: string | undefined;
  status?: PaymentStatus | undefined;
  sourcePaymentId?: string | undefined;
  transactionRef?: string | undefined;
  attrs?: Record<string, unknown> | undefined;
  invoiceId?: string | undefined;
  note?: string | undefined;
}

export async function createPayment(
  database: Database,
  ctx: RequestContext,
  input: CreatePaymentInput,
): Promise<WithWarnings<{ id: string }>> {
  requireRole(ctx, 'cashier');
  const status = input.status ?? 'pending';
  if (!canCreateAs(status)) throw new AppError('INVALID_STATUS', { field: 'status', status });
  if (input.type === 'receipt' && input.sourcePaymentId !== undefined) {
    throw invalidParameter('sourcePaymentId', 'only refunds have a source');
  }
  const amountMinor =
    input.amount === undefined ? undefined : parseAmount(ctx, 'amount', input.amount);
  const organizationId = ctx.organization.id;

  /** §6.3: gateway callbacks and POS retries converge on one record. */
  const converge = (existing: Row): WithWarnings<{ id: string }> => {
    if (
      existing.order_id === input.orderId &&
      (amountMinor === undefined || existing.amount_minor === amountMinor)
    ) {
      return {
        data: { id: existing.id },
        warnings: [warning('ALREADY_RECORDED', { paymentId: existing.id })],
      };
    }
    throw new AppError('DUPLICATE_TRANSACTION_REF', {
      field: 'transactionRef',
      paymentId: existing.id,
    });
  };

  const { methodId: givenMethod, sourcePaymentId } = input;
  // The method (share-locked) and a refund's source are read in the lock's round trip, under
  // the lock; each is checked in its turn below, so errors keep their order.
  const reads = (tx: Tx) => ({
    method:
      givenMethod === undefined ? undefined : methodForUseQuery(tx, organizationId, givenMethod),
    source:
      sourcePaymentId === undefined
        ? undefined
        : repo.paymentQuery(tx, organizationId, sourcePaymentId),
  });
  return database.transactionLocking(
    'orders',
    organizationId,
    input.orderId,
    async (tx, order, read) => {
      if (order === undefined)
        throw new AppError('ORDER_NOT_FOUND', { field: 'orderId', orderId: input.orderId });
      if (input.transactionRef !== undefined) {
        const existing = await repo.findByTransactionRef(
          tx,
          organizationId,
          input.type,
          input.transactionRef,
        );
        if (existing !== undefined) return converge(existing);
      }
      // Role before state, as the rules order them: refunds outside an open order (returns
      // after the sale) are a manager's call (§4).
      if (input.type === 'refund' && order.status !== 'open') requireRole(ctx, 'manager');
      if (order.status === 'canceled') throw new AppError('ORDER_CANCELED');
      if (order.status === 'closed' && input.type === 'receipt') {
        throw new AppError('ORDER_CLOSED');
      }
      const facts = orderFacts(ctx, order);
      if (facts.paymentCount >= facts.maxPaymentsPerOrder) enforce(ctx, countLimit(facts));

      const source =
        sourcePaymentId === undefined
          ? null
          : checkSource(read.source?.[0], order, sourcePaymentId);
      if (input.type === 'refund' && source === null) {
        // A refund without a source is limited only by the order: a manager's decision.
        requireRole(ctx, 'manager');
      }
      const methodId = givenMethod ?? source?.method_id ?? null;
      if (givenMethod !== undefined) checkMethod(read.method?.[0], givenMethod);
      else if (methodId === null) {
        throw invalidParameter(
          'methodId',
          input.type === 'receipt'
            ? 'is required for receipts'
            : 'is required for a refund without sourcePaymentId',
        );
      }
      if (input.invoiceId !== undefined) await usableInvoice(tx, ctx, order, input.invoiceId);

      let amount: number;
      if (amountMinor !== undefined) {
        checkAmount(ctx, input.type, amountMinor, order, source, {
          orderMinor: 0,
          sourceMinor: 0,
        });
        amount = amountMinor;
      } else if (input.type === 'receipt') {
        amount = receiptCapacityMinor(facts);
        if (amount <= 0) throw limitReached(ctx, 'orderTotal', 0);
      } else {
        if (source === null)
          throw invalidParameter('amount', 'is required for a refund without sourcePaymentId');
        amount = Math.min(refundableMinor(paymentFacts(source)), orderRefundableMinor(facts));
        if (amount <= 0) throw limitReached(ctx, 'sourceRefundable', 0);
      }

      const at = nowIso();
      const row: Row = {
        organization_id: organizationId,
        id: newId(),
        order_id: order.id,
        type: input.type,
        status,
        amount_minor: amount,
        custom: (input.custom ?? amountMinor !== undefined) ? 1 : 0,
        method_id: methodId,
        customer_uid: input.customerUid ?? null,
        source_payment_id: source?.id ?? null,
        transaction_ref: input.transactionRef ?? null,
        attrs: JSON.stringify(input.attrs ?? {}),
        invoice_id: input.invoiceId ?? null,
        note: input.note ?? null,
        completed_at: status === 'complete' ? at : null,
        reversed_at: null,
        deleted_at: null,
        refunded_minor: 0,
        refunds_reserved_minor: 0,
        live_refunds: 0,
        ...createdBy(ctx, at),
      };
      const orderAfter = await commitMove(database, tx, ctx, order, {
        before: null,
        after: row,
        eventType: 'payment.created',
        source,
      });
      return { data: { id: row.id }, warnings: moneyWarnings(ctx, order, orderAfter) };
    },
    reads,
  );
}

// ---------------------------------------------------------------------------------------
// Changes to an existing payment.

/** Locks the payment's order, then loads the payment inside the lock. */
async function withLockedPayment<T>(
  database: Database,
  ctx: RequestContext,
  id: string,
  fn: (tx: Tx, payment: Row, order: OrderRow) => Promise<T>,
): Promise<T> {
  const organizationId = ctx.organization.id;
  return database.transaction(async (tx) => {
    // The lock, then the payment read under it, in one round trip (src/db/together.ts).
    const [[order], [payment]] = await together(
      tx,
      lockOrderOfPaymentQuery(tx, organizationId, id),
      repo.paymentQuery(tx, organizationId, id),
    );
    if (order === undefined || payment === undefined) throw new AppError('NOT_FOUND');
    return fn(tx, payment, order);
  });
}

/** The seed's bodies may repeat the payment's `id` and `orderId`; they must match. */
function checkIdentity(
  payment: Row,
  body: { id?: string | undefined; orderId?: string | undefined },
): void {
  if (body.id !== undefined && body.id !== payment.id)
    throw invalidParameter('id', 'does not match the payment in the path');
  if (body.orderId !== undefined && body.orderId !== payment.order_id) {
    throw invalidParameter('orderId', "does not match the payment's order");
  }
}

function mergeAttrs(current: string, patch: Record<string, unknown> | undefined): string {
  return patch === undefined
    ? current
    : JSON.stringify({ ...(JSON.parse(current) as object), ...patch });
}

/**
 * What confirm and delete answer: the order's payments after the change (§3.5.2, §3.5.4), or
 * nothing when the caller asked for a minimal answer (`Prefer: return=minimal`,
 * src/http/prefer.ts) — then the list is not read at all.
 */
export type ListAnswer = 'payments' | 'minimal';

function listAnswer(
  tx: Tx,
  ctx: RequestContext,
  order: OrderRow,
  answer: ListAnswer,
): Promise<OrderPayments | null> {
  return answer === 'payments' ? orderPayments(tx, ctx, order) : Promise.resolve(null);
}

export interface ConfirmPaymentInput {
  id?: string | undefined;
  orderId?: string | undefined;
  customerUid?: string | undefined;
  transactionRef?: string | undefined;
  attrs?: Record<string, unknown> | undefined;
}

/** pending/progress → complete (§3.5.4). Confirming a complete payment again is a no-op. */
export async function confirmPayment(
  database: Database,
  ctx: RequestContext,
  id: string,
  input: ConfirmPaymentInput = {},
  answer: ListAnswer = 'payments',
): Promise<WithWarnings<OrderPayments | null>> {
  return withLockedPayment(database, ctx, id, async (tx, payment, order) => {
    checkIdentity(payment, input);
    if (payment.status === 'complete') {
      requireRole(ctx, 'cashier');
      return {
        data: await listAnswer(tx, ctx, order, answer),
        warnings: [warning('ALREADY_COMPLETE', { paymentId: id })],
      };
    }
    enforce(
      ctx,
      checkPaymentAction('confirm', paymentFacts(payment), orderFacts(ctx, order), ctx.role),
    );
    if (input.transactionRef !== undefined)
      await uniqueTransactionRef(tx, ctx, payment.type, input.transactionRef, id);
    const at = nowIso();
    const after: Row = {
      ...payment,
      status: 'complete',
      completed_at: at,
      customer_uid: input.customerUid ?? payment.customer_uid,
      transaction_ref: input.transactionRef ?? payment.transaction_ref,
      attrs: mergeAttrs(payment.attrs, input.attrs),
      ...updatedBy(ctx, at),
    };
    const orderAfter = await commitMove(database, tx, ctx, order, {
      before: payment,
      after,
      eventType: 'payment.confirmed',
      changes: true,
    });
    return {
      data: await listAnswer(tx, ctx, orderAfter, answer),
      warnings: moneyWarnings(ctx, order, orderAfter),
    };
  });
}

/** Soft delete of a payment that never completed (§3.5.2). */
export async function deletePayment(
  database: Database,
  ctx: RequestContext,
  id: string,
  answer: ListAnswer = 'payments',
): Promise<OrderPayments | null> {
  return withLockedPayment(database, ctx, id, async (tx, payment, order) => {
    enforce(
      ctx,
      checkPaymentAction('delete', paymentFacts(payment), orderFacts(ctx, order), ctx.role),
    );
    const at = nowIso();
    const after: Row = { ...payment, deleted_at: at, ...updatedBy(ctx, at) };
    const orderAfter = await commitMove(database, tx, ctx, order, {
      before: payment,
      after,
      deleted: true,
      eventType: 'payment.deleted',
    });
    return listAnswer(tx, ctx, orderAfter, answer);
  });
}

export interface UpdatePaymentInput {
  id?: string | undefined;
  orderId?: string | undefined;
  amount?: number | undefined;
  methodId?: string | undefined;
  custom?: boolean | undefined;
  correction?: boolean | undefined;
  customerUid?: string | null | undefined;
  status?: PaymentStatus | undefined;
  /** null (as read from a receipt or a refund without source) means no source: API.md §1. */
  sourcePaymentId?: string | null | undefined;
  transactionRef?: string | null | undefined;
  attrs?: Record<string, unknown> | undefined;
  note?: string | null | undefined;
}

/**
 * §3.5.3. While pending/progress anything may change (limits re-checked); once complete,
 * metadata may change, and money fields only as a manager's recorded correction; status
 * changes follow §6.1 (`complete` confirms, `reversed` reverses).
 */
export async function updatePayment(
  database: Database,
  ctx: RequestContext,
  id: string,
  given: UpdatePaymentInput,
): Promise<WithWarnings<{ success: true }>> {
  const amountMinor =
    given.amount === undefined ? undefined : parseAmount(ctx, 'amount', given.amount);
  return withLockedPayment(database, ctx, id, async (tx, payment, order) => {
    // API.md §1: `sourcePaymentId: null` sent back as it was read changes nothing; a
    // payment's source cannot be removed.
    const { sourcePaymentId: givenSource, ...rest } = given;
    if (givenSource === null && payment.source_payment_id !== null) {
      throw invalidParameter('sourcePaymentId', 'cannot be cleared');
    }
    const input = { ...rest, sourcePaymentId: givenSource ?? undefined };
    checkIdentity(payment, input);
    const facts = orderFacts(ctx, order);
    const pFacts = paymentFacts(payment);
    const targetStatus = input.status ?? payment.status;
    if (!canTransition(payment.status, targetStatus)) {
      throw new AppError('INVALID_STATUS', {
        field: 'status',
        status: payment.status,
        requested: targetStatus,
      });
    }
    // §6.1: staying in the same state is a no-op — also for a reversed payment, which
    // accepts no other change (a repeated reversal from a retrying client succeeds).
    const restatesOnly = Object.entries(input).every(
      ([key, value]) =>
        value === undefined || key === 'status' || key === 'id' || key === 'orderId',
    );
    if (restatesOnly && targetStatus === payment.status) {
      requireRole(ctx, 'cashier');
      // `status: "complete"` is the same as confirm (§3.5.3), so it answers like confirm.
      const warnings =
        targetStatus === 'complete' && input.status !== undefined
          ? [warning('ALREADY_COMPLETE', { paymentId: id })]
          : [];
      return { data: { success: true as const }, warnings };
    }
    const moneyChange =
      (amountMinor !== undefined && amountMinor !== payment.amount_minor) ||
      (input.methodId !== undefined && input.methodId !== payment.method_id) ||
      (input.sourcePaymentId !== undefined && input.sourcePaymentId !== payment.source_payment_id);
    const isCorrection = payment.status === 'complete' && moneyChange;

    // Which guarded action this request is: the same predicates as `can`.
    if (targetStatus === 'reversed' && payment.status !== 'reversed') {
      if (moneyChange)
        throw invalidParameter('status', 'a reversal cannot change money fields at the same time');
      const refused = checkPaymentAction('reverse', pFacts, facts, ctx.role);
      if (refused?.code === 'INVALID_STATUS' && payment.live_refunds > 0) {
        // §6.1: the details name the refunds that stand in the way.
        refused.details = {
          ...refused.details,
          refundIds: await repo.liveRefundIds(tx, ctx.organization.id, payment.id),
        };
      }
      enforce(ctx, refused);
    } else if (isCorrection) {
      if (input.correction !== true) {
        throw new AppError('INVALID_STATUS', {
          status: 'complete',
          reason:
            'amount, methodId and sourcePaymentId of a complete payment change only with correction: true',
        });
      }
      enforce(ctx, checkPaymentAction('correct', pFacts, facts, ctx.role));
    } else {
      enforce(ctx, checkPaymentAction('update', pFacts, facts, ctx.role));
      if (targetStatus === 'complete' && payment.status !== 'complete') {
        enforce(ctx, checkPaymentAction('confirm', pFacts, facts, ctx.role));
      }
    }

    // Validate what changes.
    if (input.methodId !== undefined && input.methodId !== payment.method_id)
      await usableMethod(tx, ctx, input.methodId);
    let source: Row | null = null;
    if (payment.type === 'refund') {
      const sourceId = input.sourcePaymentId ?? payment.source_payment_id;
      if (sourceId !== null) {
        source =
          sourceId === payment.source_payment_id
            ? ((await repo.findPayment(tx, ctx.organization.id, sourceId)) ?? null)
            : await usableSource(tx, ctx, order, sourceId);
      }
    } else if (input.sourcePaymentId !== undefined) {
      throw invalidParameter('sourcePaymentId', 'only refunds have a source');
    }
    if (
      input.transactionRef !== undefined &&
      input.transactionRef !== null &&
      input.transactionRef !== payment.transaction_ref
    ) {
      await uniqueTransactionRef(tx, ctx, payment.type, input.transactionRef, id);
    }
    const newAmount = amountMinor ?? payment.amount_minor;
    if (
      newAmount !== payment.amount_minor ||
      (input.sourcePaymentId !== undefined && input.sourcePaymentId !== payment.source_payment_id)
    ) {
      // Give back what the payment itself holds now (a live payment counts against both the
      // order and its source), then check the new amount as if it were new.
      const own = isLive(payment.status) ? payment.amount_minor : 0;
      const ownSource = source !== null && source.id === payment.source_payment_id ? own : 0;
      checkAmount(ctx, payment.type, newAmount, order, source, {
        orderMinor: own,
        sourceMinor: ownSource,
      });
      if (payment.type === 'receipt' && newAmount < payment.refunds_reserved_minor) {
        throw limitReached(ctx, 'refundedAmount', payment.refunds_reserved_minor);
      }
      // Lowering a complete receipt may not leave the order having returned more than it
      // received (refunds without a source count against the order as a whole).
      if (
        payment.type === 'receipt' &&
        payment.status === 'complete' &&
        newAmount < payment.amount_minor
      ) {
        const keptMinor = facts.paidMinor - facts.pendingRefundsMinor;
        if (payment.amount_minor - newAmount > keptMinor) {
          throw new AppError('LIMIT_REACHED', {
            field: 'amount',
            limit: 'orderRefunded',
            minimum: formatAmount(ctx, payment.amount_minor - keptMinor),
          });
        }
      }
    }

    const at = nowIso();
    const after: Row = {
      ...payment,
      status: targetStatus,
      amount_minor: newAmount,
      custom:
        input.custom !== undefined
          ? input.custom
            ? 1
            : 0
          : amountMinor !== undefined
            ? 1
            : payment.custom,
      method_id: input.methodId ?? payment.method_id,
      source_payment_id: payment.type === 'refund' ? (source?.id ?? null) : null,
      customer_uid: input.customerUid === undefined ? payment.customer_uid : input.customerUid,
      transaction_ref:
        input.transactionRef === undefined ? payment.transaction_ref : input.transactionRef,
      attrs: mergeAttrs(payment.attrs, input.attrs),
      note: input.note === undefined ? payment.note : input.note,
      completed_at:
        targetStatus === 'complete' && payment.status !== 'complete' ? at : payment.completed_at,
      reversed_at:
        targetStatus === 'reversed' && payment.status !== 'reversed' ? at : payment.reversed_at,
    };
    if (Object.keys(changedColumns(payment, after)).length === 0) {
      return { data: { success: true as const }, warnings: [] };
    }
    Object.assign(after, updatedBy(ctx, at));
    const eventType =
      after.status === 'reversed' && payment.status !== 'reversed'
        ? 'payment.reversed'
        : isCorrection
          ? 'payment.corrected'
          : after.status === 'complete' && payment.status !== 'complete'
            ? 'payment.confirmed'
            : 'payment.updated';
    const orderAfter = await commitMove(database, tx, ctx, order, {
      before: payment,
      after,
      eventType,
      changes: true,
      source,
    });
    const warnings = moneyWarnings(ctx, order, orderAfter);
    if (isCorrection) warnings.unshift(warning('CORRECTION_RECORDED', { paymentId: id }));
    return { data: { success: true as const }, warnings };
  });
}

// ---------------------------------------------------------------------------------------
// Reads (§3.5.5).

export async function getPayment(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<Payment> {
  const { db } = database;
  // The payment and its order in one round trip (src/db/together.ts).
  const [[row], [order]] = await together(
    db,
    repo.paymentQuery(db, ctx.organization.id, id),
    orderOfPaymentQuery(db, ctx.organization.id, id),
  );
  if (row === undefined || order === undefined) throw new AppError('NOT_FOUND');
  return toPayment(ctx, row, orderFacts(ctx, order));
}

export async function paymentHistory(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<EventRecord[]> {
  const row = await repo.findPayment(database.db, ctx.organization.id, id);
  if (row === undefined) throw new AppError('NOT_FOUND');
  return eventsOf(database.db, ctx.organization.id, id);
}

export interface ListPaymentsQuery extends Omit<repo.PaymentFilters, 'createdFrom' | 'createdTo'> {
  limit: number;
  cursor?: string | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
}

export async function listPayments(
  database: Database,
  ctx: RequestContext,
  query: ListPaymentsQuery,
): Promise<OrderPayments & { next: string | null }> {
  const { limit, cursor, ...given } = query;
  const filters = {
    ...given,
    createdFrom: normalizeOptionalInstant('createdFrom', given.createdFrom),
    createdTo: normalizeOptionalInstant('createdTo', given.createdTo),
  };
  const page = { limit, cursor: decodeCursor(cursor) };
  const { db } = database;
  const org = ctx.organization.id;
  const listed = (column: 'order_id' | 'method_id') =>
    repo.listedPaymentsColumn(db, org, filters, page, column);
  // The page, its orders (for `can` and the refundable figures) and its methods in one round
  // trip (src/db/together.ts), each read through the page's own query.
  const [rows, orders, methods] = await together(
    db,
    repo.listPaymentsQuery(db, org, filters, page),
    ordersAmongQuery(db, org, listed('order_id')),
    methodsAmongQuery(db, org, listed('method_id')),
  );
  const { rows: pageRows, next } = toPage(rows, limit);
  return { ...(await listedPaymentsOf(db, ctx, pageRows, orders, methods)), next };
}
