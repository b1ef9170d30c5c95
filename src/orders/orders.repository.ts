// SQL for the orders table only. Every query is scoped by organization first.
import type { Kysely, Selectable, Updateable } from 'kysely';
import { newestFirst, type PageCursor } from '../db/pagination.ts';
import { prepared } from '../db/prepared.ts';
import { withRowLock } from '../db/row-lock.ts';
import type { DB, OrderStatus, OrdersTable } from '../db/schema.ts';

export type OrderRow = Selectable<OrdersTable>;

// The hot statements are prepared (src/db/prepared.ts): compiled once, not per call.
const selectOrder = prepared((db: Kysely<DB>, organizationId: string, id: string) =>
  db
    .selectFrom('orders')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('id', '=', id),
);

export async function findOrder(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
): Promise<OrderRow | undefined> {
  return (await selectOrder(db, organizationId, id)).rows[0];
}

// A payment's order found through the payment in the same statement: one round trip, where
// reading the payment first to learn its order took two. A payment never changes order.
const orderOfPayment = (db: Kysely<DB>, organizationId: string, paymentId: string) =>
  db
    .selectFrom('orders')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('id', '=', (eb) =>
      eb
        .selectFrom('payments')
        .select('order_id')
        .where('organization_id', '=', organizationId)
        .where('id', '=', paymentId),
    );
const selectOrderOfPayment = prepared(orderOfPayment);
// A payment change locks the payment's order before anything else (API.md §5).
const lockOrderOfPaymentRow = prepared(
  (db: Kysely<DB>, organizationId: string, paymentId: string) =>
    withRowLock(db, orderOfPayment(db, organizationId, paymentId), 'update'),
);

/** Compiled forms, to be sent together with other reads (src/db/together.ts). */
export const orderQuery = selectOrder.compile;
/** The order of a payment of this organization. */
export const orderOfPaymentQuery = selectOrderOfPayment.compile;
/** The order of a payment of this organization, locked until the transaction ends. */
export const lockOrderOfPaymentQuery = lockOrderOfPaymentRow.compile;

export async function findOrderByExternalRef(
  db: Kysely<DB>,
  organizationId: string,
  externalRef: string,
): Promise<OrderRow | undefined> {
  return db
    .selectFrom('orders')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('external_ref', '=', externalRef)
    .executeTakeFirst();
}

export async function insertOrder(db: Kysely<DB>, row: OrderRow): Promise<void> {
  await db.insertInto('orders').values(row).execute();
}

export async function updateOrder(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
  patch: Updateable<OrdersTable>,
): Promise<void> {
  await updateRow(db, organizationId, id, patch);
}

// Nobody reads the update's result: on PostgreSQL it travels with the next statement.
const updateRow = prepared(
  (db: Kysely<DB>, organizationId: string, id: string, patch: Updateable<OrdersTable>) =>
    db
      .updateTable('orders')
      .set(patch)
      .where('organization_id', '=', organizationId)
      .where('id', '=', id),
  { deferred: true },
);

export interface OrderFilters {
  status?: OrderStatus | undefined;
  customerUid?: string | undefined;
  number?: number | undefined;
  externalRef?: string | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
}

export async function listOrders(
  db: Kysely<DB>,
  organizationId: string,
  filters: OrderFilters,
  page: { limit: number; cursor: PageCursor | undefined },
): Promise<OrderRow[]> {
  let q = db.selectFrom('orders').selectAll().where('organization_id', '=', organizationId);
  if (filters.status !== undefined) q = q.where('status', '=', filters.status);
  if (filters.customerUid !== undefined) q = q.where('customer_uid', '=', filters.customerUid);
  // Each names at most one order (unique per organization: orders_number_unique,
  // orders_external_ref_unique), found through its unique index.
  if (filters.number !== undefined) q = q.where('number', '=', filters.number);
  if (filters.externalRef !== undefined) q = q.where('external_ref', '=', filters.externalRef);
  if (filters.createdFrom !== undefined) q = q.where('created_at', '>=', filters.createdFrom);
  if (filters.createdTo !== undefined) q = q.where('created_at', '<', filters.createdTo);
  return newestFirst(q, page).execute();
}

/** The orders of this organization among `ids`, by id (foreign and unknown ids are absent). */
export async function findOrdersByIds(
  db: Kysely<DB>,
  organizationId: string,
  ids: readonly string[],
): Promise<Map<string, OrderRow>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const rows = await db
    .selectFrom('orders')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('id', 'in', unique)
    .execute();
  return new Map(rows.map((row) => [row.id, row]));
}
