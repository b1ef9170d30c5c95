// How payments look on the wire (the seed's item shape plus API.md §3.5's additions), with
// `can` computed by the same rules that guard the actions.
import type { Kysely } from 'kysely';
import type { DB, PaymentStatus, PaymentType } from '../db/schema.ts';
import { formatAmount } from '../money/wire.ts';
import { findOrdersByIds, type OrderRow } from '../orders/orders.repository.ts';
import type { PaymentMethodRow } from '../payment-methods/payment-methods.repository.ts';
import {
  paymentMethodsByIds,
  toPaymentMethod,
  type PaymentMethod,
} from '../payment-methods/payment-methods.view.ts';
import { auditOf, type AuditFields } from '../shared/audit.ts';
import type { RequestContext } from '../shared/context.ts';
import * as repo from './payments.repository.ts';
import {
  orderRefundableMinor,
  paymentCan,
  refundableMinor,
  type OrderFacts,
  type PaymentAction,
  type PaymentFacts,
} from './payments.rules.ts';

export interface Payment extends AuditFields {
  id: string;
  orderId: string;
  type: PaymentType;
  status: PaymentStatus;
  amount: number;
  custom: boolean;
  methodUid: string | null;
  customerUid: string | null;
  sourcePaymentId: string | null;
  transactionRef: string | null;
  attrs: Record<string, unknown>;
  invoiceId: string | null;
  note: string | null;
  completedAt: string | null;
  reversedAt: string | null;
  /** Receipts only: Σ complete refunds against it. */
  refundedAmount?: number;
  /** Receipts only: what a new refund against it may take now. */
  refundableAmount?: number;
  can: PaymentAction[];
}

export interface OrderPayments {
  items: Payment[];
  paymentMethods: PaymentMethod[];
}

export function paymentFacts(row: repo.PaymentRow): PaymentFacts {
  return {
    type: row.type,
    status: row.status,
    amountMinor: row.amount_minor,
    refundsReservedMinor: row.refunds_reserved_minor,
    liveRefundCount: row.live_refunds,
  };
}

export function orderFacts(ctx: RequestContext, order: OrderRow): OrderFacts {
  return {
    status: order.status,
    totalMinor: order.total_minor,
    paidMinor: order.paid_minor,
    pendingMinor: order.pending_minor,
    pendingRefundsMinor: order.pending_refunds_minor,
    paymentCount: order.payment_count,
    maxPaymentsPerOrder: ctx.organization.maxPaymentsPerOrder,
  };
}

export function toPayment(ctx: RequestContext, row: repo.PaymentRow, order: OrderFacts): Payment {
  const facts = paymentFacts(row);
  const receiptFigures =
    row.type === 'receipt'
      ? {
          refundedAmount: formatAmount(ctx, row.refunded_minor),
          refundableAmount: formatAmount(
            ctx,
            Math.min(refundableMinor(facts), orderRefundableMinor(order)),
          ),
        }
      : {};
  return {
    id: row.id,
    orderId: row.order_id,
    type: row.type,
    status: row.status,
    amount: formatAmount(ctx, row.amount_minor),
    custom: row.custom === 1,
    methodUid: row.method_id,
    customerUid: row.customer_uid,
    sourcePaymentId: row.source_payment_id,
    transactionRef: row.transaction_ref,
    attrs: JSON.parse(row.attrs) as Record<string, unknown>,
    invoiceId: row.invoice_id,
    note: row.note,
    completedAt: row.completed_at,
    reversedAt: row.reversed_at,
    ...receiptFigures,
    can: paymentCan(facts, order, ctx.role),
    ...auditOf(row),
  };
}

/** `{items, paymentMethods}`: payments and the methods they reference (the seed's shape). */
export async function withMethods(
  db: Kysely<DB>,
  ctx: RequestContext,
  items: Payment[],
): Promise<OrderPayments> {
  const methodIds = items.flatMap((p) => (p.methodUid === null ? [] : [p.methodUid]));
  return { items, paymentMethods: await paymentMethodsByIds(db, ctx.organization.id, methodIds) };
}

/** The order's non-deleted payments, newest first, with their methods. */
export async function orderPayments(
  db: Kysely<DB>,
  ctx: RequestContext,
  order: OrderRow,
): Promise<OrderPayments> {
  const { rows, methods } = await repo.findPaymentsOfOrder(db, ctx.organization.id, order.id);
  return orderPaymentsOf(db, ctx, order, rows, methods);
}

/**
 * `{items, paymentMethods}` from the order's payment rows and the method rows read beside
 * them (see `withMethodsFrom`).
 */
export async function orderPaymentsOf(
  db: Kysely<DB>,
  ctx: RequestContext,
  order: OrderRow,
  rows: repo.PaymentRow[],
  methods: PaymentMethodRow[],
): Promise<OrderPayments> {
  const facts = orderFacts(ctx, order);
  return withMethodsFrom(
    db,
    ctx,
    rows.map((row) => toPayment(ctx, row, facts)),
    methods,
  );
}

/**
 * `{items, paymentMethods}` of a page of payments of any orders (GET /payments), from the
 * order and method rows read beside the page (src/db/together.ts). Each of those statements
 * sees the data as of its own start, so should the page have moved between them (a payment
 * created meanwhile pushes one off its end), an order missing from those rows is read on its
 * own; methods as in `withMethodsFrom`.
 */
export async function listedPaymentsOf(
  db: Kysely<DB>,
  ctx: RequestContext,
  rows: repo.PaymentRow[],
  orders: OrderRow[],
  methods: PaymentMethodRow[],
): Promise<OrderPayments> {
  const byId = new Map(orders.map((o) => [o.id, o]));
  const missing = rows.map((r) => r.order_id).filter((id) => !byId.has(id));
  if (missing.length > 0) {
    for (const [id, order] of await findOrdersByIds(db, ctx.organization.id, missing)) {
      byId.set(id, order);
    }
  }
  const facts = new Map([...byId].map(([id, order]) => [id, orderFacts(ctx, order)]));
  return withMethodsFrom(
    db,
    ctx,
    // A payment's order is never deleted, so every row's order is there.
    rows.map((row) => toPayment(ctx, row, facts.get(row.order_id)!)),
    methods,
  );
}

/**
 * `{items, paymentMethods}` from the items and the method rows read beside them: the methods
 * the items use, in the order the items first use them. Should a payment have moved to
 * another method between the two reads (separate statements outside a transaction), its
 * method is read on its own, so the list is never short of one.
 */
async function withMethodsFrom(
  db: Kysely<DB>,
  ctx: RequestContext,
  items: Payment[],
  methods: PaymentMethodRow[],
): Promise<OrderPayments> {
  const byId = new Map(methods.map((m) => [m.id, m]));
  const used = [...new Set(items.flatMap((p) => (p.methodUid === null ? [] : [p.methodUid])))];
  if (used.some((id) => !byId.has(id))) return withMethods(db, ctx, items);
  return { items, paymentMethods: used.map((id) => toPaymentMethod(byId.get(id)!)) };
}
