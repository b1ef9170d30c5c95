// Payment methods (API.md §3.3): the tenders a payment is taken with (cash, card, …), named
// in Arabic and English. Reads are open to every role; changes need the admin role. A method
// some payment references is never deleted — its payments must keep resolving it — so a
// DELETE hides it instead.
import type { Kysely } from 'kysely';
import type { Database } from '../db/engine.ts';
import { decodeCursor, toPage } from '../db/pagination.ts';
import type { DB } from '../db/schema.ts';
import { AppError, invalidParameter } from '../errors.ts';
import { appendEvent, diff } from '../events/events.repository.ts';
import { createdBy, updatedBy } from '../shared/audit.ts';
import type { RequestContext } from '../shared/context.ts';
import { newId, nowIso } from '../shared/ids.ts';
import { normalizeOptionalInstant } from '../shared/instants.ts';
import { requireRole } from '../shared/roles.ts';
import { warning, type WithWarnings } from '../shared/warnings.ts';
import * as repo from './payment-methods.repository.ts';
import { toPaymentMethod, type PaymentMethod } from './payment-methods.view.ts';

export interface CreatePaymentMethodInput {
  locales: {
    ar: { name: string; description?: string | null | undefined };
    en: { name: string; description?: string | null | undefined };
  };
  visible?: boolean | undefined;
  code?: string | undefined;
}

interface LocalePatchInput {
  name?: string | undefined;
  description?: string | null | undefined;
}

export interface UpdatePaymentMethodInput {
  locales?: { ar?: LocalePatchInput | undefined; en?: LocalePatchInput | undefined } | undefined;
  visible?: boolean | undefined;
  /** null removes the code. */
  code?: string | null | undefined;
}

export interface ListPaymentMethodsInput {
  limit: number;
  cursor?: string | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
  visible?: boolean | undefined;
  code?: string | undefined;
}

const codeAlreadyUsed = () => invalidParameter('code', 'already used');

/** Checked inside the write transaction; the unique constraint is the backstop. */
async function assertCodeFree(
  db: Kysely<DB>,
  organizationId: string,
  code: string,
  exceptId: string | undefined,
): Promise<void> {
  const holder = await repo.findPaymentMethodByCode(db, organizationId, code);
  if (holder !== undefined && holder.id !== exceptId) throw codeAlreadyUsed();
}

/**
 * Runs a write, answering a unique-constraint refusal of the code as the same 400 the check
 * gives. The transaction has rolled back by then (PostgreSQL aborts it on the violation).
 */
async function mappingCodeConflicts<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (repo.isCodeUniqueViolation(error)) throw codeAlreadyUsed();
    throw error;
  }
}

export async function createPaymentMethod(
  database: Database,
  ctx: RequestContext,
  input: CreatePaymentMethodInput,
): Promise<PaymentMethod> {
  requireRole(ctx, 'admin');
  const organizationId = ctx.organization.id;
  const at = nowIso();
  const row: repo.PaymentMethodRow = {
    organization_id: organizationId,
    id: newId(),
    code: input.code ?? null,
    name_ar: input.locales.ar.name,
    description_ar: input.locales.ar.description ?? null,
    name_en: input.locales.en.name,
    description_en: input.locales.en.description ?? null,
    visible: input.visible === false ? 0 : 1,
    ...createdBy(ctx, at),
  };
  return mappingCodeConflicts(() =>
    database.transaction(async (tx) => {
      if (row.code !== null) await assertCodeFree(tx, organizationId, row.code, undefined);
      await repo.insertPaymentMethod(tx, row);
      const method = toPaymentMethod(row);
      await appendEvent(tx, ctx, {
        type: 'payment-method.created',
        entityType: 'payment-method',
        entityId: row.id,
        data: method,
        at,
      });
      return method;
    }),
  );
}

/** One method of the caller's organization; a foreign id is NOT_FOUND, like a missing one. */
export async function getPaymentMethod(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<PaymentMethod> {
  const row = await repo.findPaymentMethod(database.db, ctx.organization.id, id);
  if (row === undefined) throw new AppError('NOT_FOUND');
  return toPaymentMethod(row);
}

export async function listPaymentMethods(
  database: Database,
  ctx: RequestContext,
  input: ListPaymentMethodsInput,
): Promise<{ items: PaymentMethod[]; next: string | null }> {
  const rows = await repo.listPaymentMethods(
    database.db,
    ctx.organization.id,
    {
      visible: input.visible,
      code: input.code,
      createdFrom: normalizeOptionalInstant('createdFrom', input.createdFrom),
      createdTo: normalizeOptionalInstant('createdTo', input.createdTo),
    },
    { limit: input.limit, cursor: decodeCursor(input.cursor) },
  );
  const { rows: pageRows, next } = toPage(rows, input.limit);
  return { items: pageRows.map(toPaymentMethod), next };
}

/** The columns whose sent value differs from the stored one. */
function patchOf(
  row: repo.PaymentMethodRow,
  input: UpdatePaymentMethodInput,
): repo.PaymentMethodPatch {
  const wanted: repo.PaymentMethodPatch = {
    code: input.code,
    name_ar: input.locales?.ar?.name,
    description_ar: input.locales?.ar?.description,
    name_en: input.locales?.en?.name,
    description_en: input.locales?.en?.description,
    visible: input.visible === undefined ? undefined : input.visible ? 1 : 0,
  };
  const patch: repo.PaymentMethodPatch = {};
  for (const [column, value] of Object.entries(wanted) as [
    keyof repo.PaymentMethodPatch,
    unknown,
  ][]) {
    if (value !== undefined && value !== row[column]) Object.assign(patch, { [column]: value });
  }
  return patch;
}

/**
 * Changes what is sent; locales merge per language and field. A request that changes
 * nothing writes nothing: no new audit stamp, no event.
 */
export async function updatePaymentMethod(
  database: Database,
  ctx: RequestContext,
  id: string,
  input: UpdatePaymentMethodInput,
): Promise<PaymentMethod> {
  requireRole(ctx, 'admin');
  const organizationId = ctx.organization.id;
  return mappingCodeConflicts(() =>
    database.transactionLocking('payment_methods', organizationId, id, async (tx, row) => {
      if (row === undefined) throw new AppError('NOT_FOUND');
      const patch = patchOf(row, input);
      if (Object.keys(patch).length === 0) return toPaymentMethod(row);
      if (typeof patch.code === 'string') await assertCodeFree(tx, organizationId, patch.code, id);
      const at = nowIso();
      const stamp = updatedBy(ctx, at);
      await repo.updatePaymentMethod(tx, organizationId, id, { ...patch, ...stamp });
      const before = toPaymentMethod(row);
      const after = toPaymentMethod({ ...row, ...patch, ...stamp });
      await appendEvent(tx, ctx, {
        type: 'payment-method.updated',
        entityType: 'payment-method',
        entityId: id,
        data: after,
        changes: diff({ ...before }, { ...after }),
        at,
      });
      return after;
    }),
  );
}

export type DeleteOutcome = 'deleted' | 'hidden';

/**
 * Deletes a method no payment references. A referenced one (even by a deleted payment,
 * which stays for audit) is hidden instead, with warning METHOD_HIDDEN_NOT_DELETED; hiding
 * an already hidden method changes nothing and records nothing, but warns the same.
 */
export async function deletePaymentMethod(
  database: Database,
  ctx: RequestContext,
  id: string,
): Promise<WithWarnings<{ outcome: DeleteOutcome }>> {
  requireRole(ctx, 'admin');
  const organizationId = ctx.organization.id;
  return database.transactionLocking('payment_methods', organizationId, id, async (tx, row) => {
    if (row === undefined) throw new AppError('NOT_FOUND');
    const before = toPaymentMethod(row);
    const at = nowIso();
    if (!(await repo.isPaymentMethodReferenced(tx, organizationId, id))) {
      await repo.deletePaymentMethod(tx, organizationId, id);
      await appendEvent(tx, ctx, {
        type: 'payment-method.deleted',
        entityType: 'payment-method',
        entityId: id,
        data: before,
        at,
      });
      return { data: { outcome: 'deleted' }, warnings: [] };
    }
    if (row.visible === 1) {
      const stamp = updatedBy(ctx, at);
      await repo.updatePaymentMethod(tx, organizationId, id, { visible: 0, ...stamp });
      const after = toPaymentMethod({ ...row, visible: 0, ...stamp });
      await appendEvent(tx, ctx, {
        type: 'payment-method.hidden',
        entityType: 'payment-method',
        entityId: id,
        data: after,
        changes: diff({ ...before }, { ...after }),
        at,
      });
    }
    return {
      data: { outcome: 'hidden' },
      warnings: [warning('METHOD_HIDDEN_NOT_DELETED', { methodId: id })],
    };
  });
}
