// The payments summary (API.md §8): the day's takings by method, as a till's end-of-day
// report or a back office shows them.
import type { Database } from '../db/engine.ts';
import { AppError, invalidParameter } from '../errors.ts';
import { formatSum } from '../money/wire.ts';
import { findOrganization } from '../organizations/organizations.repository.ts';
import type { RequestContext } from '../shared/context.ts';
import { normalizeInstant } from '../shared/instants.ts';
import { requireRole } from '../shared/roles.ts';
import { parseTimeZone } from '../shared/time-zones.ts';
import * as repo from './reports.repository.ts';
import {
  checkRange,
  daysOfRange,
  groupsByDay,
  groupsByMethod,
  summarize,
  type Figures,
  type GroupBy,
} from './reports.rules.ts';

export interface PaymentsSummaryQuery {
  from: string;
  to: string;
  timeZone?: string | undefined;
  groupBy: GroupBy;
}

interface CountAmount {
  count: number;
  amount: number;
}
interface FiguresOut {
  receipts: CountAmount;
  refunds: CountAmount;
  net: number;
  pending: CountAmount;
}

export interface PaymentsSummary {
  currency: string;
  from: string;
  to: string;
  timeZone: string;
  groupBy: GroupBy;
  groups: (FiguresOut & { methodId?: string | null; day?: string })[];
  totals: FiguresOut;
}

function shown(ctx: RequestContext, f: Figures): FiguresOut {
  const pair = (c: { count: bigint; amountMinor: bigint }) => ({
    count: Number(c.count),
    amount: formatSum(ctx, c.amountMinor),
  });
  return {
    receipts: pair(f.receipts),
    refunds: pair(f.refunds),
    net: formatSum(ctx, f.receipts.amountMinor - f.refunds.amountMinor),
    pending: pair(f.pending),
  };
}

export async function paymentsSummary(
  database: Database,
  ctx: RequestContext,
  query: PaymentsSummaryQuery,
): Promise<PaymentsSummary> {
  requireRole(ctx, 'manager');
  const from = normalizeInstant('from', query.from);
  const to = normalizeInstant('to', query.to);
  const failure = checkRange(Date.parse(from), Date.parse(to));
  if (failure !== undefined) {
    const { field, reason, ...details } = failure.details as { field: string; reason: string };
    throw invalidParameter(field, reason, { ...details, from, to });
  }
  let timeZone: string;
  if (query.timeZone !== undefined) timeZone = parseTimeZone('timeZone', query.timeZone);
  else {
    const organization = await findOrganization(database.db, ctx.organization.id);
    if (organization === undefined) throw new AppError('NOT_FOUND');
    timeZone = organization.time_zone;
  }
  const days = groupsByDay(query.groupBy)
    ? daysOfRange(Date.parse(from), Date.parse(to), timeZone)
    : undefined;
  const rows = await repo.sumPayments(database.db, {
    organizationId: ctx.organization.id,
    from,
    to,
    byMethod: groupsByMethod(query.groupBy),
    dayEnds: days?.ends.map((ms) => new Date(ms).toISOString()),
  });
  const { groups, totals } = summarize(
    rows.map((r) => ({
      kind: r.kind,
      type: r.type,
      methodId: r.method_id,
      dayIndex: r.day_index === null ? null : Number(r.day_index),
      count: BigInt(r.n),
      amountMinor: BigInt(r.total),
    })),
    query.groupBy,
    days?.days ?? [],
  );
  return {
    currency: ctx.organization.currency,
    from,
    to,
    timeZone,
    groupBy: query.groupBy,
    groups: groups.map(({ methodId, day, ...figures }) => ({
      ...(methodId !== undefined && { methodId }),
      ...(day !== undefined && { day }),
      ...shown(ctx, figures),
    })),
    totals: shown(ctx, totals),
  };
}
