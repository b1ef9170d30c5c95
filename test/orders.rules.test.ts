// Exhaustive check of the pure order rules against a table written out independently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ROLES, ORDER_STATUSES, type Role } from '../src/db/schema.ts';
import {
  ORDER_ACTIONS,
  checkOrderAction,
  minimumTotalMinor,
  orderCan,
  type OrderAction,
  type OrderFigures,
} from '../src/orders/orders.rules.ts';

const FIGURES = {
  fresh: { totalMinor: 1000, paidMinor: 0, pendingMinor: 0, pendingRefundsMinor: 0 },
  pendingReceipt: { totalMinor: 1000, paidMinor: 0, pendingMinor: 400, pendingRefundsMinor: 0 },
  partlyPaid: { totalMinor: 1000, paidMinor: 400, pendingMinor: 0, pendingRefundsMinor: 0 },
  settled: { totalMinor: 1000, paidMinor: 1000, pendingMinor: 0, pendingRefundsMinor: 0 },
  settledPendingRefund: {
    totalMinor: 1000,
    paidMinor: 1000,
    pendingMinor: 0,
    pendingRefundsMinor: 100,
  },
  overpaid: { totalMinor: 1000, paidMinor: 1200, pendingMinor: 0, pendingRefundsMinor: 0 },
} as const;
type Variant = keyof typeof FIGURES;

const RANK: Record<Role, number> = { viewer: 0, cashier: 1, manager: 2, admin: 3 };

/** The expected outcome, spelled out case by case from API.md §3.2 and §4. */
function expected(
  action: OrderAction,
  status: (typeof ORDER_STATUSES)[number],
  variant: Variant,
  role: Role,
): string {
  const needs = action === 'update' || action === 'close' ? 'cashier' : 'manager';
  if (RANK[role] < RANK[needs]) return 'FORBIDDEN';
  if (action === 'reopen') {
    if (status === 'closed') return 'ok';
    return status === 'canceled' ? 'ORDER_CANCELED' : 'INVALID_STATUS';
  }
  if (status === 'canceled') return 'ORDER_CANCELED';
  if (status === 'closed') return 'ORDER_CLOSED';
  if (action === 'update') return 'ok';
  if (action === 'close') return variant === 'settled' ? 'ok' : 'ORDER_NOT_SETTLED';
  // cancel: nothing received, nothing pending
  return variant === 'fresh' ? 'ok' : 'ORDER_NOT_SETTLED';
}

void test('every (status, figures, role, action) matches the table, and `can` is exactly the allowed actions', () => {
  let cases = 0;
  for (const status of ORDER_STATUSES) {
    for (const variant of Object.keys(FIGURES) as Variant[]) {
      const order: OrderFigures = { status, ...FIGURES[variant] };
      for (const role of ROLES) {
        const allowed: OrderAction[] = [];
        for (const action of ORDER_ACTIONS) {
          const failure = checkOrderAction(action, order, role);
          const outcome = failure === null ? 'ok' : failure.code;
          assert.equal(
            outcome,
            expected(action, status, variant, role),
            `${action} on ${status}/${variant} as ${role}`,
          );
          if (failure === null) allowed.push(action);
          cases++;
        }
        assert.deepEqual(orderCan(order, role), allowed);
      }
    }
  }
  assert.equal(cases, ORDER_STATUSES.length * 6 * ROLES.length * ORDER_ACTIONS.length);
});

void test('the lowest allowed total keeps paid and reserved money inside it', () => {
  assert.equal(minimumTotalMinor({ status: 'open', ...FIGURES.fresh }), 0);
  assert.equal(minimumTotalMinor({ status: 'open', ...FIGURES.pendingReceipt }), 400);
  assert.equal(
    minimumTotalMinor({
      status: 'open',
      totalMinor: 1000,
      paidMinor: 300,
      pendingMinor: 200,
      pendingRefundsMinor: 0,
    }),
    500,
  );
});
