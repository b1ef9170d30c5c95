// Organizations: the tenants. Creating one is platform administration, so it needs an admin
// key that may act on every organization (or the CLI).
import type { Kysely } from 'kysely';
import type { Database } from '../db/engine.ts';
import { decodeCursor, toPage } from '../db/pagination.ts';
import type { DB } from '../db/schema.ts';
import { AppError, invalidParameter } from '../errors.ts';
import { currencyExponent, isSupportedCurrency } from '../money/currency.ts';
import { mayUseOrganization, type Caller } from '../shared/context.ts';
import { auditOf, createdBy, updatedBy, type AuditFields } from '../shared/audit.ts';
import { newId, nowIso } from '../shared/ids.ts';
import { hasRole } from '../shared/roles.ts';
import { DEFAULT_TIME_ZONE, parseTimeZone } from '../shared/time-zones.ts';
import * as repo from './organizations.repository.ts';

export interface Organization extends AuditFields {
  id: string;
  name: string;
  currency: string;
  /** Decimals of the currency: amounts of this organization have at most this many. */
  currencyExponent: number;
  /** API.md §3.1: `timeZone` is an IANA name, default Asia/Riyadh. */
  settings: { maxPaymentsPerOrder: number; timeZone: string };
}

export const DEFAULT_MAX_PAYMENTS_PER_ORDER = 100;

export function toOrganization(row: repo.OrganizationRow): Organization {
  return {
    id: row.id,
    name: row.name,
    currency: row.currency,
    currencyExponent: row.currency_exponent,
    settings: { maxPaymentsPerOrder: row.max_payments_per_order, timeZone: row.time_zone },
    ...auditOf(row),
  };
}

function requireAdmin(caller: Caller): void {
  if (!hasRole(caller.role, 'admin')) throw new AppError('FORBIDDEN');
}

export interface CreateOrganizationInput {
  name: string;
  currency: string;
  maxPaymentsPerOrder?: number | undefined;
  timeZone?: string | undefined;
}

export async function createOrganization(
  database: Database,
  caller: Caller,
  input: CreateOrganizationInput,
  db: Kysely<DB> = database.db,
): Promise<Organization> {
  requireAdmin(caller);
  if (!caller.allOrganizations)
    throw new AppError('FORBIDDEN', { reason: 'needs an all-organizations admin key' });
  // Exponents above 4 exist in no currency in use; the schema's CHECK refuses them too.
  if (!isSupportedCurrency(input.currency) || currencyExponent(input.currency) > 4) {
    throw invalidParameter('currency', 'not an ISO 4217 currency code');
  }
  const at = nowIso();
  const row: repo.OrganizationRow = {
    id: newId(),
    name: input.name,
    currency: input.currency,
    currency_exponent: currencyExponent(input.currency),
    max_payments_per_order: input.maxPaymentsPerOrder ?? DEFAULT_MAX_PAYMENTS_PER_ORDER,
    time_zone:
      input.timeZone === undefined ? DEFAULT_TIME_ZONE : parseTimeZone('timeZone', input.timeZone),
    ...createdBy(caller, at),
  };
  await repo.insertOrganization(db, row);
  return toOrganization(row);
}

/** One organization the caller may see; a foreign id is NOT_FOUND, like a missing one. */
export async function getOrganization(
  database: Database,
  caller: Caller,
  id: string,
): Promise<Organization> {
  const row = mayUseOrganization(caller, id)
    ? await repo.findOrganization(database.db, id)
    : undefined;
  if (row === undefined) throw new AppError('NOT_FOUND');
  return toOrganization(row);
}

export async function listOrganizations(
  database: Database,
  caller: Caller,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ items: Organization[]; next: string | null }> {
  requireAdmin(caller);
  const rows = await repo.listOrganizations(database.db, {
    limit: page.limit,
    cursor: decodeCursor(page.cursor),
    only: caller.allOrganizations ? undefined : [...caller.organizationIds],
  });
  const { rows: pageRows, next } = toPage(rows, page.limit);
  return { items: pageRows.map(toOrganization), next };
}

export async function updateOrganization(
  database: Database,
  caller: Caller,
  id: string,
  input: {
    name?: string | undefined;
    maxPaymentsPerOrder?: number | undefined;
    timeZone?: string | undefined;
  },
): Promise<void> {
  requireAdmin(caller);
  const timeZone =
    input.timeZone === undefined ? undefined : parseTimeZone('timeZone', input.timeZone);
  if (!mayUseOrganization(caller, id)) throw new AppError('NOT_FOUND');
  const updated = await repo.updateOrganization(database.db, id, {
    ...(input.name !== undefined && { name: input.name }),
    ...(input.maxPaymentsPerOrder !== undefined && {
      max_payments_per_order: input.maxPaymentsPerOrder,
    }),
    ...(timeZone !== undefined && { time_zone: timeZone }),
    ...updatedBy(caller, nowIso()),
  });
  if (!updated) throw new AppError('NOT_FOUND');
}
