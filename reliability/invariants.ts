// Invariants of an order and its payments, checked on the stored rows (not through the
// service's own code), so any test that drives payments can assert them after each step.
// Each check returns readable violations; an empty list means the order is consistent.
import type { Kysely } from 'kysely';
import type { DB, PaymentStatus } from '../src/db/schema.ts';

/** Statuses §6.1 lets a payment move between (same → same is a no-op, hence allowed). */
const NEXT: Record<PaymentStatus, readonly PaymentStatus[]> = {
  pending: ['pending', 'progress', 'complete'],
  progress: ['progress', 'complete'],
  complete: ['complete', 'reversed'],
  reversed: ['reversed'],
};

/** An integer of minor units as an exact decimal string in major units (1234, 3 → "1.234"). */
export function minorToDecimal(minor: number, exponent: number): string {
  if (!Number.isSafeInteger(minor)) throw new RangeError(`not a safe integer: ${minor}`);
  const sign = minor < 0 ? '-' : '';
  const digits = String(Math.abs(minor));
  if (exponent === 0) return sign + digits;
  const padded = digits.padStart(exponent + 1, '0');
  return `${sign}${padded.slice(0, -exponent)}.${padded.slice(-exponent)}`;
}

/** The same amount as the JSON number the wire carries (parsing a decimal string: no float maths). */
export function minorToWire(minor: number, exponent: number): number {
  return Number(minorToDecimal(minor, exponent));
}

export interface StoredFigures {
  status: string;
  totalMinor: number;
  paidMinor: number;
  refundedMinor: number;
  pendingMinor: number;
  pendingRefundsMinor: number;
  paymentCount: number;
}

/** The order's stored figures, or undefined if there is no such order. */
export async function storedFigures(
  db: Kysely<DB>,
  organizationId: string,
  orderId: string,
): Promise<StoredFigures | undefined> {
  const order = await db
    .selectFrom('orders')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('id', '=', orderId)
    .executeTakeFirst();
  if (order === undefined) return undefined;
  return {
    status: order.status,
    totalMinor: Number(order.total_minor),
    paidMinor: Number(order.paid_minor),
    refundedMinor: Number(order.refunded_minor),
    pendingMinor: Number(order.pending_minor),
    pendingRefundsMinor: Number(order.pending_refunds_minor),
    paymentCount: Number(order.payment_count),
  };
}

/**
 * (c, stateful part) A change to a receipt never takes `paid + pending` over the total when
 * it was within it before. Refund reversals may legitimately overpay an order, so this is
 * checked per step by the caller, not in `checkOrderInvariants`.
 */
export function receiptHeadroomViolation(
  before: StoredFigures,
  after: StoredFigures,
): string | null {
  const was = before.paidMinor + before.pendingMinor;
  const is = after.paidMinor + after.pendingMinor;
  if (was <= before.totalMinor && is > after.totalMinor) {
    return `a receipt change broke paid + pending ≤ total: ${after.paidMinor} + ${after.pendingMinor} > ${after.totalMinor} (was ${was})`;
  }
  return null;
}

/**
 * Everything that must hold for one order at rest:
 *  (a) the order's stored figures are the sums of its non-deleted payments (API.md §3.2);
 *  (b) each receipt's refund totals are the sums of its non-deleted refunds, within its
 *      amount; each live refund's source is a complete receipt of the same order;
 *  (c) paid − pending refunds ≥ 0 (refunds never exceed what was received), figures ≥ 0;
 *  (d) each payment's event history (ordered by event id: time-ordered UUIDv7) is a path of
 *      §6.1, ending in its current state and amount; a deletion is its last event.
 */
export async function checkOrderInvariants(
  db: Kysely<DB>,
  organizationId: string,
  orderId: string,
): Promise<string[]> {
  const violations: string[] = [];
  const organization = await db
    .selectFrom('organizations')
    .select('currency_exponent')
    .where('id', '=', organizationId)
    .executeTakeFirst();
  const order = await storedFigures(db, organizationId, orderId);
  if (organization === undefined || order === undefined) return ['the order does not exist'];
  const exponent = Number(organization.currency_exponent);

  const rows = (
    await db
      .selectFrom('payments')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('order_id', '=', orderId)
      .orderBy('id')
      .execute()
  ).map((row) => ({
    ...row,
    amount_minor: Number(row.amount_minor),
    refunded_minor: Number(row.refunded_minor),
    refunds_reserved_minor: Number(row.refunds_reserved_minor),
    live_refunds: Number(row.live_refunds),
  }));
  const live = rows.filter((p) => p.deleted_at === null);
  const sum = (type: 'receipt' | 'refund', statuses: PaymentStatus[]) =>
    live
      .filter((p) => p.type === type && statuses.includes(p.status))
      .reduce((s, p) => s + p.amount_minor, 0);

  // (a)
  const want = {
    paidMinor: sum('receipt', ['complete']) - sum('refund', ['complete']),
    refundedMinor: sum('refund', ['complete']),
    pendingMinor: sum('receipt', ['pending', 'progress']),
    pendingRefundsMinor: sum('refund', ['pending', 'progress']),
    paymentCount: live.length,
  };
  for (const [key, value] of Object.entries(want) as [keyof typeof want, number][]) {
    if (order[key] !== value)
      violations.push(`(a) order ${key} is ${order[key]}, the payments make ${value}`);
  }

  // (b)
  const byId = new Map(rows.map((p) => [p.id, p]));
  for (const p of live) {
    const name = `${p.type} ${p.id} (${p.status}, ${p.amount_minor})`;
    if (p.type === 'receipt') {
      const refunds = live.filter((r) => r.type === 'refund' && r.source_payment_id === p.id);
      const holding = refunds.filter((r) => r.status !== 'reversed');
      const reserved = holding.reduce((s, r) => s + r.amount_minor, 0);
      const refunded = refunds
        .filter((r) => r.status === 'complete')
        .reduce((s, r) => s + r.amount_minor, 0);
      if (p.refunds_reserved_minor !== reserved)
        violations.push(
          `(b) ${name}: refunds_reserved_minor ${p.refunds_reserved_minor}, its refunds make ${reserved}`,
        );
      if (p.refunded_minor !== refunded)
        violations.push(
          `(b) ${name}: refunded_minor ${p.refunded_minor}, its complete refunds make ${refunded}`,
        );
      if (p.live_refunds !== holding.length)
        violations.push(`(b) ${name}: live_refunds ${p.live_refunds}, counted ${holding.length}`);
      if (p.refunds_reserved_minor > p.amount_minor)
        violations.push(`(b) ${name}: refunds reserve ${p.refunds_reserved_minor} > amount`);
    } else {
      if (p.refunds_reserved_minor !== 0 || p.refunded_minor !== 0 || p.live_refunds !== 0)
        violations.push(`(b) ${name}: a refund carries refund totals`);
      if (p.source_payment_id !== null && p.status !== 'reversed') {
        const source = byId.get(p.source_payment_id);
        if (
          source === undefined ||
          source.deleted_at !== null ||
          source.type !== 'receipt' ||
          source.status !== 'complete'
        ) {
          violations.push(
            `(b) ${name}: its source ${p.source_payment_id} is not a complete receipt of the order (${source === undefined ? 'absent' : `${source.type} ${source.status}${source.deleted_at === null ? '' : ' deleted'}`})`,
          );
        }
      }
    }
  }

  // (c)
  if (order.paidMinor - order.pendingRefundsMinor < 0)
    violations.push(
      `(c) paid − pending refunds < 0: ${order.paidMinor} − ${order.pendingRefundsMinor} (refunds exceed what was received)`,
    );
  for (const key of ['refundedMinor', 'pendingMinor', 'pendingRefundsMinor'] as const) {
    if (order[key] < 0) violations.push(`(c) order ${key} is negative: ${order[key]}`);
  }

  // (d)
  const events =
    rows.length === 0
      ? []
      : await db
          .selectFrom('events')
          .select(['id', 'type', 'entity_id', 'data'])
          .where('organization_id', '=', organizationId)
          .where('entity_type', '=', 'payment')
          .where(
            'entity_id',
            'in',
            rows.map((p) => p.id),
          )
          .orderBy('id')
          .execute();
  for (const p of rows) {
    const history = events.filter((e) => e.entity_id === p.id);
    const name = `payment ${p.id}`;
    if (history.length === 0) {
      violations.push(`(d) ${name} has no events`);
      continue;
    }
    const states = history.map((e) => (JSON.parse(e.data) as { status: PaymentStatus }).status);
    if (history[0]!.type !== 'payment.created')
      violations.push(`(d) ${name}: first event is ${history[0]!.type}`);
    if (states[0] === 'reversed') violations.push(`(d) ${name}: created reversed`);
    for (let i = 1; i < states.length; i++) {
      if (!NEXT[states[i - 1]!].includes(states[i]!))
        violations.push(
          `(d) ${name}: history moves ${states[i - 1]} → ${states[i]} (${history[i]!.type})`,
        );
    }
    const last = JSON.parse(history[history.length - 1]!.data) as {
      status: string;
      amount: number;
    };
    if (last.status !== p.status)
      violations.push(`(d) ${name}: last event says ${last.status}, the row ${p.status}`);
    if (last.amount !== minorToWire(p.amount_minor, exponent))
      violations.push(
        `(d) ${name}: last event says amount ${last.amount}, the row ${p.amount_minor}`,
      );
    const deletions = history.filter((e) => e.type === 'payment.deleted').length;
    if ((p.deleted_at !== null ? 1 : 0) !== deletions)
      violations.push(`(d) ${name}: deleted_at ${p.deleted_at}, ${deletions} deletion events`);
    if (p.deleted_at !== null && history[history.length - 1]!.type !== 'payment.deleted')
      violations.push(`(d) ${name}: an event after its deletion`);
  }
  return violations;
}

/**
 * Every invariant over a whole database: each order's (above), and that no row refers to a
 * row of another organization (a payment's method, invoice and source; an invoice's
 * reference; an api key's organizations are real).
 */
export async function checkDatabaseInvariants(db: Kysely<DB>): Promise<string[]> {
  const violations: string[] = [];
  const orders = await db.selectFrom('orders').select(['organization_id', 'id']).execute();
  for (const order of orders) {
    violations.push(...(await checkOrderInvariants(db, order.organization_id, order.id)));
  }
  const foreign = async (label: string, query: Promise<{ id: string }[]>) => {
    for (const row of await query) violations.push(`(r) ${label}: ${row.id}`);
  };
  await foreign(
    'payment uses a method of no / another organization',
    db
      .selectFrom('payments as p')
      .select('p.id')
      .where('p.method_id', 'is not', null)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('payment_methods as m')
              .select('m.id')
              .whereRef('m.organization_id', '=', 'p.organization_id')
              .whereRef('m.id', '=', 'p.method_id'),
          ),
        ),
      )
      .execute(),
  );
  await foreign(
    'payment names an invoice of no / another organization or order',
    db
      .selectFrom('payments as p')
      .select('p.id')
      .where('p.invoice_id', 'is not', null)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('invoices as i')
              .select('i.id')
              .whereRef('i.organization_id', '=', 'p.organization_id')
              .whereRef('i.id', '=', 'p.invoice_id')
              .whereRef('i.order_id', '=', 'p.order_id'),
          ),
        ),
      )
      .execute(),
  );
  await foreign(
    'refund has a source of no / another organization or order',
    db
      .selectFrom('payments as p')
      .select('p.id')
      .where('p.source_payment_id', 'is not', null)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('payments as s')
              .select('s.id')
              .whereRef('s.organization_id', '=', 'p.organization_id')
              .whereRef('s.id', '=', 'p.source_payment_id')
              .whereRef('s.order_id', '=', 'p.order_id'),
          ),
        ),
      )
      .execute(),
  );
  await foreign(
    'invoice references an invoice of no / another organization',
    db
      .selectFrom('invoices as i')
      .select('i.id')
      .where('i.reference_invoice_id', 'is not', null)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('invoices as r')
              .select('r.id')
              .whereRef('r.organization_id', '=', 'i.organization_id')
              .whereRef('r.id', '=', 'i.reference_invoice_id'),
          ),
        ),
      )
      .execute(),
  );
  return violations;
}
