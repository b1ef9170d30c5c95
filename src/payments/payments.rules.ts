// Pure payment rules (API.md §4, §6): the transition table, who may do what, the limits,
// and how each change moves the order's figures. The same predicates guard the actions and
// build the `can` list. No I/O here.
import type { RuleFailure } from '../errors.ts';
import type { OrderStatus, PaymentStatus, PaymentType, Role } from '../db/schema.ts';
import { hasRole } from '../shared/roles.ts';

export const PAYMENT_ACTIONS = [
  'confirm',
  'update',
  'correct',
  'delete',
  'reverse',
  'refund',
] as const;
export type PaymentAction = (typeof PAYMENT_ACTIONS)[number];

/** §6.1: pending → progress → complete → reversed; pending → complete. Nothing moves back. */
const NEXT: Record<PaymentStatus, readonly PaymentStatus[]> = {
  pending: ['progress', 'complete'],
  progress: ['complete'],
  complete: ['reversed'],
  reversed: [],
};

/** Whether `from → to` is allowed. Staying in the same state is a no-op, hence allowed. */
export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
  return from === to || NEXT[from].includes(to);
}

/** Statuses a payment may be created in (§3.5: never reversed). */
export function canCreateAs(status: PaymentStatus): boolean {
  return status !== 'reversed';
}

export const isLive = (status: PaymentStatus): boolean => status !== 'reversed';
export const isInFlight = (status: PaymentStatus): boolean =>
  status === 'pending' || status === 'progress';

/** What the rules need to know about a payment. Amounts are minor units. */
export interface PaymentFacts {
  type: PaymentType;
  status: PaymentStatus;
  amountMinor: number;
  /** For receipts: Σ amounts of its refunds in pending/progress/complete. */
  refundsReservedMinor: number;
  /** For receipts: how many refunds in pending/progress/complete it has. */
  liveRefundCount: number;
}

export interface OrderFacts {
  status: OrderStatus;
  totalMinor: number;
  paidMinor: number;
  pendingMinor: number;
  pendingRefundsMinor: number;
  paymentCount: number;
  maxPaymentsPerOrder: number;
}

const forbidden = (requiredRole: Role): RuleFailure => ({
  code: 'FORBIDDEN',
  details: { requiredRole },
});

/**
 * §4: cashiers work on open orders and on payments not complete yet; managers may also
 * touch complete payments (update their metadata, correct, reverse) and closed orders.
 */
function roleFor(action: PaymentAction, payment: PaymentFacts, order: OrderFacts): Role {
  switch (action) {
    case 'confirm':
    case 'delete':
      return order.status === 'open' ? 'cashier' : 'manager';
    case 'update':
      return order.status === 'open' && isInFlight(payment.status) ? 'cashier' : 'manager';
    case 'refund':
      return order.status === 'open' ? 'cashier' : 'manager';
    case 'correct':
    case 'reverse':
      return 'manager';
  }
}

/** What a refund against this receipt may still take (§6.2), ignoring the order's cap. */
export function refundableMinor(receipt: PaymentFacts): number {
  if (receipt.type !== 'receipt' || receipt.status !== 'complete') return 0;
  return Math.max(0, receipt.amountMinor - receipt.refundsReservedMinor);
}

/** What the order still lets new refunds take: received money not already being returned. */
export function orderRefundableMinor(order: OrderFacts): number {
  return Math.max(0, order.paidMinor - order.pendingRefundsMinor);
}

/** Room for new receipts: pending receipts reserve room (§6.2). */
export function receiptCapacityMinor(order: OrderFacts): number {
  return Math.max(0, order.totalMinor - order.paidMinor - order.pendingMinor);
}

/**
 * The failure an action on an existing payment would meet now, or null when allowed.
 * Role first, then the order's state, then the payment's status, then amounts.
 */
export function checkPaymentAction(
  action: PaymentAction,
  payment: PaymentFacts,
  order: OrderFacts,
  role: Role,
): RuleFailure | null {
  const required = roleFor(action, payment, order);
  if (!hasRole(role, required)) return forbidden(required);
  if (order.status === 'canceled') return { code: 'ORDER_CANCELED' };
  switch (action) {
    case 'confirm':
      // Confirming a complete payment again succeeds as a no-op (ALREADY_COMPLETE) but is
      // not offered in `can`: there is nothing left to do.
      return isInFlight(payment.status)
        ? null
        : invalidStatus(payment.status, ['pending', 'progress']);
    case 'update':
      return payment.status === 'reversed'
        ? invalidStatus(payment.status, ['pending', 'progress', 'complete'])
        : null;
    case 'delete':
      return isInFlight(payment.status)
        ? null
        : invalidStatus(payment.status, ['pending', 'progress']);
    case 'correct':
      return payment.status === 'complete' ? null : invalidStatus(payment.status, ['complete']);
    case 'reverse':
      if (payment.status !== 'complete') return invalidStatus(payment.status, ['complete']);
      if (payment.type === 'receipt' && payment.liveRefundCount > 0) {
        return {
          code: 'INVALID_STATUS',
          details: { reason: 'the receipt has refunds', refunds: payment.liveRefundCount },
        };
      }
      // Refunds without a source are covered by the order's received money as a whole:
      // taking a receipt back may not leave the order having returned more than it kept.
      if (
        payment.type === 'receipt' &&
        order.paidMinor - payment.amountMinor < order.pendingRefundsMinor
      ) {
        return {
          code: 'LIMIT_REACHED',
          details: {
            limit: 'orderRefunded',
            availableMinor: Math.max(0, order.paidMinor - order.pendingRefundsMinor),
          },
        };
      }
      return null;
    case 'refund': {
      if (payment.type !== 'receipt' || payment.status !== 'complete') {
        return {
          code: 'INVALID_STATUS',
          details: { reason: 'refunds need a complete receipt as source' },
        };
      }
      if (order.paymentCount >= order.maxPaymentsPerOrder) return countLimit(order);
      const available = Math.min(refundableMinor(payment), orderRefundableMinor(order));
      if (available <= 0)
        return { code: 'LIMIT_REACHED', details: { limit: 'refundable', availableMinor: 0 } };
      return null;
    }
  }
}

function invalidStatus(status: PaymentStatus, expected: PaymentStatus[]): RuleFailure {
  return { code: 'INVALID_STATUS', details: { status, expected } };
}

export function countLimit(order: OrderFacts): RuleFailure {
  return {
    code: 'LIMIT_REACHED',
    details: { limit: 'maxPaymentsPerOrder', max: order.maxPaymentsPerOrder, availableMinor: 0 },
  };
}

/** The actions this role may perform on this payment now. */
export function paymentCan(payment: PaymentFacts, order: OrderFacts, role: Role): PaymentAction[] {
  return PAYMENT_ACTIONS.filter(
    (action) => checkPaymentAction(action, payment, order, role) === null,
  );
}

// ---------------------------------------------------------------------------------------
// Figures: how a payment's existence in a status counts toward its order (§3.2).

export interface Figures {
  paidMinor: number;
  refundedMinor: number;
  pendingMinor: number;
  pendingRefundsMinor: number;
}

export const ZERO_FIGURES: Figures = {
  paidMinor: 0,
  refundedMinor: 0,
  pendingMinor: 0,
  pendingRefundsMinor: 0,
};

/** What one payment contributes to its order's figures. Deleted payments contribute nothing. */
export function contribution(
  type: PaymentType,
  status: PaymentStatus,
  amountMinor: number,
): Figures {
  if (type === 'receipt') {
    if (status === 'complete') return { ...ZERO_FIGURES, paidMinor: amountMinor };
    if (isInFlight(status)) return { ...ZERO_FIGURES, pendingMinor: amountMinor };
    return ZERO_FIGURES;
  }
  if (status === 'complete')
    return { ...ZERO_FIGURES, paidMinor: -amountMinor, refundedMinor: amountMinor };
  if (isInFlight(status)) return { ...ZERO_FIGURES, pendingRefundsMinor: amountMinor };
  return ZERO_FIGURES;
}

/** The order's figures after one payment moves from `before` to `after` (null: absent). */
export function moveFigures(
  figures: Figures,
  before: { type: PaymentType; status: PaymentStatus; amountMinor: number } | null,
  after: { type: PaymentType; status: PaymentStatus; amountMinor: number } | null,
): Figures {
  const minus =
    before === null ? ZERO_FIGURES : contribution(before.type, before.status, before.amountMinor);
  const plus =
    after === null ? ZERO_FIGURES : contribution(after.type, after.status, after.amountMinor);
  return {
    paidMinor: figures.paidMinor - minus.paidMinor + plus.paidMinor,
    refundedMinor: figures.refundedMinor - minus.refundedMinor + plus.refundedMinor,
    pendingMinor: figures.pendingMinor - minus.pendingMinor + plus.pendingMinor,
    pendingRefundsMinor:
      figures.pendingRefundsMinor - minus.pendingRefundsMinor + plus.pendingRefundsMinor,
  };
}

/** The event an update records (API.md §7): a reversal or a confirmation by status, else a
 * correction when money fields of a complete payment changed, else a plain update. */
export function updateEventType(
  from: PaymentStatus,
  to: PaymentStatus,
  isCorrection: boolean,
): 'payment.reversed' | 'payment.corrected' | 'payment.confirmed' | 'payment.updated' {
  if (to === 'reversed' && from !== 'reversed') return 'payment.reversed';
  if (isCorrection) return 'payment.corrected';
  if (to === 'complete' && from !== 'complete') return 'payment.confirmed';
  return 'payment.updated';
}
