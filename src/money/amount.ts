// Money on the wire is a JSON number in major units (12.5 = 12.500 KWD); inside the service it
// is an integer of minor units. Binary floats cannot hold most decimal fractions, so float
// arithmetic drifts: 0.1 + 0.2 is 0.30000000000000004, and 1.005 × 100 is 100.49999999999999
// (it should be 100.5), and 0.29 × 100 is 28.999999999999996 (truncates to 28). So no
// conversion here multiplies, divides or rounds a float. Instead a number is taken through its
// shortest round-trip decimal string (String(x): "10.05", "1e-7", "1e+21" — the same digits JSON
// carries) and the digits are shifted as a string / BigInt. Going the other way, the decimal
// string is built from the integer's digits and handed to Number() once.

export type AmountFailure =
  'not_a_number' | 'not_finite' | 'not_positive' | 'too_precise' | 'too_large';

export type AmountResult = { ok: true; minor: number } | { ok: false; reason: AmountFailure };

/** Exponents beyond this are programming errors (Intl never reports more than 20 digits). */
const MAX_EXPONENT = 20;

// What String(x) produces for a finite non-negative number: digits, optional fraction,
// optional exponent ("123", "0.005", "1.5e-7", "1e+21").
const DECIMAL_STRING = /^(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/;

/** A non-negative decimal as coefficient × 10^scale, with no trailing zeros in coefficient. */
type Decimal = { coefficient: string; scale: number };

function parseDecimal(text: string): Decimal {
  const match = DECIMAL_STRING.exec(text);
  if (match === null) throw new Error(`not a decimal string: ${JSON.stringify(text)}`);
  const [, whole = '', fraction = '', exponentPart = '0'] = match;
  let coefficient = (whole + fraction).replace(/^0+(?=\d)/, '');
  let scale = Number.parseInt(exponentPart, 10) - fraction.length;
  if (/^0+$/.test(coefficient)) return { coefficient: '0', scale: 0 };
  const trimmed = coefficient.replace(/0+$/, '');
  scale += coefficient.length - trimmed.length;
  coefficient = trimmed;
  return { coefficient, scale };
}

/**
 * value × 10^exponent as a BigInt, or null if that is not an integer (the decimal has more
 * fractional digits than the exponent allows).
 */
function scaleToMinor(decimal: Decimal, exponent: number): bigint | null {
  const shift = decimal.scale + exponent;
  if (shift < 0) return null;
  return BigInt(decimal.coefficient) * 10n ** BigInt(shift);
}

function assertExponent(exponent: number): void {
  if (!Number.isInteger(exponent) || exponent < 0 || exponent > MAX_EXPONENT) {
    throw new RangeError(`invalid currency exponent: ${exponent}`);
  }
}

/**
 * Exact conversion of a wire amount (a JSON number in major units) to an integer of minor
 * units. `maxMinor` is the inclusive maximum in minor units (a safe integer). The checks run
 * in this order: not_a_number, not_finite, not_positive, too_precise, too_large.
 */
export function toMinor(value: unknown, exponent: number, maxMinor: number): AmountResult {
  assertExponent(exponent);
  if (!Number.isSafeInteger(maxMinor) || maxMinor < 0) {
    throw new RangeError(`invalid maxMinor: ${maxMinor}`);
  }
  if (typeof value !== 'number') return { ok: false, reason: 'not_a_number' };
  if (!Number.isFinite(value)) return { ok: false, reason: 'not_finite' };
  if (value <= 0 || Object.is(value, -0)) return { ok: false, reason: 'not_positive' };
  const minor = scaleToMinor(parseDecimal(String(value)), exponent);
  if (minor === null) return { ok: false, reason: 'too_precise' };
  if (minor > BigInt(maxMinor)) return { ok: false, reason: 'too_large' };
  return { ok: true, minor: Number(minor) };
}

/**
 * An integer of minor units → the JSON number in major units (1005, 2 → 10.05). Works for 0
 * and negative figures. Throws if `minor` is not a safe integer, or if the decimal has no
 * exact double representation that prints back as the same digits (possible only above
 * 10^15 minor units), rather than emit a different amount.
 */
export function fromMinor(minor: number, exponent: number): number {
  assertExponent(exponent);
  if (!Number.isSafeInteger(minor)) throw new RangeError(`minor is not a safe integer: ${minor}`);
  const magnitude = Math.abs(minor);
  const digits = String(magnitude).padStart(exponent + 1, '0');
  const cut = digits.length - exponent;
  const text = exponent === 0 ? digits : `${digits.slice(0, cut)}.${digits.slice(cut)}`;
  const major = Number(minor < 0 ? `-${text}` : text);
  // A decimal of at most 15 significant digits survives the trip through a double and back
  // (DBL_DIG = 15), so only larger magnitudes need the check below; this runs for every
  // amount of every answer (100 payments × 3 amounts in a confirm).
  if (magnitude < 1e15) return major;
  if (scaleToMinor(parseDecimal(String(Math.abs(major))), exponent) !== BigInt(magnitude)) {
    throw new RangeError(`${minor} minor units (exponent ${exponent}) has no exact JSON number`);
  }
  return major;
}

/**
 * The configured maximum, an integer of major units, in minor units. Throws if it is not a
 * positive integer or the result would exceed Number.MAX_SAFE_INTEGER.
 */
export function maxMinorFor(maxMajor: number, exponent: number): number {
  assertExponent(exponent);
  if (!Number.isSafeInteger(maxMajor) || maxMajor <= 0) {
    throw new RangeError(`maximum amount must be a positive integer of major units: ${maxMajor}`);
  }
  const maxMinor = BigInt(maxMajor) * 10n ** BigInt(exponent);
  if (maxMinor > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(
      `maximum amount ${maxMajor} with exponent ${exponent} exceeds Number.MAX_SAFE_INTEGER minor units`,
    );
  }
  return Number(maxMinor);
}

/**
 * A sum of minor units (a BigInt: sums of many amounts are added exactly, whatever their
 * size) → the JSON number in major units. Throws, rather than emit another amount, if the
 * sum has no exact JSON number (above 2^53 minor units).
 */
export function fromMinorSum(minor: bigint, exponent: number): number {
  const limit = BigInt(Number.MAX_SAFE_INTEGER);
  if (minor > limit || minor < -limit) {
    throw new RangeError(`${minor} minor units has no exact JSON number`);
  }
  return fromMinor(Number(minor), exponent);
}
