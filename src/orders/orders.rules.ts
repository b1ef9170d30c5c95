// Pure order rules (API.md §3.2, §4): the status machine, who may do what, and when an order
// is settled. The same predicate guards each action and builds the `can` list, so the list
// and the enforcement cannot drift. No I/O here.
import type { RuleFailure } from '../errors.ts';
import type { Selectable } from 'kysely';
import type { OrderStatus, OrdersTable, Role } from '../db/schema.ts';
import { formatAmount } from '../money/wire.ts';
import type { RequestContext } from '../shared/context.ts';
import { warning, type Warning } from '../shared/warnings.ts';
import { hasRole } from '../shared/roles.ts';

export const ORDER_ACTIONS = ['update', 'close', 'cancel', 'reopen'] as const;
export type OrderAction = (typeof ORDER_ACTIONS)[number];

/** The least role for each action: cashiers run open orders, managers undo and cancel. */
export const ORDER_ACTION_ROLE: Record<OrderAction, Role> = {
  update: 'cashier',
  close: 'cashier',
  cancel: 'manager',
  reopen: 'manager',
};

/** Where each action may start, and where it leads. */
export const ORDER_TRANSITIONS: Record<OrderAction, { from: OrderStatus; to: OrderStatus }> = {
  update: { from: 'open', to: 'open' },
  close: { from: 'open', to: 'closed' },
  cancel: { from: 'open', to: 'canceled' },
  reopen: { from: 'closed', to: 'open' },
};

export interface OrderFigures {
  status: OrderStatus;
  totalMinor: number;
  paidMinor: number;
  /** Σ pending/progress receipts. */
  pendingMinor: number;
  /** Σ pending/progress refunds. */
  pendingRefundsMinor: number;
}

export function balanceDueMinor(order: Pick<OrderFigures, 'totalMinor' | 'paidMinor'>): number {
  return order.totalMinor - order.paidMinor;
}

/** An order row's figures, as the rules read them. */
export function figuresOf(row: Selectable<OrdersTable>): OrderFigures {
  return {
    status: row.status,
    totalMinor: row.total_minor,
    paidMinor: row.paid_minor,
    pendingMinor: row.pending_minor,
    pendingRefundsMinor: row.pending_refunds_minor,
  };
}

/** Warnings about the order's balance after a change (API.md §6.4). */
export function balanceWarnings(ctx: RequestContext, row: Selectable<OrdersTable>): Warning[] {
  const due = balanceDueMinor(figuresOf(row));
  if (due === 0) return [warning('ORDER_FULLY_PAID', { orderId: row.id })];
  if (due < 0)
    return [warning('ORDER_OVERPAID', { orderId: row.id, credit: formatAmount(ctx, -due) })];
  return [];
}

function hasPending(order: OrderFigures): boolean {
  return order.pendingMinor > 0 || order.pendingRefundsMinor > 0;
}

/** The failure an action would meet now, or null when it is allowed. Role first, then state. */
export function checkOrderAction(
  action: OrderAction,
  order: OrderFigures,
  role: Role,
): RuleFailure | null {
  const requiredRole = ORDER_ACTION_ROLE[action];
  if (!hasRole(role, requiredRole)) return { code: 'FORBIDDEN', details: { requiredRole } };
  const { from } = ORDER_TRANSITIONS[action];
  if (order.status !== from) {
    if (order.status === 'canceled') return { code: 'ORDER_CANCELED' };
    if (order.status === 'closed') return { code: 'ORDER_CLOSED' };
    return { code: 'INVALID_STATUS', details: { status: order.status, expected: from } };
  }
  switch (action) {
    case 'close':
      // Settled: nothing in flight and nothing left to pay (API.md §3.2).
      if (hasPending(order) || balanceDueMinor(order) !== 0) {
        return {
          code: 'ORDER_NOT_SETTLED',
          details: { reason: hasPending(order) ? 'pending payments' : 'balance due' },
        };
      }
      return null;
    case 'cancel':
      if (hasPending(order) || order.paidMinor !== 0) {
        return {
          code: 'ORDER_NOT_SETTLED',
          details: { reason: hasPending(order) ? 'pending payments' : 'money received' },
        };
      }
      return null;
    case 'update':
    case 'reopen':
      return null;
  }
}

/** The actions this role may perform on this order now. */
export function orderCan(order: OrderFigures, role: Role): OrderAction[] {
  return ORDER_ACTIONS.filter((action) => checkOrderAction(action, order, role) === null);
}

/**
 * The lowest total an open order may be set to: what is already paid plus what pending
 * receipts reserve, so no receipt ever stands beyond the total.
 */
export function minimumTotalMinor(order: OrderFigures): number {
  return Math.max(1, order.paidMinor + order.pendingMinor);
}
