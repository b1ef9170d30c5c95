import { Type } from '@sinclair/typebox';
import { TimeZone } from '../organizations/organizations.schemas.ts';
import { GROUP_BYS, MAX_RANGE_DAYS } from './reports.rules.ts';

const Instant = Type.String({
  format: 'date-time',
  description: 'ISO-8601 instant with a time zone or Z.',
});

export const PaymentsSummaryQuery = Type.Object(
  {
    from: { ...Instant, description: 'Start of the range (inclusive).' },
    to: {
      ...Instant,
      description: `End of the range (exclusive); at most ${MAX_RANGE_DAYS} days after from.`,
    },
    timeZone: Type.Optional({
      ...TimeZone,
      description: "IANA zone the days are cut in; default the organization's timeZone setting.",
    }),
    groupBy: Type.Union(
      GROUP_BYS.map((g) => Type.Literal(g)),
      { default: 'method' },
    ),
  },
  { additionalProperties: false },
);

const CountAmount = Type.Object({
  count: Type.Integer(),
  amount: Type.Number({ description: 'Major units of the organization’s currency.' }),
});

const FigureFields = {
  receipts: { ...CountAmount, description: 'Complete receipts, by completedAt.' },
  refunds: { ...CountAmount, description: 'Complete refunds, by completedAt.' },
  net: Type.Number({ description: 'receipts.amount − refunds.amount.' }),
  pending: {
    ...CountAmount,
    description: 'Pending and in-progress payments (receipts and refunds), by createdAt.',
  },
};

export const PaymentsSummarySchema = Type.Object(
  {
    currency: Type.String(),
    from: Type.String({ format: 'date-time' }),
    to: Type.String({ format: 'date-time' }),
    timeZone: Type.String(),
    groupBy: Type.String(),
    groups: Type.Array(
      Type.Object({
        methodId: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        day: Type.Optional(Type.String({ description: 'Local date (YYYY-MM-DD) in timeZone.' })),
        ...FigureFields,
      }),
    ),
    totals: Type.Object(FigureFields),
  },
  { $id: 'PaymentsSummary' },
);
