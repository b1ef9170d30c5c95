// Audit fields (API.md §3): who changed a record, through which channel, and when.
import type { Audit } from '../db/schema.ts';
import type { Caller } from './context.ts';

export interface AuditFields {
  createdAt: string;
  createdVia: string;
  createdBy: string;
  updatedAt: string;
  updatedVia: string;
  updatedBy: string;
}

/** Columns of a new row made by `caller` at `at`. */
export function createdBy(caller: Caller, at: string): Audit {
  return {
    created_at: at,
    created_via: caller.via,
    created_by: caller.principal,
    updated_at: at,
    updated_via: caller.via,
    updated_by: caller.principal,
  };
}

/** Columns of a row changed by `caller` at `at`. */
export function updatedBy(
  caller: Caller,
  at: string,
): Pick<Audit, 'updated_at' | 'updated_via' | 'updated_by'> {
  return { updated_at: at, updated_via: caller.via, updated_by: caller.principal };
}

export function auditOf(row: Audit): AuditFields {
  return {
    createdAt: row.created_at,
    createdVia: row.created_via,
    createdBy: row.created_by,
    updatedAt: row.updated_at,
    updatedVia: row.updated_via,
    updatedBy: row.updated_by,
  };
}
