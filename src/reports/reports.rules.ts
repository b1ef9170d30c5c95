// The payments summary's pure parts (API.md §8): the range check, the local days of a range in
// a time zone, and adding up grouped sums. No I/O; exhaustively tested without a database.
//
// Days are cut at local midnight in the report's IANA zone. A local day is not always 24 h
// (Europe/Berlin's last Sunday of March has 23, of October 25), and in a few zones midnight
// itself is skipped by a DST change (the day then starts at 01:00). So a day's start is found
// as the first instant whose local date is that day, with Intl's time-zone database — never by
// adding 86,400,000 ms.
import type { PaymentType } from '../db/schema.ts';
import type { RuleFailure } from '../errors.ts';

/** §8: `from` and `to` at most 92 days apart. */
export const MAX_RANGE_DAYS = 92;
const DAY_MS = 86_400_000;

export const GROUP_BYS = ['method', 'day', 'method,day'] as const;
export type GroupBy = (typeof GROUP_BYS)[number];

export function groupsByMethod(groupBy: GroupBy): boolean {
  return groupBy !== 'day';
}
export function groupsByDay(groupBy: GroupBy): boolean {
  return groupBy !== 'method';
}

/** The range [from, to): `to` after `from`, at most MAX_RANGE_DAYS apart. */
export function checkRange(fromMs: number, toMs: number): RuleFailure | undefined {
  if (toMs <= fromMs) {
    return {
      code: 'InvalidParameter',
      details: { field: 'to', reason: 'must be after from' },
    };
  }
  if (toMs - fromMs > MAX_RANGE_DAYS * DAY_MS) {
    return {
      code: 'InvalidParameter',
      details: {
        field: 'to',
        reason: `must be at most ${MAX_RANGE_DAYS} days after from`,
        maxDays: MAX_RANGE_DAYS,
      },
    };
  }
  return undefined;
}

const dateFormats = new Map<string, Intl.DateTimeFormat>();
function dateFormat(timeZone: string): Intl.DateTimeFormat {
  let format = dateFormats.get(timeZone);
  if (format === undefined) {
    // en-CA writes dates as YYYY-MM-DD; the parts are read by type, not by position anyway.
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      calendar: 'gregory',
      numberingSystem: 'latn',
    });
    // Bounded: zones come from a validated set of a few hundred names.
    dateFormats.set(timeZone, format);
  }
  return format;
}

/** The local calendar date (YYYY-MM-DD) of an instant in a time zone. */
export function localDate(ms: number, timeZone: string): string {
  const parts = dateFormat(timeZone).formatToParts(ms);
  const part = (type: string) => parts.find((p) => p.type === type)!.value;
  return `${part('year')}-${part('month')}-${part('day')}`;
}

/** The calendar date after `date` (YYYY-MM-DD), in the proleptic Gregorian calendar. */
export function nextDate(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/**
 * The first instant (ms) whose local date in `timeZone` is `date` or later. Local dates only
 * move forward with time at the day boundaries that matter here (a zone's offset changes by
 * at most a few hours, never across two midnights), so a binary search over the 26 hours
 * around UTC midnight finds it, to the millisecond (27 steps).
 */
export function startOfLocalDay(date: string, timeZone: string): number {
  const utcMidnight = Date.parse(`${date}T00:00:00.000Z`);
  // Offsets lie within −12 h … +14 h: the local midnight is inside this window.
  let lo = utcMidnight - 14 * 3_600_000 - 1; // local date before `date`
  let hi = utcMidnight + 12 * 3_600_000 + 1; // local date is `date` or later
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (localDate(mid, timeZone) >= date) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The local days the range [fromMs, toMs) touches, in order, and where each ends: `ends[i]`
 * is the start of day i + 1, the last day's end is `toMs`.
 */
export function daysOfRange(
  fromMs: number,
  toMs: number,
  timeZone: string,
): { days: string[]; ends: number[] } {
  const days = [localDate(fromMs, timeZone)];
  const ends: number[] = [];
  for (;;) {
    const next = nextDate(days.at(-1)!);
    const start = startOfLocalDay(next, timeZone);
    if (start >= toMs) break;
    ends.push(start);
    days.push(next);
  }
  ends.push(toMs);
  return { days, ends };
}

/** One row of the grouped sums the database answers (amounts in minor units). */
export interface SumRow {
  /** `complete` payments counted by completedAt; `pending` (pending/progress) by createdAt. */
  kind: 'complete' | 'pending';
  type: PaymentType;
  methodId: string | null;
  /** Index into the range's days, or null when not grouped by day. */
  dayIndex: number | null;
  count: bigint;
  amountMinor: bigint;
}

export interface Figures {
  receipts: { count: bigint; amountMinor: bigint };
  refunds: { count: bigint; amountMinor: bigint };
  pending: { count: bigint; amountMinor: bigint };
}

export interface Group extends Figures {
  methodId?: string | null;
  day?: string;
}

const zero = (): Figures => ({
  receipts: { count: 0n, amountMinor: 0n },
  refunds: { count: 0n, amountMinor: 0n },
  pending: { count: 0n, amountMinor: 0n },
});

function add(into: Figures, row: SumRow): void {
  const bucket =
    row.kind === 'pending' ? into.pending : row.type === 'receipt' ? into.receipts : into.refunds;
  bucket.count += row.count;
  bucket.amountMinor += row.amountMinor;
}

/**
 * Groups (only those with a payment), ordered by day, then by method id (a payment without a
 * method last), and the totals over every row.
 */
export function summarize(
  rows: readonly SumRow[],
  groupBy: GroupBy,
  days: readonly string[],
): { groups: Group[]; totals: Figures } {
  const byKey = new Map<string, Group>();
  const totals = zero();
  for (const row of rows) {
    add(totals, row);
    const methodId = groupsByMethod(groupBy) ? row.methodId : undefined;
    const day = groupsByDay(groupBy) ? days[row.dayIndex!] : undefined;
    const key = JSON.stringify([methodId, day]);
    let group = byKey.get(key);
    if (group === undefined) {
      group = {
        ...(methodId !== undefined && { methodId }),
        ...(day !== undefined && { day }),
        ...zero(),
      };
      byKey.set(key, group);
    }
    add(group, row);
  }
  const groups = [...byKey.values()].sort(
    (a, b) =>
      (a.day ?? '').localeCompare(b.day ?? '') ||
      compareMethods(a.methodId ?? null, b.methodId ?? null),
  );
  return { groups, totals };
}

function compareMethods(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}
