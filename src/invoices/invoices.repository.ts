// SQL for the invoices table only. Every query is scoped by organization first, and deleted
// invoices (soft delete) are invisible to every read.
import type { Kysely, Selectable, Updateable } from 'kysely';
import { newestFirst, type PageCursor } from '../db/pagination.ts';
import type { DB, InvoiceStatus, InvoiceType, InvoicesTable } from '../db/schema.ts';
import { withRowLock } from '../db/row-lock.ts';

export type InvoiceRow = Selectable<InvoicesTable>;

export async function insertInvoice(db: Kysely<DB>, row: InvoiceRow): Promise<void> {
  await db.insertInto('invoices').values(row).execute();
}

/** A live (not deleted) invoice of the organization. */
export async function findInvoice(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
): Promise<InvoiceRow | undefined> {
  return db
    .selectFrom('invoices')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

/**
 * The invoice a payment is about to reference. On PostgreSQL the row is read under a share
 * lock, so a concurrent close (which locks the row for update) either commits first — and
 * this sees it closed — or waits until the payment has committed. SQLite's write
 * transactions are serial already.
 */
export async function findInvoiceForUse(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
): Promise<InvoiceRow | undefined> {
  return withRowLock(
    db,
    db
      .selectFrom('invoices')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('id', '=', id)
      .where('deleted_at', 'is', null),
    'share',
  ).executeTakeFirst();
}

/** Changes a live invoice; false when there is none by that id. */
export async function updateInvoice(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
  patch: Updateable<InvoicesTable>,
): Promise<boolean> {
  const result = await db
    .updateTable('invoices')
    .set(patch)
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export interface InvoiceFilters {
  orderId?: string | undefined;
  status?: InvoiceStatus | undefined;
  type?: InvoiceType | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
}

/** A page of live invoices, newest first (limit + 1 rows: see toPage). */
export async function listInvoices(
  db: Kysely<DB>,
  organizationId: string,
  filters: InvoiceFilters,
  page: { limit: number; cursor: PageCursor | undefined },
): Promise<InvoiceRow[]> {
  let q = db
    .selectFrom('invoices')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('deleted_at', 'is', null);
  if (filters.orderId !== undefined) q = q.where('order_id', '=', filters.orderId);
  if (filters.status !== undefined) q = q.where('status', '=', filters.status);
  if (filters.type !== undefined) q = q.where('type', '=', filters.type);
  if (filters.createdFrom !== undefined) q = q.where('created_at', '>=', filters.createdFrom);
  if (filters.createdTo !== undefined) q = q.where('created_at', '<', filters.createdTo);
  return newestFirst(q, page).execute();
}
