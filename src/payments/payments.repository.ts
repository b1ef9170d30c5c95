// SQL for the payments table only. Every query is scoped by organization first; deleted
// payments are excluded from reads unless a function says otherwise.
import type { Kysely, Selectable, Updateable } from 'kysely';
import { newestFirst, type PageCursor } from '../db/pagination.ts';
import { prepared } from '../db/prepared.ts';
import type { DB, PaymentStatus, PaymentType, PaymentsTable } from '../db/schema.ts';
import { among, together } from '../db/together.ts';
import {
  lockOrderOfPaymentQuery,
  orderOfPaymentQuery,
  orderQuery,
  type OrderRow,
} from '../orders/orders.repository.ts';
import {
  methodForUseQuery,
  methodsOfOrderQuery,
  type PaymentMethodRow,
} from '../payment-methods/payment-methods.repository.ts';

export type PaymentRow = Selectable<PaymentsTable>;

// The write path's statements are prepared (src/db/prepared.ts): compiled once, not per call.
const selectPayment = prepared((db: Kysely<DB>, organizationId: string, id: string) =>
  db
    .selectFrom('payments')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null),
);

export async function findPayment(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
): Promise<PaymentRow | undefined> {
  return (await selectPayment(db, organizationId, id)).rows[0];
}

/** The non-deleted payment holding a transactionRef for a type (§6.3), if any. */
export async function findByTransactionRef(
  db: Kysely<DB>,
  organizationId: string,
  type: PaymentType,
  transactionRef: string,
): Promise<PaymentRow | undefined> {
  return db
    .selectFrom('payments')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('type', '=', type)
    .where('transaction_ref', '=', transactionRef)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

// A write that can collide with nothing — no transactionRef set, none changed (the only
// unique key a client names) — is deferred: on PostgreSQL it travels with the transaction's
// next statement (src/db/pg-pool.ts). One that can collide runs at once, so the caller meets
// the unique violation where it can answer it (writeTakingRef in payments.service.ts).
const insert = (db: Kysely<DB>, row: PaymentRow) => db.insertInto('payments').values(row);
const insertRow = prepared(insert);
const insertRowDeferred = prepared(insert, { deferred: true });

export async function insertPayment(db: Kysely<DB>, row: PaymentRow): Promise<void> {
  await (row.transaction_ref === null ? insertRowDeferred : insertRow)(db, row);
}

const update = (
  db: Kysely<DB>,
  organizationId: string,
  id: string,
  patch: Updateable<PaymentsTable>,
) =>
  db
    .updateTable('payments')
    .set(patch)
    .where('organization_id', '=', organizationId)
    .where('id', '=', id);
const updateRow = prepared(update);
const updateRowDeferred = prepared(update, { deferred: true });

export async function updatePayment(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
  patch: Updateable<PaymentsTable>,
): Promise<void> {
  await (patch.transaction_ref === undefined ? updateRowDeferred : updateRow)(
    db,
    organizationId,
    id,
    patch,
  );
}

/** All non-deleted payments of an order, newest first (at most maxPaymentsPerOrder). */
const selectOfOrder = prepared((db: Kysely<DB>, organizationId: string, orderId: string) =>
  db
    .selectFrom('payments')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('order_id', '=', orderId)
    .where('deleted_at', 'is', null)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc'),
);

// Reads that go together: independent statements sent in one round trip
// (src/db/together.ts), each answering rows of its own table.

/** The order of a payment, locked until the transaction ends (API.md §5), and the payment,
 * read under that lock. Either is undefined when the payment is not this organization's. */
export async function lockOrderOfPayment(
  tx: Kysely<DB>,
  organizationId: string,
  paymentId: string,
): Promise<{ order: OrderRow | undefined; payment: PaymentRow | undefined }> {
  const [[order], [payment]] = await together(
    tx,
    lockOrderOfPaymentQuery(tx, organizationId, paymentId),
    selectPayment.compile(tx, organizationId, paymentId),
  );
  return { order, payment };
}

/** A payment and its order (no lock). */
export async function findPaymentAndOrder(
  db: Kysely<DB>,
  organizationId: string,
  paymentId: string,
): Promise<{ payment: PaymentRow | undefined; order: OrderRow | undefined }> {
  const [[payment], [order]] = await together(
    db,
    selectPayment.compile(db, organizationId, paymentId),
    orderOfPaymentQuery(db, organizationId, paymentId),
  );
  return { payment, order };
}

/** What a new payment names, read beside its order's lock: the method (share-locked, so it
 * is not hidden meanwhile) and a refund's source. Absent ids read nothing. */
export function creationReads(
  tx: Kysely<DB>,
  organizationId: string,
  names: { methodId: string | undefined; sourcePaymentId: string | undefined },
) {
  return {
    method:
      names.methodId === undefined
        ? undefined
        : methodForUseQuery(tx, organizationId, names.methodId),
    source:
      names.sourcePaymentId === undefined
        ? undefined
        : selectPayment.compile(tx, organizationId, names.sourcePaymentId),
  };
}

/** An order's non-deleted payments, newest first, and the methods they reference. */
export async function findPaymentsOfOrder(
  db: Kysely<DB>,
  organizationId: string,
  orderId: string,
): Promise<{ rows: PaymentRow[]; methods: PaymentMethodRow[] }> {
  const [rows, methods] = await together(
    db,
    selectOfOrder.compile(db, organizationId, orderId),
    methodsOfOrderQuery(db, organizationId, orderId),
  );
  return { rows, methods };
}

/** An order, its non-deleted payments and the methods they reference. */
export async function findOrderWithPayments(
  db: Kysely<DB>,
  organizationId: string,
  orderId: string,
): Promise<{ order: OrderRow | undefined; rows: PaymentRow[]; methods: PaymentMethodRow[] }> {
  const [[order], rows, methods] = await together(
    db,
    orderQuery(db, organizationId, orderId),
    selectOfOrder.compile(db, organizationId, orderId),
    methodsOfOrderQuery(db, organizationId, orderId),
  );
  return { order, rows, methods };
}

export interface PaymentFilters {
  orderId?: string | undefined;
  type?: PaymentType | undefined;
  status?: PaymentStatus | undefined;
  methodId?: string | undefined;
  customerUid?: string | undefined;
  invoiceId?: string | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
}

/** The organization's non-deleted payments that match `filters`, nothing selected yet. */
function filtered(db: Kysely<DB>, organizationId: string, filters: PaymentFilters) {
  let q = db
    .selectFrom('payments')
    .where('organization_id', '=', organizationId)
    .where('deleted_at', 'is', null);
  if (filters.orderId !== undefined) q = q.where('order_id', '=', filters.orderId);
  if (filters.type !== undefined) q = q.where('type', '=', filters.type);
  if (filters.status !== undefined) q = q.where('status', '=', filters.status);
  if (filters.methodId !== undefined) q = q.where('method_id', '=', filters.methodId);
  if (filters.customerUid !== undefined) q = q.where('customer_uid', '=', filters.customerUid);
  if (filters.invoiceId !== undefined) q = q.where('invoice_id', '=', filters.invoiceId);
  if (filters.createdFrom !== undefined) q = q.where('created_at', '>=', filters.createdFrom);
  if (filters.createdTo !== undefined) q = q.where('created_at', '<', filters.createdTo);
  return q;
}

/** One page of the matching payments, newest first (compiled; tests read its plan). */
export function listPaymentsQuery(
  db: Kysely<DB>,
  organizationId: string,
  filters: PaymentFilters,
  page: { limit: number; cursor: PageCursor | undefined },
) {
  return newestFirst(filtered(db, organizationId, filters).selectAll(), page).compile();
}

/**
 * One page of the matching payments, newest first, with the orders and methods it refers to.
 * Those are read through the page's own query, as subqueries, in statements sent beside the
 * page's (src/db/together.ts): each sees the data as of its own start, so callers read on
 * their own anything the page names that those rows miss.
 */
export async function findPaymentsPage(
  db: Kysely<DB>,
  organizationId: string,
  filters: PaymentFilters,
  page: { limit: number; cursor: PageCursor | undefined },
): Promise<{ rows: PaymentRow[]; orders: OrderRow[]; methods: PaymentMethodRow[] }> {
  const listed = (column: 'order_id' | 'method_id') =>
    newestFirst(filtered(db, organizationId, filters).select(column), page);
  const [rows, orders, methods] = await together(
    db,
    listPaymentsQuery(db, organizationId, filters, page),
    among(db, 'orders', organizationId, listed('order_id')),
    among(db, 'payment_methods', organizationId, listed('method_id')),
  );
  return { rows, orders, methods };
}

/** Ids of a receipt's refunds in pending/progress/complete, oldest first. */
export async function liveRefundIds(
  db: Kysely<DB>,
  organizationId: string,
  receiptId: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom('payments')
    .select('id')
    .where('organization_id', '=', organizationId)
    .where('source_payment_id', '=', receiptId)
    .where('deleted_at', 'is', null)
    .where('status', '!=', 'reversed')
    .orderBy('id')
    .execute();
  return rows.map((r) => r.id);
}
