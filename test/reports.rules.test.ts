// The summary's pure parts (src/reports/reports.rules.ts): local days in zones with and
// without DST, range checks and grouping — no database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checkRange,
  daysOfRange,
  localDate,
  nextDate,
  startOfLocalDay,
  summarize,
  type SumRow,
} from '../src/reports/reports.rules.ts';

const at = (iso: string) => Date.parse(iso);

void test('Europe/Berlin: the spring-forward day has 23 hours, the fall-back day 25', () => {
  const start29 = startOfLocalDay('2026-03-29', 'Europe/Berlin');
  const start30 = startOfLocalDay('2026-03-30', 'Europe/Berlin');
  assert.equal(new Date(start29).toISOString(), '2026-03-28T23:00:00.000Z'); // CET, +01:00
  assert.equal(new Date(start30).toISOString(), '2026-03-29T22:00:00.000Z'); // CEST, +02:00
  assert.equal((start30 - start29) / 3_600_000, 23);
  const start25 = startOfLocalDay('2026-10-25', 'Europe/Berlin');
  const start26 = startOfLocalDay('2026-10-26', 'Europe/Berlin');
  assert.equal((start26 - start25) / 3_600_000, 25);
  assert.equal(localDate(at('2026-03-29T22:30:00Z'), 'Europe/Berlin'), '2026-03-30');
  assert.equal(localDate(at('2026-03-29T21:59:59.999Z'), 'Europe/Berlin'), '2026-03-29');
});

void test('Asia/Riyadh has no DST: every day starts at 21:00 UTC the day before', () => {
  for (const date of ['2026-01-01', '2026-03-29', '2026-06-30', '2026-10-25']) {
    const start = startOfLocalDay(date, 'Asia/Riyadh');
    assert.equal(start, at(`${date}T00:00:00+03:00`), date);
  }
});

void test('a zone whose midnight is skipped starts that day at the first instant it has', () => {
  // America/Santiago springs forward at 24:00 → 01:00 (2026-09-06): the day starts at 01:00.
  const start = startOfLocalDay('2026-09-06', 'America/Santiago');
  assert.equal(localDate(start, 'America/Santiago'), '2026-09-06');
  assert.equal(localDate(start - 1, 'America/Santiago'), '2026-09-05');
});

void test('nextDate walks the calendar, leap days included', () => {
  assert.equal(nextDate('2028-02-28'), '2028-02-29');
  assert.equal(nextDate('2028-02-29'), '2028-03-01');
  assert.equal(nextDate('2026-12-31'), '2027-01-01');
});

void test('daysOfRange: each day ends where the next one starts, the last at `to`', () => {
  const zones = ['Europe/Berlin', 'Asia/Riyadh', 'America/New_York', 'Asia/Kathmandu', 'UTC'];
  fc.assert(
    fc.property(
      fc.constantFrom(...zones),
      fc.integer({ min: at('2025-01-01T00:00:00Z'), max: at('2027-01-01T00:00:00Z') }),
      fc.integer({ min: 1, max: 20 * 86_400_000 }),
      (zone, from, length) => {
        const to = from + length;
        const { days, ends } = daysOfRange(from, to, zone);
        assert.equal(days.length, ends.length);
        assert.equal(days[0], localDate(from, zone));
        assert.equal(days.at(-1), localDate(to - 1, zone));
        assert.equal(ends.at(-1), to);
        for (let i = 0; i < days.length - 1; i++) {
          assert.equal(localDate(ends[i]! - 1, zone), days[i]);
          assert.equal(localDate(ends[i]!, zone), days[i + 1]);
          assert.equal(days[i + 1], nextDate(days[i]!));
        }
      },
    ),
    { numRuns: 200 },
  );
});

void test('checkRange: to after from, at most 92 days', () => {
  const from = at('2026-01-01T00:00:00Z');
  assert.equal(checkRange(from, from + 92 * 86_400_000), undefined);
  assert.equal(checkRange(from, from + 1), undefined);
  assert.equal(checkRange(from, from)?.code, 'InvalidParameter');
  assert.equal(checkRange(from, from - 1)?.details?.field, 'to');
  const long = checkRange(from, from + 92 * 86_400_000 + 1);
  assert.equal(long?.code, 'InvalidParameter');
  assert.equal(long?.details?.maxDays, 92);
});

void test('summarize: groups ordered by day then method (none last), totals over all', () => {
  const row = (over: Partial<SumRow>): SumRow => ({
    kind: 'complete',
    type: 'receipt',
    methodId: 'a',
    dayIndex: 0,
    count: 1n,
    amountMinor: 100n,
    ...over,
  });
  const rows = [
    row({ methodId: null, dayIndex: 1 }),
    row({ methodId: 'b', dayIndex: 1, type: 'refund', amountMinor: 30n }),
    row({ methodId: 'b', dayIndex: 0, kind: 'pending', count: 2n, amountMinor: 9n }),
    row({ methodId: 'a', dayIndex: 1, amountMinor: 2n ** 60n }),
  ];
  const { groups, totals } = summarize(rows, 'method,day', ['2026-01-01', '2026-01-02']);
  assert.deepEqual(
    groups.map((g) => [g.day, g.methodId]),
    [
      ['2026-01-01', 'b'],
      ['2026-01-02', 'a'],
      ['2026-01-02', 'b'],
      ['2026-01-02', null],
    ],
  );
  assert.equal(totals.receipts.count, 2n);
  assert.equal(totals.receipts.amountMinor, 2n ** 60n + 100n);
  assert.equal(totals.refunds.amountMinor, 30n);
  assert.deepEqual(totals.pending, { count: 2n, amountMinor: 9n });
  const byDay = summarize(rows, 'day', ['2026-01-01', '2026-01-02']).groups;
  assert.deepEqual(
    byDay.map((g) => Object.keys(g).filter((k) => k === 'day' || k === 'methodId')),
    [['day'], ['day']],
  );
  const byMethod = summarize(
    rows.map((r) => ({ ...r, dayIndex: null })),
    'method',
    [],
  ).groups;
  assert.deepEqual(
    byMethod.map((g) => g.methodId),
    ['a', 'b', null],
  );
});
