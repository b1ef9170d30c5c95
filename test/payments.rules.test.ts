// Exhaustive check of the pure payment rules (API.md §3.2, §4, §6) against tables written out
// independently of src/payments/payments.rules.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ORDER_STATUSES,
  PAYMENT_STATUSES,
  PAYMENT_TYPES,
  ROLES,
  type OrderStatus,
  type PaymentStatus,
  type PaymentType,
  type Role,
} from '../src/db/schema.ts';
import {
  PAYMENT_ACTIONS,
  canTransition,
  checkPaymentAction,
  contribution,
  moveFigures,
  orderRefundableMinor,
  paymentCan,
  receiptCapacityMinor,
  refundableMinor,
  type Figures,
  type OrderFacts,
  type PaymentAction,
  type PaymentFacts,
} from '../src/payments/payments.rules.ts';

// ---------------------------------------------------------------------------------------
// The situations: what the payment holds, and what the order holds.

/** Payment-side variants (refund totals only mean something on receipts). */
const PAYMENT_VARIANTS = {
  noRefunds: { amountMinor: 500, refundsReservedMinor: 0, liveRefundCount: 0 },
  liveRefunds: { amountMinor: 500, refundsReservedMinor: 200, liveRefundCount: 1 },
  fullyRefunded: { amountMinor: 500, refundsReservedMinor: 500, liveRefundCount: 2 },
} as const;
type PaymentVariant = keyof typeof PAYMENT_VARIANTS;

/** Order-side variants. */
const ORDER_VARIANTS = {
  roomy: {
    totalMinor: 2000,
    paidMinor: 800,
    pendingMinor: 300,
    pendingRefundsMinor: 100,
    paymentCount: 4,
    maxPaymentsPerOrder: 100,
  },
  atMaxPayments: {
    totalMinor: 2000,
    paidMinor: 800,
    pendingMinor: 0,
    pendingRefundsMinor: 0,
    paymentCount: 10,
    maxPaymentsPerOrder: 10,
  },
  nothingRefundable: {
    totalMinor: 2000,
    paidMinor: 600,
    pendingMinor: 0,
    pendingRefundsMinor: 600,
    paymentCount: 5,
    maxPaymentsPerOrder: 100,
  },
  /** What the order kept (paid − pending refunds) is exactly one receipt of 500. */
  keptExactlyOneReceipt: {
    totalMinor: 2000,
    paidMinor: 700,
    pendingMinor: 0,
    pendingRefundsMinor: 200,
    paymentCount: 5,
    maxPaymentsPerOrder: 100,
  },
} as const;
type OrderVariant = keyof typeof ORDER_VARIANTS;

// ---------------------------------------------------------------------------------------
// The expected outcomes, spelled out from API.md §4/§6 and the decisions of the brief:
//  - viewers read only;
//  - cashiers confirm, update and delete payments that are still in flight, and create
//    refunds, only while the order is open;
//  - managers (and admins) may do everything, except on canceled orders;
//  - update of a complete payment (metadata), correct and reverse need a manager;
//  - order of the checks: role, then canceled order, then status, then amounts;
//  - (commit 87a8592) reversing a receipt may not leave the order having returned more than
//    it kept: paid − amount ≥ pending refunds, else LIMIT_REACHED (limit orderRefunded).

const MANAGERS: readonly Role[] = ['manager', 'admin'];
const STAFF: readonly Role[] = ['cashier', 'manager', 'admin'];

/** The least role for an action in this situation (FORBIDDEN below it). */
function leastRole(action: PaymentAction, status: PaymentStatus, order: OrderStatus): Role {
  const inFlight = status === 'pending' || status === 'progress';
  const openOrder = order === 'open';
  switch (action) {
    case 'confirm':
      return openOrder ? 'cashier' : 'manager';
    case 'delete':
      return openOrder ? 'cashier' : 'manager';
    case 'refund':
      return openOrder ? 'cashier' : 'manager';
    case 'update':
      // Cashiers edit in-flight payments of open orders; anything else is a manager's.
      return openOrder && inFlight ? 'cashier' : 'manager';
    case 'correct':
      return 'manager';
    case 'reverse':
      return 'manager';
  }
}

function roleSuffices(role: Role, least: Role): boolean {
  if (least === 'cashier') return STAFF.includes(role);
  if (least === 'manager') return MANAGERS.includes(role);
  return role === least;
}

function expected(
  action: PaymentAction,
  type: PaymentType,
  status: PaymentStatus,
  orderStatus: OrderStatus,
  pv: PaymentVariant,
  ov: OrderVariant,
  role: Role,
): string {
  const least = leastRole(action, status, orderStatus);
  if (!roleSuffices(role, least)) return `FORBIDDEN:${least}`;
  if (orderStatus === 'canceled') return 'ORDER_CANCELED';
  switch (action) {
    case 'confirm':
      // Offered only while there is something to confirm (§3.5.4).
      return status === 'pending' || status === 'progress' ? 'ok' : 'INVALID_STATUS';
    case 'delete':
      // Only payments that never completed (§3.5.2).
      return status === 'pending' || status === 'progress' ? 'ok' : 'INVALID_STATUS';
    case 'update':
      // pending/progress: anything; complete: metadata; reversed is terminal (§3.5.3, §6.1).
      return status === 'reversed' ? 'INVALID_STATUS' : 'ok';
    case 'correct':
      return status === 'complete' ? 'ok' : 'INVALID_STATUS';
    case 'reverse':
      if (status !== 'complete') return 'INVALID_STATUS';
      // A receipt with pending/progress/complete refunds cannot be reversed (§6.1).
      if (type === 'receipt' && (pv === 'liveRefunds' || pv === 'fullyRefunded'))
        return 'INVALID_STATUS';
      // What the order kept after taking this receipt of 500 back (refunds without a source
      // are covered by the order as a whole).
      if (type === 'receipt') {
        const keptAfter = {
          roomy: 800 - 100,
          atMaxPayments: 800 - 0,
          nothingRefundable: 600 - 600,
          keptExactlyOneReceipt: 700 - 200,
        }[ov];
        if (keptAfter - 500 < 0) return 'LIMIT_REACHED:orderRefunded';
      }
      return 'ok';
    case 'refund': {
      if (type !== 'receipt' || status !== 'complete') return 'INVALID_STATUS';
      if (ov === 'atMaxPayments') return 'LIMIT_REACHED:maxPaymentsPerOrder';
      // What the receipt still lets go: 500 − reserved; what the order lets go: paid − pending refunds.
      const fromReceipt = { noRefunds: 500, liveRefunds: 300, fullyRefunded: 0 }[pv];
      const fromOrder = {
        roomy: 700,
        atMaxPayments: 800,
        nothingRefundable: 0,
        keptExactlyOneReceipt: 500,
      }[ov];
      return Math.min(fromReceipt, fromOrder) > 0 ? 'ok' : 'LIMIT_REACHED:refundable';
    }
  }
}

function outcomeOf(action: PaymentAction, p: PaymentFacts, o: OrderFacts, role: Role): string {
  const failure = checkPaymentAction(action, p, o, role);
  if (failure === null) return 'ok';
  if (failure.code === 'FORBIDDEN') return `FORBIDDEN:${String(failure.details?.requiredRole)}`;
  if (failure.code === 'LIMIT_REACHED') return `LIMIT_REACHED:${String(failure.details?.limit)}`;
  return failure.code;
}

void test('every (type, status, order status, role, action, variant) matches the table, and `can` is exactly the allowed actions', () => {
  let cases = 0;
  let canLists = 0;
  const seen = new Map<string, number>();
  for (const type of PAYMENT_TYPES) {
    for (const status of PAYMENT_STATUSES) {
      for (const pv of Object.keys(PAYMENT_VARIANTS) as PaymentVariant[]) {
        const payment: PaymentFacts = { type, status, ...PAYMENT_VARIANTS[pv] };
        for (const orderStatus of ORDER_STATUSES) {
          for (const ov of Object.keys(ORDER_VARIANTS) as OrderVariant[]) {
            const order: OrderFacts = { status: orderStatus, ...ORDER_VARIANTS[ov] };
            for (const role of ROLES) {
              const allowed: PaymentAction[] = [];
              for (const action of PAYMENT_ACTIONS) {
                const want = expected(action, type, status, orderStatus, pv, ov, role);
                const got = outcomeOf(action, payment, order, role);
                assert.equal(
                  got,
                  want,
                  `${action} on a ${status} ${type} (${pv}) of a ${orderStatus} order (${ov}) as ${role}`,
                );
                if (want === 'ok') allowed.push(action);
                seen.set(want, (seen.get(want) ?? 0) + 1);
                cases++;
              }
              assert.deepEqual(
                paymentCan(payment, order, role),
                allowed,
                `can of a ${status} ${type} (${pv}) on a ${orderStatus} order (${ov}) as ${role}`,
              );
              canLists++;
            }
          }
        }
      }
    }
  }
  const variants = Object.keys(PAYMENT_VARIANTS).length * Object.keys(ORDER_VARIANTS).length;
  assert.equal(
    cases,
    PAYMENT_TYPES.length *
      PAYMENT_STATUSES.length *
      ORDER_STATUSES.length *
      ROLES.length *
      PAYMENT_ACTIONS.length *
      variants,
  );
  assert.equal(cases, 6912);
  assert.equal(canLists, 1152);
  // Every outcome of the table was met at least once (the variants are not dead weight).
  assert.deepEqual([...seen.keys()].sort(), [
    'FORBIDDEN:cashier',
    'FORBIDDEN:manager',
    'INVALID_STATUS',
    'LIMIT_REACHED:maxPaymentsPerOrder',
    'LIMIT_REACHED:orderRefunded',
    'LIMIT_REACHED:refundable',
    'ORDER_CANCELED',
    'ok',
  ]);
});

void test('a few rows of the table, spelled out', () => {
  const receipt = (status: PaymentStatus, pv: PaymentVariant = 'noRefunds'): PaymentFacts => ({
    type: 'receipt',
    status,
    ...PAYMENT_VARIANTS[pv],
  });
  const order = (status: OrderStatus, ov: OrderVariant = 'roomy'): OrderFacts => ({
    status,
    ...ORDER_VARIANTS[ov],
  });
  assert.deepEqual(paymentCan(receipt('pending'), order('open'), 'cashier'), [
    'confirm',
    'update',
    'delete',
  ]);
  assert.deepEqual(paymentCan(receipt('complete'), order('open'), 'cashier'), ['refund']);
  assert.deepEqual(paymentCan(receipt('complete'), order('open'), 'manager'), [
    'update',
    'correct',
    'reverse',
    'refund',
  ]);
  assert.deepEqual(paymentCan(receipt('complete', 'liveRefunds'), order('closed'), 'admin'), [
    'update',
    'correct',
    'refund',
  ]);
  // Taking back a receipt the order's pending refunds still lean on is refused; a refund is not.
  assert.deepEqual(paymentCan(receipt('complete'), order('open', 'nothingRefundable'), 'manager'), [
    'update',
    'correct',
  ]);
  assert.deepEqual(
    paymentCan(
      { type: 'refund', status: 'complete', ...PAYMENT_VARIANTS.noRefunds },
      order('open', 'nothingRefundable'),
      'manager',
    ),
    ['update', 'correct', 'reverse'],
  );
  assert.deepEqual(paymentCan(receipt('complete'), order('closed'), 'cashier'), []);
  assert.deepEqual(paymentCan(receipt('complete'), order('canceled'), 'admin'), []);
  assert.deepEqual(paymentCan(receipt('reversed'), order('open'), 'admin'), []);
  assert.deepEqual(paymentCan(receipt('pending'), order('open'), 'viewer'), []);
});

// ---------------------------------------------------------------------------------------
// §6.1 transitions.

/** pending → progress → complete → reversed; pending → complete; staying put is a no-op. */
const ALLOWED_MOVES = new Set([
  'pending>pending',
  'pending>progress',
  'pending>complete',
  'progress>progress',
  'progress>complete',
  'complete>complete',
  'complete>reversed',
  'reversed>reversed',
]);

void test('canTransition: every (from, to) pair against §6.1', () => {
  let cases = 0;
  for (const from of PAYMENT_STATUSES) {
    for (const to of PAYMENT_STATUSES) {
      assert.equal(canTransition(from, to), ALLOWED_MOVES.has(`${from}>${to}`), `${from} → ${to}`);
      cases++;
    }
  }
  assert.equal(cases, 16);
});

// ---------------------------------------------------------------------------------------
// §3.2 figures.

interface Held {
  type: PaymentType;
  status: PaymentStatus;
  amountMinor: number;
}

/** The order's figures recomputed from scratch from the payments it holds (§3.2). */
function figuresFrom(payments: readonly Held[]): Figures {
  const sum = (type: PaymentType, statuses: PaymentStatus[]) =>
    payments
      .filter((p) => p.type === type && statuses.includes(p.status))
      .reduce((s, p) => s + p.amountMinor, 0);
  return {
    paidMinor: sum('receipt', ['complete']) - sum('refund', ['complete']),
    refundedMinor: sum('refund', ['complete']),
    pendingMinor: sum('receipt', ['pending', 'progress']),
    pendingRefundsMinor: sum('refund', ['pending', 'progress']),
  };
}

/** What one payment alone makes of an empty order's figures, written out per (type, status). */
const ALONE: Record<PaymentType, Record<PaymentStatus, (a: number) => Figures>> = {
  receipt: {
    pending: (a) => ({ paidMinor: 0, refundedMinor: 0, pendingMinor: a, pendingRefundsMinor: 0 }),
    progress: (a) => ({ paidMinor: 0, refundedMinor: 0, pendingMinor: a, pendingRefundsMinor: 0 }),
    complete: (a) => ({ paidMinor: a, refundedMinor: 0, pendingMinor: 0, pendingRefundsMinor: 0 }),
    reversed: () => ({ paidMinor: 0, refundedMinor: 0, pendingMinor: 0, pendingRefundsMinor: 0 }),
  },
  refund: {
    pending: (a) => ({ paidMinor: 0, refundedMinor: 0, pendingMinor: 0, pendingRefundsMinor: a }),
    progress: (a) => ({ paidMinor: 0, refundedMinor: 0, pendingMinor: 0, pendingRefundsMinor: a }),
    complete: (a) => ({ paidMinor: -a, refundedMinor: a, pendingMinor: 0, pendingRefundsMinor: 0 }),
    reversed: () => ({ paidMinor: 0, refundedMinor: 0, pendingMinor: 0, pendingRefundsMinor: 0 }),
  },
};

/** Others on the order, so a move is checked against a non-trivial starting point. */
const OTHERS: Held[] = [
  { type: 'receipt', status: 'complete', amountMinor: 1200 },
  { type: 'receipt', status: 'pending', amountMinor: 150 },
  { type: 'receipt', status: 'reversed', amountMinor: 70 },
  { type: 'refund', status: 'complete', amountMinor: 200 },
  { type: 'refund', status: 'progress', amountMinor: 90 },
  { type: 'refund', status: 'reversed', amountMinor: 33 },
];

void test('contribution and moveFigures against §3.2 for every (type, status), and every move', () => {
  let cases = 0;
  for (const type of PAYMENT_TYPES) {
    for (const status of PAYMENT_STATUSES) {
      assert.deepEqual(
        contribution(type, status, 437),
        ALONE[type][status](437),
        `${status} ${type}`,
      );
      assert.deepEqual(
        contribution(type, status, 437),
        figuresFrom([{ type, status, amountMinor: 437 }]),
      );
      cases++;
    }
  }
  assert.equal(cases, 8);

  // Every move of one payment: absent → status, status → status' (amount changing too),
  // status → absent (deleted), on top of the others; the result must be the recomputed sums.
  const states: (PaymentStatus | null)[] = [null, ...PAYMENT_STATUSES];
  const base = figuresFrom(OTHERS);
  for (const type of PAYMENT_TYPES) {
    for (const from of states) {
      for (const to of states) {
        const before = from === null ? null : { type, status: from, amountMinor: 300 };
        const after = to === null ? null : { type, status: to, amountMinor: 450 };
        const start = before === null ? base : figuresFrom([...OTHERS, before]);
        const want = figuresFrom(after === null ? OTHERS : [...OTHERS, after]);
        assert.deepEqual(moveFigures(start, before, after), want, `${type}: ${from} → ${to}`);
        cases++;
      }
    }
  }
  assert.equal(cases, 8 + 2 * 5 * 5);
});

void test('limits: refundable, order refundable and receipt capacity', () => {
  let cases = 0;
  for (const type of PAYMENT_TYPES) {
    for (const status of PAYMENT_STATUSES) {
      for (const pv of Object.keys(PAYMENT_VARIANTS) as PaymentVariant[]) {
        const facts: PaymentFacts = { type, status, ...PAYMENT_VARIANTS[pv] };
        const want =
          type === 'receipt' && status === 'complete'
            ? { noRefunds: 500, liveRefunds: 300, fullyRefunded: 0 }[pv]
            : 0;
        assert.equal(refundableMinor(facts), want, `${status} ${type} (${pv})`);
        cases++;
      }
    }
  }
  const order = (paid: number, pending: number, pendingRefunds: number): OrderFacts => ({
    status: 'open',
    totalMinor: 1000,
    paidMinor: paid,
    pendingMinor: pending,
    pendingRefundsMinor: pendingRefunds,
    paymentCount: 0,
    maxPaymentsPerOrder: 100,
  });
  const table: [number, number, number, number, number][] = [
    // paid, pending, pendingRefunds → orderRefundable, receiptCapacity
    [0, 0, 0, 0, 1000],
    [400, 0, 0, 400, 600],
    [400, 200, 100, 300, 400],
    [1000, 0, 1000, 0, 0],
    [1200, 0, 0, 1200, 0], // overpaid: no room, not negative room
    [300, 0, 500, 0, 700], // never negative
  ];
  for (const [paid, pending, pendingRefunds, refundable, capacity] of table) {
    const o = order(paid, pending, pendingRefunds);
    assert.equal(orderRefundableMinor(o), refundable, `refundable ${paid}/${pendingRefunds}`);
    assert.equal(receiptCapacityMinor(o), capacity, `capacity ${paid}/${pending}`);
    cases += 2;
  }
  assert.equal(cases, 2 * 4 * 3 + 12);
});
