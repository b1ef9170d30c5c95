// The checks of a payment request against what it names — its method, invoice, refund
// source, transactionRef — and against the limits of §6.2, run inside the order's lock.
// Each throws the contract's error (API.md §3.5, §6.2, §6.3); amounts the pure rules give in
// minor units are shown in major units.
import type { Tx } from '../db/engine.ts';
import type { PaymentStatus, PaymentType } from '../db/schema.ts';
import { AppError, failureToError, invalidParameter, type RuleFailure } from '../errors.ts';
import { findInvoiceForUse } from '../invoices/invoices.repository.ts';
import { formatAmount } from '../money/wire.ts';
import type { OrderRow } from '../orders/orders.repository.ts';
import {
  findPaymentMethodForUse,
  type PaymentMethodRow,
} from '../payment-methods/payment-methods.repository.ts';
import type { RequestContext } from '../shared/context.ts';
import * as repo from './payments.repository.ts';
import {
  checkPaymentAction,
  isLive,
  orderRefundableMinor,
  receiptCapacityMinor,
  refundableMinor,
  type PaymentAction,
} from './payments.rules.ts';
import { orderFacts, paymentFacts } from './payments.view.ts';

type Row = repo.PaymentRow;

export async function usableMethod(tx: Tx, ctx: RequestContext, methodId: string): Promise<void> {
  checkMethod(await findPaymentMethodForUse(tx, ctx.organization.id, methodId), methodId);
}

/** A payment's method must exist in the organization and be visible. */
export function checkMethod(method: PaymentMethodRow | undefined, methodId: string): void {
  if (method === undefined || method.visible !== 1) {
    throw new AppError('MethodNotFound', { field: 'methodId', methodId });
  }
}

export async function usableInvoice(
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
export async function usableSource(
  tx: Tx,
  ctx: RequestContext,
  order: OrderRow,
  sourceId: string,
): Promise<Row> {
  return checkSource(await repo.findPayment(tx, ctx.organization.id, sourceId), order, sourceId);
}

export function checkSource(source: Row | undefined, order: OrderRow, sourceId: string): Row {
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

export async function uniqueTransactionRef(
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
export function enforce(ctx: RequestContext, failure: RuleFailure | null): void {
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

export function limitReached(ctx: RequestContext, limit: string, availableMinor: number): AppError {
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
export function checkAmount(
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

/** The seed's bodies may repeat the payment's `id` and `orderId`; they must match. */
export function checkIdentity(
  payment: Row,
  body: { id?: string | undefined; orderId?: string | undefined },
): void {
  if (body.id !== undefined && body.id !== payment.id)
    throw invalidParameter('id', 'does not match the payment in the path');
  if (body.orderId !== undefined && body.orderId !== payment.order_id) {
    throw invalidParameter('orderId', "does not match the payment's order");
  }
}

/**
 * Which guarded action an update is — a reversal, a correction, or an update (confirming, when
 * it moves to complete) — checked by the same predicates as `can` (§4, §3.5.3).
 */
export async function checkUpdateAction(
  tx: Tx,
  ctx: RequestContext,
  payment: Row,
  order: OrderRow,
  update: {
    targetStatus: PaymentStatus;
    moneyChange: boolean;
    isCorrection: boolean;
    correction: boolean;
  },
): Promise<void> {
  const facts = orderFacts(ctx, order);
  const pFacts = paymentFacts(payment);
  const check = (action: PaymentAction) => checkPaymentAction(action, pFacts, facts, ctx.role);
  if (update.targetStatus === 'reversed' && payment.status !== 'reversed') {
    if (update.moneyChange)
      throw invalidParameter('status', 'a reversal cannot change money fields at the same time');
    const refused = check('reverse');
    if (refused?.code === 'INVALID_STATUS' && payment.live_refunds > 0) {
      // §6.1: the details name the refunds that stand in the way.
      refused.details = {
        ...refused.details,
        refundIds: await repo.liveRefundIds(tx, ctx.organization.id, payment.id),
      };
    }
    enforce(ctx, refused);
  } else if (update.isCorrection) {
    if (!update.correction) {
      throw new AppError('INVALID_STATUS', {
        status: 'complete',
        reason:
          'amount, methodId and sourcePaymentId of a complete payment change only with correction: true',
      });
    }
    enforce(ctx, check('correct'));
  } else {
    enforce(ctx, check('update'));
    if (update.targetStatus === 'complete' && payment.status !== 'complete') {
      enforce(ctx, check('confirm'));
    }
  }
}

/**
 * What an update names — a new method, a refund's source, a transactionRef — checked;
 * answers the refund's source as it will be after the update (null for receipts).
 */
export async function checkUpdateReferences(
  tx: Tx,
  ctx: RequestContext,
  payment: Row,
  order: OrderRow,
  input: {
    methodId?: string | undefined;
    sourcePaymentId?: string | undefined;
    transactionRef?: string | null | undefined;
  },
): Promise<Row | null> {
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
    await uniqueTransactionRef(tx, ctx, payment.type, input.transactionRef, payment.id);
  }
  return source;
}

/** A changed amount (or source) of an existing payment, checked against §6.2. */
export function checkNewAmount(
  ctx: RequestContext,
  payment: Row,
  newAmountMinor: number,
  order: OrderRow,
  source: Row | null,
): void {
  // Give back what the payment itself holds now (a live payment counts against both the
  // order and its source), then check the new amount as if it were new.
  const own = isLive(payment.status) ? payment.amount_minor : 0;
  const ownSource = source !== null && source.id === payment.source_payment_id ? own : 0;
  checkAmount(ctx, payment.type, newAmountMinor, order, source, {
    orderMinor: own,
    sourceMinor: ownSource,
  });
  if (payment.type === 'receipt' && newAmountMinor < payment.refunds_reserved_minor) {
    throw limitReached(ctx, 'refundedAmount', payment.refunds_reserved_minor);
  }
  // Lowering a complete receipt may not leave the order having returned more than it
  // received (refunds without a source count against the order as a whole).
  if (
    payment.type === 'receipt' &&
    payment.status === 'complete' &&
    newAmountMinor < payment.amount_minor
  ) {
    const facts = orderFacts(ctx, order);
    const keptMinor = facts.paidMinor - facts.pendingRefundsMinor;
    if (payment.amount_minor - newAmountMinor > keptMinor) {
      throw new AppError('LIMIT_REACHED', {
        field: 'amount',
        limit: 'orderRefunded',
        minimum: formatAmount(ctx, payment.amount_minor - keptMinor),
      });
    }
  }
}

/**
 * A new payment's method (§3.5.1): the one given, which must be usable, else a refund's
 * source's; receipts and refunds without a source must name one.
 */
export function methodOfNewPayment(
  type: PaymentType,
  givenMethodId: string | undefined,
  givenMethod: PaymentMethodRow | undefined,
  source: Row | null,
): string {
  if (givenMethodId !== undefined) {
    checkMethod(givenMethod, givenMethodId);
    return givenMethodId;
  }
  if (source?.method_id != null) return source.method_id;
  throw invalidParameter(
    'methodId',
    type === 'receipt'
      ? 'is required for receipts'
      : 'is required for a refund without sourcePaymentId',
  );
}

/**
 * A new payment's amount (§3.5.1, §6.2): the one given, within the limits; else a receipt
 * takes the order's remaining capacity and a refund its source's refundable remainder.
 */
export function amountOfNewPayment(
  ctx: RequestContext,
  type: PaymentType,
  amountMinor: number | undefined,
  order: OrderRow,
  source: Row | null,
): number {
  if (amountMinor !== undefined) {
    checkAmount(ctx, type, amountMinor, order, source, { orderMinor: 0, sourceMinor: 0 });
    return amountMinor;
  }
  const facts = orderFacts(ctx, order);
  if (type === 'receipt') {
    const capacity = receiptCapacityMinor(facts);
    if (capacity <= 0) throw limitReached(ctx, 'orderTotal', 0);
    return capacity;
  }
  if (source === null)
    throw invalidParameter('amount', 'is required for a refund without sourcePaymentId');
  const refundable = Math.min(refundableMinor(paymentFacts(source)), orderRefundableMinor(facts));
  if (refundable <= 0) throw limitReached(ctx, 'sourceRefundable', 0);
  return refundable;
}
