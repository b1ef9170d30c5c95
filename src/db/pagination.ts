// Keyset pagination, newest first: (created_at desc, id desc). Ids are unique, so the order is
// total and a page boundary never skips or repeats a row, even when timestamps are equal.
import { sql, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely';
import { invalidParameter } from '../errors.ts';

export const PAGE_LIMIT_DEFAULT = 20;
export const PAGE_LIMIT_MAX = 100;

export interface PageCursor {
  createdAt: string;
  id: string;
}

export function encodeCursor(row: { created_at: string; id: string }): string {
  return Buffer.from(JSON.stringify([row.created_at, row.id])).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): PageCursor | undefined {
  if (cursor === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'string' &&
      typeof value[1] === 'string' &&
      !`${value[0]}${value[1]}`.includes('\u0000')
    ) {
      return { createdAt: value[0], id: value[1] };
    }
  } catch {
    // fall through: any undecodable cursor is the same client error
  }
  throw invalidParameter('cursor', 'not a cursor returned by this list');
}

/** Splits the limit+1 rows a page query fetched into the page and the next cursor. */
export function toPage<R extends { created_at: string; id: string }>(
  rows: R[],
  limit: number,
): { rows: R[]; next: string | null } {
  if (rows.length <= limit) return { rows, next: null };
  const page = rows.slice(0, limit);
  return { rows: page, next: encodeCursor(page[page.length - 1]!) };
}

/** The keyset condition "strictly after this cursor" for a single-table list query. */
export function afterCursor(cursor: PageCursor): RawBuilder<SqlBool> {
  return sql<SqlBool>`(created_at < ${cursor.createdAt} or (created_at = ${cursor.createdAt} and id < ${cursor.id}))`;
}

/**
 * Finishes a single-table list query: rows strictly after the cursor, newest first with the
 * id as tie-break, one row more than the page so `toPage` can tell whether another follows.
 */
export function newestFirst<D, TB extends keyof D, O>(
  query: SelectQueryBuilder<D, TB, O>,
  page: { limit: number; cursor: PageCursor | undefined },
): SelectQueryBuilder<D, TB, O> {
  const after = page.cursor === undefined ? query : query.where(afterCursor(page.cursor));
  return after
    .orderBy(sql`created_at`, 'desc')
    .orderBy(sql`id`, 'desc')
    .limit(page.limit + 1);
}
