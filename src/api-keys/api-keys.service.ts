// Api keys (API.md §3.1): the secret is shown once at creation and stored only as a hash.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/engine.ts';
import { decodeCursor, toPage } from '../db/pagination.ts';
import type { DB, Role } from '../db/schema.ts';
import { AppError, invalidParameter } from '../errors.ts';
import { findOrganization } from '../organizations/organizations.repository.ts';
import { mayUseOrganization, type Caller } from '../shared/context.ts';
import { auditOf, createdBy, updatedBy, type AuditFields } from '../shared/audit.ts';
import { newId, nowIso } from '../shared/ids.ts';
import { hasRole } from '../shared/roles.ts';
import * as repo from './api-keys.repository.ts';
import type { AuthCache } from './auth-cache.ts';

export const SECRET_PREFIX = 'omk_';
const PREFIX_SHOWN = SECRET_PREFIX.length + 6;

export interface ApiKey extends AuditFields {
  id: string;
  name: string;
  principal: string;
  via: string;
  role: Role;
  /** 'all', or the ids of the organizations the key may act on. */
  organizations: 'all' | string[];
  /** The first characters of the secret, to recognise a key without revealing it. */
  secretPrefix: string;
  revokedAt: string | null;
}

export interface CreateApiKeyInput {
  name: string;
  role: Role;
  organizations: 'all' | string[];
  principal?: string | undefined;
  via?: string | undefined;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function toApiKey(row: repo.ApiKeyWithOrgs): ApiKey {
  return {
    id: row.id,
    name: row.name,
    principal: row.principal,
    via: row.via,
    role: row.role,
    organizations: row.all_organizations === 1 ? 'all' : row.organization_ids,
    secretPrefix: row.secret_prefix,
    revokedAt: row.revoked_at,
    ...auditOf(row),
  };
}

/** Whether a caller administers this key: all of the key's organizations are the caller's. */
function administers(caller: Caller, key: repo.ApiKeyWithOrgs): boolean {
  if (caller.allOrganizations) return true;
  return (
    key.all_organizations === 0 && key.organization_ids.every((o) => caller.organizationIds.has(o))
  );
}

export async function createApiKey(
  database: Database,
  caller: Caller,
  input: CreateApiKeyInput,
  db: Kysely<DB> = database.db,
): Promise<{ apiKey: ApiKey; secret: string }> {
  if (!hasRole(caller.role, 'admin')) throw new AppError('FORBIDDEN');
  let organizationIds: string[] = [];
  if (input.organizations === 'all') {
    // Only a key that already reaches every organization may hand that reach on.
    if (!caller.allOrganizations) {
      throw new AppError('FORBIDDEN', { reason: 'needs an all-organizations admin key' });
    }
  } else {
    organizationIds = [...new Set(input.organizations)];
    if (organizationIds.length === 0) {
      throw invalidParameter('organizations', 'list at least one organization, or "all"');
    }
    for (const id of organizationIds) {
      // An organization the caller may not use looks exactly like one that does not exist.
      const exists =
        mayUseOrganization(caller, id) && (await findOrganization(db, id)) !== undefined;
      if (!exists) throw invalidParameter('organizations', 'unknown organization', { value: id });
    }
  }
  const secret = SECRET_PREFIX + randomBytes(24).toString('base64url');
  const at = nowIso();
  const row: repo.ApiKeyRow = {
    id: newId(),
    name: input.name,
    principal: input.principal ?? input.name,
    via: input.via ?? 'api',
    role: input.role,
    all_organizations: input.organizations === 'all' ? 1 : 0,
    secret_hash: hashSecret(secret),
    secret_prefix: secret.slice(0, PREFIX_SHOWN),
    revoked_at: null,
    ...createdBy(caller, at),
  };
  await repo.insertApiKey(db, row, organizationIds);
  return { apiKey: toApiKey({ ...row, organization_ids: organizationIds }), secret };
}

export async function listApiKeys(
  database: Database,
  caller: Caller,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ items: ApiKey[]; next: string | null }> {
  if (!hasRole(caller.role, 'admin')) throw new AppError('FORBIDDEN');
  const rows = await repo.listApiKeys(database.db, {
    limit: page.limit,
    cursor: decodeCursor(page.cursor),
    within: caller.allOrganizations ? undefined : [...caller.organizationIds],
  });
  const { rows: pageRows, next } = toPage(rows, page.limit);
  return { items: pageRows.map(toApiKey), next };
}

export async function getApiKey(database: Database, caller: Caller, id: string): Promise<ApiKey> {
  if (!hasRole(caller.role, 'admin')) throw new AppError('FORBIDDEN');
  const row = await repo.findApiKey(database.db, id);
  if (row === undefined || !administers(caller, row)) throw new AppError('NOT_FOUND');
  return toApiKey(row);
}

/** Revokes a key at once; revoking a revoked key again is a no-op success. */
export async function revokeApiKey(
  database: Database,
  caller: Caller,
  id: string,
): Promise<ApiKey> {
  if (!hasRole(caller.role, 'admin')) throw new AppError('FORBIDDEN');
  return database.transaction(async (tx) => {
    const row = await repo.findApiKey(tx, id);
    if (row === undefined || !administers(caller, row)) throw new AppError('NOT_FOUND');
    const at = nowIso();
    await repo.revokeApiKey(tx, id, { revoked_at: at, ...updatedBy(caller, at) });
    const after = await repo.findApiKey(tx, id);
    return toApiKey(after!);
  });
}

/**
 * The live key behind a secret, or undefined (unknown or revoked: the caller cannot tell
 * which). The lookup is by hash, so its timing depends on the hash, never on how much of a
 * guessed secret is right; the final comparison is constant-time as well.
 */
export async function authenticate(
  database: Database,
  secret: string,
): Promise<repo.ApiKeyWithOrgs | undefined> {
  if (!secret.startsWith(SECRET_PREFIX) || secret.length > 200) return undefined;
  const hash = hashSecret(secret);
  const row = await repo.findApiKeyByHash(database.db, hash);
  if (row === undefined || row.revoked_at !== null) return undefined;
  const same = timingSafeEqual(Buffer.from(row.secret_hash, 'hex'), Buffer.from(hash, 'hex'));
  return same ? row : undefined;
}

/**
 * A live key and what it may do in `organizationId` (the one-statement lookup of every
 * /v1/om/ request). The caller it yields knows only that organization: the request acts on
 * no other. `organization` is undefined when the key may not use it or it does not exist —
 * the two are not told apart.
 */
/** What authentication reads for a key (by its hash) and an organization. */
export type KeyForOrganization = NonNullable<
  Awaited<ReturnType<typeof repo.findApiKeyForOrganization>>
>;

async function keyForOrganization(
  database: Database,
  hash: string,
  organizationId: string,
  cache: AuthCache<KeyForOrganization> | undefined,
): Promise<KeyForOrganization | undefined> {
  if (cache === undefined) return repo.findApiKeyForOrganization(database.db, hash, organizationId);
  if (cache.counted) cache.observe(await repo.authChangeCount(database.db));
  const id = `${hash} ${organizationId}`;
  const kept = cache.get(id);
  if (kept !== undefined) return kept;
  const token = cache.token();
  const found = await repo.findApiKeyForOrganization(database.db, hash, organizationId);
  // Only live keys for organizations that exist are kept: guessed keys or organization ids
  // would only fill the cache (and push out the answers worth keeping).
  if (found !== undefined && found.key.revoked_at === null && found.organization !== undefined)
    cache.set(token, id, found);
  return found;
}

export async function authenticateForOrganization(
  database: Database,
  secret: string,
  organizationId: string,
  requestId: string,
  cache?: AuthCache<KeyForOrganization>,
): Promise<{ caller: Caller; organization: repo.KeyOrganization | undefined } | undefined> {
  if (!secret.startsWith(SECRET_PREFIX) || secret.length > 200) return undefined;
  const hash = hashSecret(secret);
  const found = await keyForOrganization(database, hash, organizationId, cache);
  if (found === undefined || found.key.revoked_at !== null) return undefined;
  const same = timingSafeEqual(Buffer.from(found.key.secret_hash, 'hex'), Buffer.from(hash, 'hex'));
  if (!same) return undefined;
  const caller = callerFromKey(
    { ...found.key, organization_ids: found.linked ? [organizationId] : [] },
    requestId,
  );
  const allowed = mayUseOrganization(caller, organizationId);
  return { caller, organization: allowed ? found.organization : undefined };
}

export function callerFromKey(key: repo.ApiKeyWithOrgs, requestId: string): Caller {
  return {
    keyId: key.id,
    principal: key.principal,
    via: key.via,
    role: key.role,
    allOrganizations: key.all_organizations === 1,
    organizationIds: new Set(key.organization_ids),
    requestId,
  };
}
