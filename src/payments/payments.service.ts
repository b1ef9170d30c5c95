// Payments (API.md §3.5, §5, §6): receipts and refunds against orders. Every change runs in
// one transaction that locks the order first, then loads, decides with the pure rules, and
// writes the payment, the order's figures, the source receipt's refund totals and an event
// together — so concurrent requests, on one server or many, can never over-collect or
// over-refund.
import type { Database, Tx } from '../db/engine.ts';
import type { PaymentStatus, PaymentType } from '../db/schema.ts';
import { AppError, invalidParameter } from '../errors.ts';
import { parseAmount } from '../money/wire.ts';
import type { OrderRow } from '../orders/orders.repository.ts';
import { createdBy, updatedBy } from '../shared/audit.ts';
import type { RequestContext } from '../shared/context.ts';
import { newId, nowIso } from '../shared/ids.ts';
import { requireRole } from '../shared/roles.ts';
import { warning, type WithWarnings } from '../shared/warnings.ts';
import {
  amountOfNewPayment,
  checkIdentity,
  checkNewAmount,
  checkSource,
  checkUpdateAction,
  checkUpdateReferences,
  enforce,
  methodOfNewPayment,
  uniqueTransactionRef,
  usableInvoice,
} from './payments.checks.ts';
import { changedColumns, commitMove, moneyWarnings } from './payments.moves.ts';
import * as repo from './payments.repository.ts';
import {
  canCreateAs,
  canTransition,
  checkPaymentAction,
  countLimit,
  updateEventType,
} from './payments.rules.ts';
import { orderFacts, orderPayments, paymentFacts, type OrderPayments } from './payments.view.ts';

// The reads are use cases of their own module; routes find every use case here.
export { getPayment, listPayments, paymentHistory } from './payments.queries.ts';
export type { ListPaymentsQuery } from './payments.queries.ts';

type Row = repo.PaymentRow;

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
  const reads = (tx: Tx) =>
    repo.creationReads(tx, organizationId, { methodId: givenMethod, sourcePaymentId });
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
      const methodId = methodOfNewPayment(input.type, givenMethod, read.method?.[0], source);
      if (input.invoiceId !== undefined) await usableInvoice(tx, ctx, order, input.invoiceId);

      const amount = amountOfNewPayment(ctx, input.type, amountMinor, order, source);

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
    const { order, payment } = await repo.lockOrderOfPayment(tx, organizationId, id);
    if (order === undefined || payment === undefined) throw new AppError('NOT_FOUND');
    return fn(tx, payment, order);
  });
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
  sourcePaymentId?: string | undefined;
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
  input: UpdatePaymentInput,
): Promise<WithWarnings<{ success: true }>> {
  const amountMinor =
    input.amount === undefined ? undefined : parseAmount(ctx, 'amount', input.amount);
  return withLockedPayment(database, ctx, id, async (tx, payment, order) => {
    checkIdentity(payment, input);
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
    await checkUpdateAction(tx, ctx, payment, order, {
      targetStatus,
      moneyChange,
      isCorrection,
      correction: input.correction === true,
    });

    const source = await checkUpdateReferences(tx, ctx, payment, order, input);
    const newAmount = amountMinor ?? payment.amount_minor;
    const sourceChanged =
      input.sourcePaymentId !== undefined && input.sourcePaymentId !== payment.source_payment_id;
    if (newAmount !== payment.amount_minor || sourceChanged)
      checkNewAmount(ctx, payment, newAmount, order, source);

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
    const eventType = updateEventType(payment.status, after.status, isCorrection);
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
