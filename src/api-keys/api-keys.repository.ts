// SQL for api_keys and api_key_organizations only.
import type { Kysely, Selectable } from 'kysely';
import { newestFirst, type PageCursor } from '../db/pagination.ts';
import { prepared } from '../db/prepared.ts';
import type { ApiKeysTable, DB } from '../db/schema.ts';

export type ApiKeyRow = Selectable<ApiKeysTable>;
export type ApiKeyWithOrgs = ApiKeyRow & { organization_ids: string[] };

export async function insertApiKey(
  db: Kysely<DB>,
  row: ApiKeyRow,
  organizationIds: readonly string[],
): Promise<void> {
  await db.insertInto('api_keys').values(row).execute();
  if (organizationIds.length > 0) {
    await db
      .insertInto('api_key_organizations')
      .values(organizationIds.map((organization_id) => ({ organization_id, api_key_id: row.id })))
      .execute();
  }
}

async function withOrganizations(db: Kysely<DB>, rows: ApiKeyRow[]): Promise<ApiKeyWithOrgs[]> {
  if (rows.length === 0) return [];
  const links = await db
    .selectFrom('api_key_organizations')
    .select(['api_key_id', 'organization_id'])
    .where(
      'api_key_id',
      'in',
      rows.map((r) => r.id),
    )
    .orderBy('organization_id')
    .execute();
  return rows.map((row) => ({
    ...row,
    organization_ids: links.filter((l) => l.api_key_id === row.id).map((l) => l.organization_id),
  }));
}

export async function findApiKeyByHash(
  db: Kysely<DB>,
  secretHash: string,
): Promise<ApiKeyWithOrgs | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .selectAll()
    .where('secret_hash', '=', secretHash)
    .executeTakeFirst();
  return row === undefined ? undefined : (await withOrganizations(db, [row]))[0];
}

/** The organization columns a request context needs. */
export interface KeyOrganization {
  id: string;
  currency: string;
  currency_exponent: number;
  max_payments_per_order: number;
}

// Every /v1/om/ request runs this: compiled once (src/db/prepared.ts).
const selectKeyForOrganization = prepared(
  (db: Kysely<DB>, secretHash: string, organizationId: string) =>
    db
      .selectFrom('api_keys as k')
      .leftJoin('organizations as o', (join) => join.on('o.id', '=', organizationId))
      .selectAll('k')
      .select((eb) => [
        'o.id as org_id',
        'o.currency as org_currency',
        'o.currency_exponent as org_currency_exponent',
        'o.max_payments_per_order as org_max_payments_per_order',
        eb
          .exists(
            eb
              .selectFrom('api_key_organizations as l')
              .select('l.api_key_id')
              .whereRef('l.api_key_id', '=', 'k.id')
              .where('l.organization_id', '=', organizationId),
          )
          .as('linked'),
      ])
      .where('k.secret_hash', '=', secretHash),
);

/**
 * A key by its hash together with what it may do in one organization, in one statement
 * (every /v1/om/ request pays for this lookup): whether the key is linked to the
 * organization, and the organization's row if it exists.
 */
export async function findApiKeyForOrganization(
  db: Kysely<DB>,
  secretHash: string,
  organizationId: string,
): Promise<
  { key: ApiKeyRow; linked: boolean; organization: KeyOrganization | undefined } | undefined
> {
  const row = (await selectKeyForOrganization(db, secretHash, organizationId)).rows[0];
  if (row === undefined) return undefined;
  const {
    org_id,
    org_currency,
    org_currency_exponent,
    org_max_payments_per_order,
    linked,
    ...key
  } = row;
  return {
    key,
    // SQLite answers EXISTS with 0/1, PostgreSQL with a boolean.
    linked: linked === true || Number(linked) === 1,
    organization:
      org_id === null
        ? undefined
        : {
            id: org_id,
            currency: org_currency!,
            currency_exponent: org_currency_exponent!,
            max_payments_per_order: org_max_payments_per_order!,
          },
  };
}

const selectAuthChanges = prepared((db) =>
  db.selectFrom('auth_changes').select('version').where('id', '=', 1),
);

/**
 * SQLite: how many changes keys, their organizations and organizations have seen (migration
 * 0008) — a number that moves whenever an authentication answer could.
 */
export async function authChangeCount(db: Kysely<DB>): Promise<number> {
  return (await selectAuthChanges(db)).rows[0]!.version;
}

export async function findApiKey(db: Kysely<DB>, id: string): Promise<ApiKeyWithOrgs | undefined> {
  const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
  return row === undefined ? undefined : (await withOrganizations(db, [row]))[0];
}

/**
 * A page of keys, newest first. `within`: only keys confined to these organizations (every
 * organization of the key is in the set; all-organization keys excluded).
 */
export async function listApiKeys(
  db: Kysely<DB>,
  page: { limit: number; cursor: PageCursor | undefined; within: readonly string[] | undefined },
): Promise<ApiKeyWithOrgs[]> {
  let q = db.selectFrom('api_keys').selectAll();
  if (page.within !== undefined) {
    const within = page.within.length > 0 ? page.within : [''];
    q = q
      .where('all_organizations', '=', 0)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('api_key_organizations as ako')
              .select('ako.api_key_id')
              .whereRef('ako.api_key_id', '=', 'api_keys.id')
              .where('ako.organization_id', 'not in', within),
          ),
        ),
      );
  }
  const rows = await newestFirst(q, page).execute();
  return withOrganizations(db, rows);
}

export async function revokeApiKey(
  db: Kysely<DB>,
  id: string,
  at: { revoked_at: string; updated_at: string; updated_by: string; updated_via: string },
): Promise<void> {
  await db
    .updateTable('api_keys')
    .set(at)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute();
}
