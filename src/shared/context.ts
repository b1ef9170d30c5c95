// The tenant and caller travel in every service signature (DESIGN habit 6).
import type { Role } from '../db/schema.ts';

/** Who is calling: the api key's identity, or the CLI's. */
export interface Caller {
  keyId: string | null;
  principal: string;
  via: string;
  role: Role;
  /** True when the key may act on every organization. */
  allOrganizations: boolean;
  /**
   * The organizations the key may act on when `allOrganizations` is false. In a request
   * context (`/v1/om/`) only the request's organization is looked up, so only it is here.
   */
  organizationIds: ReadonlySet<string>;
  requestId: string;
}

export interface OrganizationRef {
  id: string;
  currency: string;
  currencyExponent: number;
  /** The configured maximum of one amount, in this organization's minor units. */
  maxAmountMinor: number;
  maxPaymentsPerOrder: number;
}

/** A caller acting on one organization: the context of every `/v1/om/` service call. */
export interface RequestContext extends Caller {
  organization: OrganizationRef;
}

export function mayUseOrganization(caller: Caller, organizationId: string): boolean {
  return caller.allOrganizations || caller.organizationIds.has(organizationId);
}

/** The command-line tool acts as a platform administrator. */
export function cliCaller(principal = 'cli'): Caller {
  return {
    keyId: null,
    principal,
    via: 'cli',
    role: 'admin',
    allOrganizations: true,
    organizationIds: new Set(),
    requestId: 'cli',
  };
}
