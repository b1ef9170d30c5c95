// Invoices (API.md §3.4): drafted against an open order, closed once with a gap-free
// per-organization number, then sent. Every write is a manager's, runs in one transaction
// that locks the row it hangs on, and appends exactly one event in that transaction (§7).
import type { Kysely } from 'kysely';
import { nextValue } from '../db/counters.ts';
import type { Database, Tx } from '../db/engine.ts';
import { decodeCursor, toPage } from '../db/pagination.ts';
import type { DB, InvoiceStatus, InvoiceType, OrderStatus } from '../db/schema.ts';
import { AppError, throwIfFailed } from '../errors.ts';
import { appendEvent, diff, type Changes } from '../events/events.repository.ts';
import { findOrder, findOrdersByIds } from '../orders/orders.repository.ts';
import { auditOf, createdBy, updatedBy, type AuditFields } from '../shared/audit.ts';
import type { RequestContext } from '../shared/context.ts';
import { newId, nowIso } from '../shared/ids.ts';
import { normalizeInstant, normalizeOptionalInstant } from '../shared/instants.ts';
import { requireRole } from '../shared/roles.ts';
import * as repo from './invoices.repository.ts';
import * as rules from './invoices.rules.ts';

/** An invoice as the API shows it, without the caller-specific `can` (events store this). */
export interface InvoiceRecord extends AuditFields {
  id: string;
  orderId: string;
  type: InvoiceType;
  status: InvoiceStatus;
  referenceInvoiceId: string | null;
  applyExpiresAt: string | null;
  invoiceNumber: number | null;
  invoiceSource: string | null;
  invoicedAt: string | null;
}

export interface Invoice extends InvoiceRecord {
  can: rules.InvoiceAction[];
}

export function toInvoiceRecord(row: repo.InvoiceRow): InvoiceRecord {
  return {
    id: row.id,
    orderId: row.order_id,
    type: row.type,
    status: row.status,
    referenceInvoiceId: row.reference_invoice_id,
    applyExpiresAt: row.apply_expires_at,
    invoiceNumber: row.invoice_number === null ? null : Number(row.invoice_number),
    invoiceSource: row.invoice_source,
    invoicedAt: row.invoiced_at,
    ...auditOf(row),
  };
}

function toInvoice(row: repo.InvoiceRow, orderStatus: OrderStatus, ctx: RequestContext): Invoice {
  return { ...toInvoiceRecord(row), can: rules.invoiceCan(row, orderStatus, ctx.role) };
}

/** Before/after of the fields that differ between two versions of an invoice. */
function changesOf(before: InvoiceRecord, after: InvoiceRecord): Changes {
  return diff({ ...before }, { ...after });
}

function notFound(): AppError {
  // The same answer for a missing, deleted or foreign id (API.md §1).
  return new AppError('NOT_FOUND');
}

async function orderStatusOf(db: Kysely<DB>, organizationId: string, orderId: string) {
  const order = await findOrder(db, organizationId, orderId);
  // The (organization, order) foreign key makes this impossible: a bug, not a client error.
  if (order === undefined) throw new Error('invoice without its order');
  return order.status;
}

async function loadReference(
  db: Kysely<DB>,
  organizationId: string,
  referenceInvoiceId: string | null,
): Promise<rules.ReferencedInvoice | undefined> {
  if (referenceInvoiceId === null) return undefined;
  const row = await repo.findInvoice(db, organizationId, referenceInvoiceId);
  return row && { orderId: row.order_id, type: row.type, status: row.status };
}

/**
 * The invoice an action is about, inside the action's transaction, after the same predicate
 * that builds `can` has allowed the action.
 */
async function loadForAction(
  tx: Tx,
  ctx: RequestContext,
  id: string,
  action: rules.InvoiceAction,
): Promise<repo.InvoiceRow> {
  const row = await repo.findInvoice(tx, ctx.organization.id, id);
  if (row === undefined) throw notFound();
  const orderStatus = await orderStatusOf(tx, ctx.organization.id, row.order_id);
  throwIfFailed(rules.checkInvoiceAction(action, row, orderStatus, ctx.role));
  return row;
}

const normalizeExpiry = (value: string | null): string | null =>
  value === null ? null : normalizeInstant('applyExpiresAt', value);

export interface CreateInvoiceInput {
  orderId: string;
  type?: string | undefined;
  referenceInvoiceId?: string | null | undefined;
  applyExpiresAt?: string | null | undefined;
}

export async function createInvoice(
  database: Database,
  ctx: RequestContext,
  input: CreateInvoiceInput,
): Promise<{ id: string }> {
  requireRole(ctx, rules.CREATE_INVOICE_ROLE);
  const organizationId = ctx.organization.id;
  const applyExpiresAt = normalizeExpiry(input.applyExpiresAt ?? null);
  const terms = {
    orderId: input.orderId,
    type: input.type ?? rules.DEFAULT_INVOICE_TYPE,
    referenceInvoiceId: input.referenceInvoiceId ?? null,
  };
  // The order's row lock serializes this with the order's own close and cancel, so no
  // invoice is drafted on an order that stopped being open a moment ago.
  return database.transactionLocking('orders', organizationId, input.orderId, async (tx, order) => {
    if (order === undefined) throw new AppError('ORDER_NOT_FOUND', { orderId: input.orderId });
    throwIfFailed(rules.checkOrderOpen(order.status));
    throwIfFailed(
      rules.checkInvoiceTerms(
        terms,
        await loadReference(tx, organizationId, terms.referenceInvoiceId),
      ),
    );
    const at = nowIso();
    const row: repo.InvoiceRow = {
      organization_id: organizationId,
      id: newId(),
      order_id: order.id,
      type: terms.type as InvoiceType, // checked by checkInvoiceTerms
      status: 'open',
      reference_invoice_id: terms.referenceInvoiceId,
      apply_expires_at: applyExpiresAt,
      invoice_number: null,
      invoice_source: null,
      invoiced_at: null,
      deleted_at: null,
      ...createdBy(ctx, at),
    };
    await repo.insertInvoice(tx, row);
    await appendEvent(tx, ctx, {
      type: 'invoice.created',
      entityType: 'invoice',
      entityId: row.id,
      data: toInvoiceRecord(row),
      at,
    });
    return { id: row.id };
  });
}

export interface UpdateInvoiceInput {
  type?: string | undefined;
  /** null clears the reference (e.g. when a credit note becomes a standard invoice). */
  referenceInvoiceId?: string | null | undefined;
  /** null clears the expiry. */
  applyExpiresAt?: string | null | undefined;
}

export async function updateInvoice(
  database: Database,
  ctx: RequestContext,
  id: string,
  input: UpdateInvoiceInput,
): Promise<void> {
  requireRole(ctx, rules.INVOICE_ACTION_ROLE.update);
  const organizationId = ctx.organization.id;
  const applyExpiresAt =
    input.applyExpiresAt === undefined ? undefined : normalizeExpiry(input.applyExpiresAt);
  await database.transactionLocking('invoices', organizationId, id, async (tx, invoice) => {
    if (invoice === undefined) throw notFound();
    const row = await loadForAction(tx, ctx, id, 'update');
    const terms = {
      orderId: row.order_id,
      type: input.type ?? row.type,
      referenceInvoiceId:
        input.referenceInvoiceId === undefined
          ? row.reference_invoice_id
          : input.referenceInvoiceId,
    };
    // The stored terms were valid, and a closed reference stays closed: only a change needs
    // the check (the same one create makes).
    if (input.type !== undefined || input.referenceInvoiceId !== undefined) {
      throwIfFailed(
        rules.checkInvoiceTerms(
          terms,
          await loadReference(tx, organizationId, terms.referenceInvoiceId),
        ),
      );
    }
    const changed: repo.InvoiceRow = {
      ...row,
      type: terms.type as InvoiceType, // checked above whenever it changed
      reference_invoice_id: terms.referenceInvoiceId,
      apply_expires_at: applyExpiresAt === undefined ? row.apply_expires_at : applyExpiresAt,
    };
    const before = toInvoiceRecord(row);
    // Nothing to change is a success that writes nothing and records nothing.
    if (Object.keys(changesOf(before, toInvoiceRecord(changed))).length === 0) return;
    const at = nowIso();
    const after = { ...changed, ...updatedBy(ctx, at) };
    await repo.updateInvoice(tx, organizationId, id, {
      type: after.type,
      reference_invoice_id: after.reference_invoice_id,
      apply_expires_at: after.apply_expires_at,
      ...updatedBy(ctx, at),
    });
    const data = toInvoiceRecord(after);
    await appendEvent(tx, ctx, {
      type: 'invoice.updated',
      entityType: 'invoice',
      entityId: id,
      data,
      changes: changesOf(before, data),
      at,
    });
  });
}

/** Soft delete of an open invoice: the row stays for audit and disappears from reads. */
export async function deleteInvoice(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<void> {
  requireRole(ctx, rules.INVOICE_ACTION_ROLE.delete);
  const organizationId = ctx.organization.id;
  await database.transactionLocking('invoices', organizationId, id, async (tx, invoice) => {
    if (invoice === undefined) throw notFound();
    const row = await loadForAction(tx, ctx, id, 'delete');
    const at = nowIso();
    await repo.updateInvoice(tx, organizationId, id, { deleted_at: at, ...updatedBy(ctx, at) });
    await appendEvent(tx, ctx, {
      type: 'invoice.deleted',
      entityType: 'invoice',
      entityId: id,
      data: { ...toInvoiceRecord({ ...row, ...updatedBy(ctx, at) }), deletedAt: at },
      at,
    });
  });
}

export interface ClosedInvoice {
  invoiceNumber: number;
  invoiceSource: string;
  invoicedAt: string;
}

/**
 * open → closed, with the organization's next invoice number. The number is taken inside
 * the transaction that holds the invoice's lock and writes it: concurrent closes serialize
 * on the counter row (no duplicates), and a rollback returns the number (no gaps).
 */
export async function closeInvoice(
  database: Database,
  ctx: RequestContext,
  id: string,
  input: { invoiceSource?: string | undefined } = {},
): Promise<ClosedInvoice> {
  requireRole(ctx, rules.INVOICE_ACTION_ROLE.close);
  const organizationId = ctx.organization.id;
  return database.transactionLocking('invoices', organizationId, id, async (tx, invoice) => {
    if (invoice === undefined) throw notFound();
    const row = await loadForAction(tx, ctx, id, 'close');
    const invoiceNumber = await nextValue(tx, organizationId, 'invoice_number');
    const at = nowIso();
    const patch = {
      status: 'closed' as const,
      invoice_number: invoiceNumber,
      invoice_source: input.invoiceSource ?? rules.DEFAULT_INVOICE_SOURCE,
      invoiced_at: at,
      ...updatedBy(ctx, at),
    };
    await repo.updateInvoice(tx, organizationId, id, patch);
    const before = toInvoiceRecord(row);
    const data = toInvoiceRecord({ ...row, ...patch });
    await appendEvent(tx, ctx, {
      type: 'invoice.closed',
      entityType: 'invoice',
      entityId: id,
      data,
      changes: changesOf(before, data),
      at,
    });
    return { invoiceNumber, invoiceSource: patch.invoice_source, invoicedAt: at };
  });
}

export interface SendInvoiceInput {
  channel?: string | undefined;
  recipient?: string | undefined;
}

/**
 * Records that a closed invoice was handed over. Nothing is delivered from here: the
 * `invoice.sent` event (feed, webhooks) is the message, and its id is the messageId.
 */
export async function sendInvoice(
  database: Database,
  ctx: RequestContext,
  id: string,
  input: SendInvoiceInput = {},
): Promise<{ messageId: string }> {
  requireRole(ctx, rules.INVOICE_ACTION_ROLE.send);
  return database.transaction(async (tx) => {
    const row = await loadForAction(tx, ctx, id, 'send');
    const messageId = await appendEvent(tx, ctx, {
      type: 'invoice.sent',
      entityType: 'invoice',
      entityId: id,
      data: {
        ...toInvoiceRecord(row),
        delivery: { channel: input.channel ?? null, recipient: input.recipient ?? null },
      },
      at: nowIso(),
    });
    return { messageId };
  });
}

export async function getInvoice(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<Invoice> {
  const row = await repo.findInvoice(database.db, ctx.organization.id, id);
  if (row === undefined) throw notFound();
  return toInvoice(row, await orderStatusOf(database.db, ctx.organization.id, row.order_id), ctx);
}

export interface ListInvoicesInput {
  limit: number;
  cursor?: string | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
  orderId?: string | undefined;
  status?: InvoiceStatus | undefined;
  type?: InvoiceType | undefined;
}

export async function listInvoices(
  database: Database,
  ctx: RequestContext,
  query: ListInvoicesInput,
): Promise<{ items: Invoice[]; next: string | null }> {
  const organizationId = ctx.organization.id;
  const rows = await repo.listInvoices(
    database.db,
    organizationId,
    {
      orderId: query.orderId,
      status: query.status,
      type: query.type,
      createdFrom: normalizeOptionalInstant('createdFrom', query.createdFrom),
      createdTo: normalizeOptionalInstant('createdTo', query.createdTo),
    },
    { limit: query.limit, cursor: decodeCursor(query.cursor) },
  );
  const page = toPage(rows, query.limit);
  // `can` depends on each invoice's order: one query for the orders of the page.
  const orders = await findOrdersByIds(
    database.db,
    organizationId,
    page.rows.map((r) => r.order_id),
  );
  return {
    items: page.rows.map((row) => toInvoice(row, orders.get(row.order_id)!.status, ctx)),
    next: page.next,
  };
}
