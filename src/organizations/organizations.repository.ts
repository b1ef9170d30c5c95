// SQL for the organizations table only.
import type { Kysely, Selectable } from 'kysely';
import { newestFirst, type PageCursor } from '../db/pagination.ts';
import type { DB, OrganizationsTable } from '../db/schema.ts';

export type OrganizationRow = Selectable<OrganizationsTable>;

export async function insertOrganization(db: Kysely<DB>, row: OrganizationRow): Promise<void> {
  await db.insertInto('organizations').values(row).execute();
}

export async function findOrganization(
  db: Kysely<DB>,
  id: string,
): Promise<OrganizationRow | undefined> {
  return db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function countOrganizations(db: Kysely<DB>): Promise<number> {
  const row = await db
    .selectFrom('organizations')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A page of organizations, newest first; `only` restricts to a key's organizations. */
export async function listOrganizations(
  db: Kysely<DB>,
  page: { limit: number; cursor: PageCursor | undefined; only: readonly string[] | undefined },
): Promise<OrganizationRow[]> {
  let q = db.selectFrom('organizations').selectAll();
  if (page.only !== undefined) {
    if (page.only.length === 0) return [];
    q = q.where('id', 'in', page.only);
  }
  return newestFirst(q, page).execute();
}

export async function updateOrganization(
  db: Kysely<DB>,
  id: string,
  patch: Partial<Pick<OrganizationRow, 'name' | 'max_payments_per_order' | 'time_zone'>> &
    Pick<OrganizationRow, 'updated_at' | 'updated_by' | 'updated_via'>,
): Promise<boolean> {
  const result = await db
    .updateTable('organizations')
    .set(patch)
    .where('id', '=', id)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
