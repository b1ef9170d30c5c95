// Reports (API.md §8): schemas, codes, handlers.
import { contextOf } from '../http/auth.ts';
import { route, routes } from '../http/route.ts';
import { PaymentsSummaryQuery, PaymentsSummarySchema } from './reports.schemas.ts';
import * as service from './reports.service.ts';

/** Under /v1/om (organization keys). */
export const reportRoutes = routes({
  auth: 'organization',
  tags: ['reports'],
  routes: [
    route({
      method: 'GET',
      url: '/reports/payments-summary',
      operationId: 'getPaymentsSummary',
      summary: "The takings of a range by method and/or local day (manager): a till's Z report",
      description:
        'Complete payments count by `completedAt` (reversed ones by neither), pending and ' +
        'in-progress ones by `createdAt`; days are cut in `timeZone` (default the ' +
        "organization's). Sums are exact, in minor units, shown in major units.",
      querystring: PaymentsSummaryQuery,
      data: PaymentsSummarySchema,
      errors: [
        [
          'InvalidParameter',
          'A bad or too long range (at most 92 days), an unknown time zone or groupBy; `details.field` names it.',
        ],
        [
          'FORBIDDEN',
          'The key may not act on this organization, or is below manager (`details.requiredRole`).',
        ],
      ],
      handler: async (request) => ({
        data: await service.paymentsSummary(request.database, contextOf(request), request.query),
      }),
    }),
  ],
});
