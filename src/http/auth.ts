// Authentication of every /v1/om/ and /v1/admin/ call (API.md §1, §4). Runs before the body
// is parsed, so an unauthenticated request costs one indexed lookup and nothing more.
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import {
  authenticate,
  authenticateForOrganization,
  callerFromKey,
  type KeyForOrganization,
} from '../api-keys/api-keys.service.ts';
import type { AuthCache } from '../api-keys/auth-cache.ts';
import type { Database } from '../db/engine.ts';
import { AppError, invalidParameter } from '../errors.ts';
import type { Caller, RequestContext } from '../shared/context.ts';
import { hasRole } from '../shared/roles.ts';
import { maxMinorFor } from '../money/amount.ts';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
    ctx: RequestContext | null;
    /**
     * The database for this request's handler (set in src/app.ts): inside an idempotent
     * write, the view within the request's transaction (src/http/idempotency.ts).
     */
    database: Database;
  }
}

async function callerOf(database: Database, request: FastifyRequest): Promise<Caller> {
  const secret = request.headers['api-key'];
  // Missing, unknown and revoked keys all get the same 401 body.
  if (typeof secret !== 'string' || secret === '') throw new AppError('UNAUTHORIZED');
  const key = await authenticate(database, secret);
  if (key === undefined) throw new AppError('UNAUTHORIZED');
  return callerFromKey(key, request.id);
}

/** `/v1/om/`: a live key plus an `organization-id` the key may act on. */
export function organizationAuth(
  database: Database,
  maxAmountMajor: number,
  /** Answers kept between requests (PostgreSQL; src/api-keys/auth-cache.ts). */
  cache?: AuthCache<KeyForOrganization>,
): onRequestAsyncHookHandler {
  return async (request) => {
    const organizationId = request.headers['organization-id'];
    if (typeof organizationId !== 'string' || organizationId === '') {
      // A bad key is still told so first (401 before 400).
      await callerOf(database, request);
      throw invalidParameter('organization-id', 'header is required');
    }
    const secret = request.headers['api-key'];
    // Missing, unknown and revoked keys all get the same 401 body.
    if (typeof secret !== 'string' || secret === '') throw new AppError('UNAUTHORIZED');
    // Key, link and organization in one statement: this runs before every /v1/om/ request.
    const found = await authenticateForOrganization(
      database,
      secret,
      organizationId,
      request.id,
      cache,
    );
    if (found === undefined) throw new AppError('UNAUTHORIZED');
    // A key not allowed for the organization and an organization that does not exist
    // answer the same, so keys cannot probe for other tenants.
    const row = found.organization;
    if (row === undefined) throw new AppError('FORBIDDEN');
    request.ctx = {
      ...found.caller,
      organization: {
        id: row.id,
        currency: row.currency,
        currencyExponent: row.currency_exponent,
        maxAmountMinor: maxMinorFor(maxAmountMajor, row.currency_exponent),
        maxPaymentsPerOrder: row.max_payments_per_order,
      },
    };
  };
}

/** `/v1/admin/`: a live key with the admin role. */
export function adminAuth(database: Database): onRequestAsyncHookHandler {
  return async (request) => {
    const caller = await callerOf(database, request);
    if (!hasRole(caller.role, 'admin')) throw new AppError('FORBIDDEN');
    request.caller = caller;
  };
}

export function contextOf(request: FastifyRequest): RequestContext {
  if (request.ctx === null) throw new Error('route registered outside organizationAuth');
  return request.ctx;
}

export function callerOfRequest(request: FastifyRequest): Caller {
  if (request.caller === null) throw new Error('route registered outside adminAuth');
  return request.caller;
}
