// RFC 7240 `Prefer` for the two writes that answer the order's whole payment list (confirm
// and delete, API.md §3.5.2/§3.5.4): `Prefer: return=minimal` answers `{success: true}`
// instead, so a till confirming on a long order does not pay for reading, serializing and
// storing the list (~60 KB at 100 payments). Without the header the answer is the contract's.
import type { FastifyRequest } from 'fastify';
import { createRequire } from 'node:module';

// CommonJS without typings: `Prefer: a, return=minimal; x=1` → { a: true, return: 'minimal', … }.
const parsePreferHeader = createRequire(import.meta.url)('parse-prefer-header') as (
  header: string | string[] | undefined,
) => Record<string, string | true | undefined>;

/** Documented with the routes that honour it. */
export const PREFER_HEADER_DESCRIPTION =
  "RFC 7240. `return=minimal`: answer `{success: true}` instead of the order's payments.";

export function prefersMinimal(request: FastifyRequest): boolean {
  return parsePreferHeader(request.headers.prefer).return === 'minimal';
}
