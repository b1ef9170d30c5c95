// Reads of payments (API.md §3.5.5): one payment, its history, and filtered pages. No lock:
// each answer is what one consistent read saw.
import type { Database } from '../db/engine.ts';
import { decodeCursor, toPage } from '../db/pagination.ts';
import { AppError } from '../errors.ts';
import { eventsOf, type EventRecord } from '../events/events.repository.ts';
import type { RequestContext } from '../shared/context.ts';
import { normalizeOptionalInstant } from '../shared/instants.ts';
import * as repo from './payments.repository.ts';
import {
  listedPaymentsOf,
  orderFacts,
  toPayment,
  type OrderPayments,
  type Payment,
} from './payments.view.ts';

export async function getPayment(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<Payment> {
  const { payment: row, order } = await repo.findPaymentAndOrder(
    database.db,
    ctx.organization.id,
    id,
  );
  if (row === undefined || order === undefined) throw new AppError('NOT_FOUND');
  return toPayment(ctx, row, orderFacts(ctx, order));
}

export async function paymentHistory(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<EventRecord[]> {
  const row = await repo.findPayment(database.db, ctx.organization.id, id);
  if (row === undefined) throw new AppError('NOT_FOUND');
  return eventsOf(database.db, ctx.organization.id, id);
}

export interface ListPaymentsQuery extends Omit<repo.PaymentFilters, 'createdFrom' | 'createdTo'> {
  limit: number;
  cursor?: string | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
}

export async function listPayments(
  database: Database,
  ctx: RequestContext,
  query: ListPaymentsQuery,
): Promise<OrderPayments & { next: string | null }> {
  const { limit, cursor, ...given } = query;
  const filters = {
    ...given,
    createdFrom: normalizeOptionalInstant('createdFrom', given.createdFrom),
    createdTo: normalizeOptionalInstant('createdTo', given.createdTo),
  };
  const page = { limit, cursor: decodeCursor(cursor) };
  const { db } = database;
  const { rows, orders, methods } = await repo.findPaymentsPage(
    db,
    ctx.organization.id,
    filters,
    page,
  );
  const { rows: pageRows, next } = toPage(rows, limit);
  return { ...(await listedPaymentsOf(db, ctx, pageRows, orders, methods)), next };
}
