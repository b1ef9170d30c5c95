import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { currencyExponent, isSupportedCurrency } from '../src/money/currency.ts';
import { fromMinor, fromMinorSum, maxMinorFor, toMinor } from '../src/money/amount.ts';

// A configured maximum near 10^15 minor units: every integer up to it has at most 15
// significant digits, so its major-unit decimal survives a trip through a double.
const MAX = 10 ** 15;
const RUNS = { numRuns: 1000 };

// ---------- currency ----------

void test('three-decimal currencies have exponent 3', () => {
  for (const code of ['KWD', 'BHD', 'OMR', 'JOD', 'TND']) {
    assert.equal(isSupportedCurrency(code), true, code);
    assert.equal(currencyExponent(code), 3, code);
  }
});

void test('two-decimal currencies have exponent 2', () => {
  for (const code of ['SAR', 'AED', 'EGP', 'USD', 'EUR']) {
    assert.equal(isSupportedCurrency(code), true, code);
    assert.equal(currencyExponent(code), 2, code);
  }
});

void test('JPY has exponent 0', () => {
  assert.equal(isSupportedCurrency('JPY'), true);
  assert.equal(currencyExponent('JPY'), 0);
});

void test('currencyExponent is stable across calls (cached)', () => {
  assert.equal(currencyExponent('KWD'), currencyExponent('KWD'));
  assert.equal(currencyExponent('JPY'), 0);
  assert.equal(currencyExponent('JPY'), 0);
});

void test('unsupported or malformed codes are rejected', () => {
  for (const code of ['XYZ', 'sar', '', 'SARR', 'SA', ' SAR', 'SAR ', 'S1R']) {
    assert.equal(isSupportedCurrency(code), false, JSON.stringify(code));
    assert.throws(() => currencyExponent(code), Error, JSON.stringify(code));
  }
  // Intl.NumberFormat alone would accept these (falling back to 2 digits); we must not.
  assert.equal(
    new Intl.NumberFormat('en', { style: 'currency', currency: 'XYZ' }).resolvedOptions()
      .maximumFractionDigits,
    2,
  );
  assert.throws(() => currencyExponent('XYZ'), /unsupported currency/);
});

// ---------- toMinor: examples ----------

void test('toMinor converts exact decimals to minor units', () => {
  assert.deepEqual(toMinor(1.005, 3, MAX), { ok: true, minor: 1005 });
  assert.deepEqual(toMinor(12.5, 3, MAX), { ok: true, minor: 12500 });
  assert.deepEqual(toMinor(0.1, 2, MAX), { ok: true, minor: 10 });
  // 0.29 times 100 in floating point is 28.999999999999996.
  assert.deepEqual(toMinor(0.29, 2, MAX), { ok: true, minor: 29 });
  assert.deepEqual(toMinor(10.05, 2, MAX), { ok: true, minor: 1005 });
  assert.deepEqual(toMinor(0.001, 3, MAX), { ok: true, minor: 1 });
  assert.deepEqual(toMinor(100, 2, MAX), { ok: true, minor: 10000 });
  assert.deepEqual(toMinor(7, 0, MAX), { ok: true, minor: 7 });
  assert.deepEqual(toMinor(1.5e-7, 8, MAX), { ok: true, minor: 15 });
  assert.deepEqual(toMinor(1e20, 0, Number.MAX_SAFE_INTEGER), { ok: false, reason: 'too_large' });
});

void test('toMinor rejects more decimals than the currency allows', () => {
  assert.deepEqual(toMinor(10.005, 2, MAX), { ok: false, reason: 'too_precise' });
  assert.deepEqual(toMinor(1.5, 0, MAX), { ok: false, reason: 'too_precise' });
  assert.deepEqual(toMinor(0.0001, 3, MAX), { ok: false, reason: 'too_precise' });
  // String(1e-7) is "1e-7": exponent notation must be understood, not rejected as garbage.
  assert.equal(String(1e-7), '1e-7');
  assert.deepEqual(toMinor(1e-7, 2, MAX), { ok: false, reason: 'too_precise' });
  assert.deepEqual(toMinor(Number.MIN_VALUE, 4, MAX), { ok: false, reason: 'too_precise' });
});

void test('toMinor rejects huge values as too_large, including exponent notation', () => {
  assert.equal(String(1e21), '1e+21');
  assert.deepEqual(toMinor(1e21, 2, MAX), { ok: false, reason: 'too_large' });
  assert.deepEqual(toMinor(1e21, 0, Number.MAX_SAFE_INTEGER), { ok: false, reason: 'too_large' });
  assert.deepEqual(toMinor(Number.MAX_VALUE, 0, Number.MAX_SAFE_INTEGER), {
    ok: false,
    reason: 'too_large',
  });
});

void test('toMinor rejects zero and negatives as not_positive', () => {
  for (const value of [0, -0, -1, -0.01, -1e21, -Number.MIN_VALUE]) {
    assert.deepEqual(toMinor(value, 2, MAX), { ok: false, reason: 'not_positive' }, String(value));
  }
});

void test('toMinor rejects non-finite numbers as not_finite', () => {
  for (const value of [NaN, Infinity, -Infinity]) {
    assert.deepEqual(toMinor(value, 2, MAX), { ok: false, reason: 'not_finite' }, String(value));
  }
});

void test('toMinor rejects non-numbers as not_a_number', () => {
  for (const value of ['10', '10.5', null, undefined, 10n, true, {}, [10], new Number(10)]) {
    assert.deepEqual(toMinor(value, 2, MAX), { ok: false, reason: 'not_a_number' });
  }
});

void test('toMinor checks in the documented order', () => {
  // too_precise wins over too_large.
  assert.deepEqual(toMinor(123456789.125, 2, 100), { ok: false, reason: 'too_precise' });
  // not_positive wins over too_precise.
  assert.deepEqual(toMinor(-10.005, 2, MAX), { ok: false, reason: 'not_positive' });
  // not_finite wins over not_positive.
  assert.deepEqual(toMinor(-Infinity, 2, MAX), { ok: false, reason: 'not_finite' });
});

void test('2^53 + 1 is too_large and results are always safe integers', () => {
  // 2 ** 53 + 1 is not representable; the double is 2^53, one past MAX_SAFE_INTEGER.
  assert.deepEqual(toMinor(2 ** 53 + 1, 0, Number.MAX_SAFE_INTEGER), {
    ok: false,
    reason: 'too_large',
  });
  assert.deepEqual(toMinor(2 ** 53 + 1, 2, MAX), { ok: false, reason: 'too_large' });
  assert.deepEqual(toMinor(Number.MAX_SAFE_INTEGER, 0, Number.MAX_SAFE_INTEGER), {
    ok: true,
    minor: Number.MAX_SAFE_INTEGER,
  });
});

void test('exactly maxMinor is accepted, one minor unit more is rejected', () => {
  const max3 = maxMinorFor(1_000_000, 3);
  assert.equal(max3, 1_000_000_000);
  assert.deepEqual(toMinor(1_000_000, 3, max3), { ok: true, minor: max3 });
  assert.deepEqual(toMinor(1_000_000.001, 3, max3), { ok: false, reason: 'too_large' });

  const max2 = maxMinorFor(50_000, 2);
  assert.deepEqual(toMinor(50_000, 2, max2), { ok: true, minor: 5_000_000 });
  assert.deepEqual(toMinor(50_000.01, 2, max2), { ok: false, reason: 'too_large' });

  const max0 = maxMinorFor(1_000_000, 0);
  assert.deepEqual(toMinor(1_000_000, 0, max0), { ok: true, minor: 1_000_000 });
  assert.deepEqual(toMinor(1_000_001, 0, max0), { ok: false, reason: 'too_large' });
});

void test('toMinor rejects invalid exponent or maxMinor arguments', () => {
  assert.throws(() => toMinor(1, -1, MAX), RangeError);
  assert.throws(() => toMinor(1, 1.5, MAX), RangeError);
  assert.throws(() => toMinor(1, 2, 2 ** 53), RangeError);
  assert.throws(() => toMinor(1, 2, -1), RangeError);
});

// ---------- fromMinor / maxMinorFor: examples ----------

void test('fromMinor builds the exact major-unit number', () => {
  assert.equal(fromMinor(1005, 2), 10.05);
  assert.equal(fromMinor(12500, 3), 12.5);
  assert.equal(fromMinor(1005, 3), 1.005);
  assert.equal(fromMinor(5, 3), 0.005);
  assert.equal(fromMinor(29, 2), 0.29);
  assert.equal(fromMinor(7, 0), 7);
  assert.equal(fromMinor(-1005, 2), -10.05);
  assert.equal(fromMinor(-1, 3), -0.001);
  assert.equal(JSON.stringify({ amount: fromMinor(1005, 2) }), '{"amount":10.05}');
  assert.equal(Object.is(fromMinor(0, 2), 0), true);
  assert.equal(Object.is(fromMinor(-0, 2), 0), true);
  assert.equal(fromMinor(Number.MAX_SAFE_INTEGER, 0), Number.MAX_SAFE_INTEGER);
});

void test('fromMinor throws for non-safe-integer input', () => {
  for (const bad of [1.5, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53)]) {
    assert.throws(() => fromMinor(bad, 2), RangeError, String(bad));
  }
  assert.throws(() => fromMinor(1, -1), RangeError);
});

void test('fromMinor throws rather than emit a rounded amount above 10^15', () => {
  // 9007199254740991 / 100 = 90071992547409.91 has no double that prints back as those digits.
  assert.throws(() => fromMinor(Number.MAX_SAFE_INTEGER, 2), RangeError);
});

void test('maxMinorFor scales the configured maximum and guards MAX_SAFE_INTEGER', () => {
  assert.equal(maxMinorFor(1_000_000, 3), 1_000_000_000);
  assert.equal(maxMinorFor(1_000_000, 2), 100_000_000);
  assert.equal(maxMinorFor(1_000_000, 0), 1_000_000);
  assert.equal(maxMinorFor(90_071_992_547_409, 2), 9_007_199_254_740_900);
  assert.throws(() => maxMinorFor(90_071_992_547_410, 2), RangeError);
  assert.throws(() => maxMinorFor(Number.MAX_SAFE_INTEGER, 1), RangeError);
  assert.throws(() => maxMinorFor(0, 2), RangeError);
  assert.throws(() => maxMinorFor(-5, 2), RangeError);
  assert.throws(() => maxMinorFor(10.5, 2), RangeError);
  assert.throws(() => maxMinorFor(NaN, 2), RangeError);
});

// ---------- properties ----------

const exponentArb = fc.integer({ min: 0, max: 4 });
const minorArb = fc.integer({ min: 1, max: MAX });

void test('property: toMinor(fromMinor(m, e)) === m', () => {
  fc.assert(
    fc.property(exponentArb, minorArb, (e, m) => {
      assert.deepEqual(toMinor(fromMinor(m, e), e, MAX), { ok: true, minor: m });
    }),
    RUNS,
  );
});

void test('property: the same after a JSON round trip', () => {
  fc.assert(
    fc.property(exponentArb, minorArb, (e, m) => {
      const wire: unknown = JSON.parse(JSON.stringify({ amount: fromMinor(m, e) }));
      const amount = (wire as { amount: unknown }).amount;
      assert.deepEqual(toMinor(amount, e, MAX), { ok: true, minor: m });
    }),
    RUNS,
  );
});

void test('property: fromMinor(-m) === -fromMinor(m)', () => {
  fc.assert(
    fc.property(exponentArb, minorArb, (e, m) => {
      const negative = fromMinor(-m, e);
      assert.equal(negative, -fromMinor(m, e));
      assert.ok(negative < 0);
    }),
    RUNS,
  );
});

/** Canonical form of a plain or exponent-notation decimal string, for equality checks. */
function canonical(text: string): string {
  const match = /^(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(text);
  assert.ok(match, `unexpected decimal string ${text}`);
  const [, whole = '', fraction = '', exp = '0'] = match;
  let digits = BigInt(whole + fraction);
  let scale = Number.parseInt(exp, 10) - fraction.length;
  if (digits === 0n) return '0';
  while (digits % 10n === 0n) {
    digits /= 10n;
    scale += 1;
  }
  return `${digits}e${scale}`;
}

void test('property: too many decimals is rejected, never silently rounded', () => {
  const arb = exponentArb.chain((e) =>
    fc.record({
      e: fc.constant(e),
      whole: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 10 ** 10 })),
      // e+1 .. e+16 fractional digits, the last one non-zero.
      fraction: fc
        .tuple(
          fc.array(fc.integer({ min: 0, max: 9 }), { minLength: e, maxLength: e + 15 }),
          fc.integer({ min: 1, max: 9 }),
        )
        .map(([head, last]) => [...head, last].join('')),
    }),
  );
  let rejected = 0;
  fc.assert(
    fc.property(arb, ({ e, whole, fraction }) => {
      const text = `${whole}.${fraction}`;
      const x = Number(text);
      const result = toMinor(x, e, MAX);
      if (canonical(String(x)) === canonical(text)) {
        // The double carries exactly these digits: it must be rejected.
        assert.deepEqual(result, { ok: false, reason: 'too_precise' }, text);
      } else if (result.ok) {
        // The double is a different (shorter) decimal than the text: the parser, not us,
        // rounded. Whatever we accept must be exactly that double, with no further rounding.
        assert.ok(Number.isSafeInteger(result.minor));
        assert.equal(fromMinor(result.minor, e), x, text);
      } else {
        assert.equal(result.reason, 'too_precise', text);
      }
      if (!result.ok) rejected += 1;
    }),
    RUNS,
  );
  assert.ok(rejected > 0);
});

void test('property: any positive double is rejected or converted exactly', () => {
  fc.assert(
    fc.property(
      exponentArb,
      fc.double({ min: Number.MIN_VALUE, noNaN: true, noDefaultInfinity: true }),
      (e, x) => {
        const result = toMinor(x, e, MAX);
        if (result.ok) {
          assert.ok(Number.isSafeInteger(result.minor) && result.minor >= 1 && result.minor <= MAX);
          assert.equal(fromMinor(result.minor, e), x);
        } else {
          assert.ok(result.reason === 'too_precise' || result.reason === 'too_large', String(x));
        }
      },
    ),
    RUNS,
  );
});

// ---------- fromMinorSum: sums added as BigInt (the payments summary) ----------

void test('fromMinorSum shows exact sums and refuses one with no exact JSON number', () => {
  assert.equal(fromMinorSum(3005n, 2), 30.05);
  assert.equal(fromMinorSum(-301n, 2), -3.01);
  assert.equal(fromMinorSum(0n, 3), 0);
  assert.equal(fromMinorSum(BigInt(Number.MAX_SAFE_INTEGER), 0), Number.MAX_SAFE_INTEGER);
  assert.throws(() => fromMinorSum(BigInt(Number.MAX_SAFE_INTEGER) + 1n, 0), RangeError);
  assert.throws(() => fromMinorSum(-(2n ** 60n), 2), RangeError);
  fc.assert(
    fc.property(
      fc.bigInt({ min: -(10n ** 14n), max: 10n ** 14n }),
      fc.constantFrom(0, 2, 3),
      (m, e) => {
        assert.equal(fromMinorSum(m, e), fromMinor(Number(m), e));
      },
    ),
  );
});
