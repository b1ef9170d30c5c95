// Roles are ordered: each one can do everything the one before it can (API.md §4).
import { ROLES, type Role } from '../db/schema.ts';
import { AppError } from '../errors.ts';

const RANK: Record<Role, number> = Object.fromEntries(ROLES.map((r, i) => [r, i])) as Record<
  Role,
  number
>;

export function hasRole(role: Role, minimum: Role): boolean {
  return RANK[role] >= RANK[minimum];
}

/** Throws FORBIDDEN unless the caller's role is at least `minimum`. */
export function requireRole(caller: { role: Role }, minimum: Role): void {
  if (!hasRole(caller.role, minimum)) throw new AppError('FORBIDDEN', { requiredRole: minimum });
}
