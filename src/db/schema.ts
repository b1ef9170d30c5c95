// Row types of the tables, as Kysely sees them. Columns are snake_case; money columns are
// integers of minor units and say so (`_minor`); timestamps are ISO-8601 UTC text with
// milliseconds on both engines, so they sort and compare the same everywhere.
import type { Generated } from 'kysely';

export const ROLES = ['viewer', 'cashier', 'manager', 'admin'] as const;
export type Role = (typeof ROLES)[number];

interface Audit {
  created_at: string;
  created_via: string;
  created_by: string;
  updated_at: string;
  updated_via: string;
  updated_by: string;
}

export interface OrganizationsTable extends Audit {
  id: string;
  name: string;
  currency: string;
  /**
   * Minor-unit exponent, fixed when the organization is created (from Intl at that time), so
   * a later ICU/CLDR update can never rescale amounts already stored.
   */
  currency_exponent: number;
  max_payments_per_order: Generated<number>;
}

export interface ApiKeysTable extends Audit {
  id: string;
  name: string;
  principal: string;
  via: string;
  role: Role;
  /** 1: may act on every organization, present and future; 0: only those listed. */
  all_organizations: number;
  /** SHA-256 of the secret, hex. The secret itself is never stored. */
  secret_hash: string;
  /** The first characters of the secret, to tell keys apart in listings. */
  secret_prefix: string;
  revoked_at: string | null;
}

export interface ApiKeyOrganizationsTable {
  organization_id: string;
  api_key_id: string;
}

export interface DB {
  organizations: OrganizationsTable;
  api_keys: ApiKeysTable;
  api_key_organizations: ApiKeyOrganizationsTable;
}
