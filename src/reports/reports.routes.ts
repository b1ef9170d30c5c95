// Thin routes: schema in, one service call, envelope out.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { contextOf } from '../http/auth.ts';
import { ok } from '../http/envelope.ts';
import { OrgHeaders, responses } from '../http/schemas.ts';
import type { ErrorCode } from '../errors.ts';
import { PaymentsSummaryQuery, PaymentsSummarySchema } from './reports.schemas.ts';
import * as service from './reports.service.ts';

/**
 * The codes GET /reports/payments-summary can answer, for the per-route declaration in the
 * OpenAPI document: a bad or too long range, an unknown zone or groupBy (InvalidParameter),
 * a key below manager (FORBIDDEN), and the transport ones every route shares.
 */
export const PAYMENTS_SUMMARY_ERRORS = [
  'InvalidParameter',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'SERVICE_UNAVAILABLE',
] as const satisfies readonly ErrorCode[];

/** Under /v1/om (organization keys). */
export function reportRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/reports/payments-summary',
      {
        schema: {
          tags: ['reports'],
          summary: "The takings of a range by method and/or local day (manager): a till's Z report",
          headers: OrgHeaders,
          querystring: PaymentsSummaryQuery,
          response: responses(PaymentsSummarySchema),
        },
      },
      async (request) =>
        ok(
          request.id,
          await service.paymentsSummary(request.database, contextOf(request), request.query),
        ),
    );
  };
}
