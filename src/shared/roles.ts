// Roles are ordered: each one can do everything the one before it can (API.md §4).
import { ROLES, type Role } from '../db/schema.ts';

const RANK: Record<Role, number> = Object.fromEntries(ROLES.map((r, i) => [r, i])) as Record<
  Role,
  number
>;

export function hasRole(role: Role, minimum: Role): boolean {
  return RANK[role] >= RANK[minimum];
}
