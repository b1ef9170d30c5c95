// SQL for the payment_methods table only (plus the one question asked of payments: is a
// method referenced?). Every query is scoped by organization first.
import type { Kysely, Selectable, Updateable } from 'kysely';
import { newestFirst, type PageCursor } from '../db/pagination.ts';
import { prepared } from '../db/prepared.ts';
import { withRowLock } from '../db/row-lock.ts';
import type { DB, PaymentMethodsTable } from '../db/schema.ts';

export type PaymentMethodRow = Selectable<PaymentMethodsTable>;

/** The columns an update may change besides the audit columns. */
export type PaymentMethodPatch = Partial<
  Pick<
    PaymentMethodRow,
    'code' | 'name_ar' | 'description_ar' | 'name_en' | 'description_en' | 'visible'
  >
>;

export async function insertPaymentMethod(db: Kysely<DB>, row: PaymentMethodRow): Promise<void> {
  await db.insertInto('payment_methods').values(row).execute();
}

export async function findPaymentMethod(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
): Promise<PaymentMethodRow | undefined> {
  return db
    .selectFrom('payment_methods')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .executeTakeFirst();
}

/**
 * The method a new or changed payment is about to reference. On PostgreSQL the row is read
 * under a share lock, so a concurrent DELETE (which locks the row for update) either runs
 * first — and this finds nothing — or waits for the payment to commit and then sees it and
 * hides the method instead of deleting it. SQLite's write transactions are serial already.
 */
export async function findPaymentMethodForUse(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
): Promise<PaymentMethodRow | undefined> {
  return (await selectForUse(db, organizationId, id)).rows[0];
}

// Every payment write reads its method: compiled once (src/db/prepared.ts).
const selectForUse = prepared((db: Kysely<DB>, organizationId: string, id: string) =>
  withRowLock(
    db,
    db
      .selectFrom('payment_methods')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('id', '=', id),
    'share',
  ),
);

/** `selectForUse` compiled, to be sent together with other reads (src/db/together.ts). */
export const methodForUseQuery = selectForUse.compile;

/**
 * The methods the payments of an order reference, deleted payments included (so a list read
 * beside it never misses the method of a payment deleted in between); callers keep those
 * their items use. Compiled, to be sent together with the payments it describes.
 */
export const methodsOfOrderQuery = prepared(
  (db: Kysely<DB>, organizationId: string, orderId: string) =>
    db
      .selectFrom('payment_methods')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('payments')
          .select('method_id')
          .where('organization_id', '=', organizationId)
          .where('order_id', '=', orderId),
      ),
).compile;

/** The methods of this organization among `ids` (unknown and foreign ids are skipped). */
export async function findPaymentMethodsByIds(
  db: Kysely<DB>,
  organizationId: string,
  ids: readonly string[],
): Promise<PaymentMethodRow[]> {
  const unique = [...new Set(ids)];
  const found = new Map<string, PaymentMethodRow>();
  // Chunked so a long list never exceeds either engine's limit on bound parameters.
  for (let i = 0; i < unique.length; i += 500) {
    const rows = await db
      .selectFrom('payment_methods')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('id', 'in', unique.slice(i, i + 500))
      .execute();
    for (const row of rows) found.set(row.id, row);
  }
  // In the order the ids were first given, so answers built from them are deterministic.
  return unique.flatMap((id) => found.get(id) ?? []);
}

/** The method holding `code` in this organization, if any. */
export async function findPaymentMethodByCode(
  db: Kysely<DB>,
  organizationId: string,
  code: string,
): Promise<PaymentMethodRow | undefined> {
  return db
    .selectFrom('payment_methods')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('code', '=', code)
    .executeTakeFirst();
}

export async function updatePaymentMethod(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
  patch: Updateable<PaymentMethodsTable>,
): Promise<void> {
  await db
    .updateTable('payment_methods')
    .set(patch)
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .execute();
}

export async function deletePaymentMethod(
  db: Kysely<DB>,
  organizationId: string,
  id: string,
): Promise<void> {
  await db
    .deleteFrom('payment_methods')
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .execute();
}

/** Whether any payment — soft-deleted ones included, they stay for audit — uses the method. */
export async function isPaymentMethodReferenced(
  db: Kysely<DB>,
  organizationId: string,
  methodId: string,
): Promise<boolean> {
  const row = await db
    .selectFrom('payments')
    .select((eb) => eb.lit(1).as('one'))
    .where('organization_id', '=', organizationId)
    .where('method_id', '=', methodId)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

export interface PaymentMethodFilters {
  visible?: boolean | undefined;
  code?: string | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
}

/** A page of methods, newest first (limit + 1 rows: the extra one says there is a next page). */
export async function listPaymentMethods(
  db: Kysely<DB>,
  organizationId: string,
  filters: PaymentMethodFilters,
  page: { limit: number; cursor: PageCursor | undefined },
): Promise<PaymentMethodRow[]> {
  let q = db
    .selectFrom('payment_methods')
    .selectAll()
    .where('organization_id', '=', organizationId);
  if (filters.visible !== undefined) q = q.where('visible', '=', filters.visible ? 1 : 0);
  if (filters.code !== undefined) q = q.where('code', '=', filters.code);
  if (filters.createdFrom !== undefined) q = q.where('created_at', '>=', filters.createdFrom);
  if (filters.createdTo !== undefined) q = q.where('created_at', '<', filters.createdTo);
  return newestFirst(q, page).execute();
}

/**
 * Whether a driver error is the (organization, code) unique constraint refusing a row: the
 * backstop when two requests pass the in-transaction check at once (PostgreSQL READ COMMITTED).
 */
export function isCodeUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, constraint, message } = error as {
    code?: unknown;
    constraint?: unknown;
    message?: unknown;
  };
  if (code === '23505') return constraint === 'payment_methods_code_unique';
  return (
    code === 'SQLITE_CONSTRAINT_UNIQUE' &&
    typeof message === 'string' &&
    message.includes('payment_methods.code')
  );
}
