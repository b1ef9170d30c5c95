// Currency metadata comes from the runtime's Intl data (ICU/CLDR, maintained upstream and
// updated with Node), not from a hand-written table.
//
// Caveat: Intl reports CLDR's *display* digits, which are not always ISO 4217's minor units
// (e.g. IQD, HUF, COP, IDR, PKR are 0 in CLDR but 3/2 in ISO 4217). The currencies this
// service supports (KWD, BHD, OMR, JOD, TND, SAR, AED, EGP, USD, EUR, JPY) agree, and the
// tests pin them so an ICU upgrade that changed one would fail loudly instead of silently
// rescaling stored minor-unit amounts.

const CODE_SHAPE = /^[A-Z]{3}$/;

const exponentCache = new Map<string, number>();
let supportedCodes: ReadonlySet<string> | undefined;

/**
 * True only for a three-uppercase-letter code that the runtime lists in
 * `Intl.supportedValuesOf('currency')`. (Intl.NumberFormat itself accepts any well-formed
 * code, case-insensitively, and silently falls back to 2 digits, so it cannot be the check.)
 */
export function isSupportedCurrency(code: string): boolean {
  if (typeof code !== 'string' || !CODE_SHAPE.test(code)) return false;
  supportedCodes ??= new Set(Intl.supportedValuesOf('currency'));
  return supportedCodes.has(code);
}

/**
 * The minor-unit exponent of a currency (KWD → 3, SAR → 2, JPY → 0): one major unit is
 * 10^exponent minor units. Throws for an unsupported code; callers validate first.
 */
export function currencyExponent(code: string): number {
  const cached = exponentCache.get(code);
  if (cached !== undefined) return cached;
  if (!isSupportedCurrency(code)) {
    throw new Error(`unsupported currency code: ${JSON.stringify(code)}`);
  }
  const digits = new Intl.NumberFormat('en', {
    style: 'currency',
    currency: code,
  }).resolvedOptions().maximumFractionDigits;
  if (digits === undefined || !Number.isInteger(digits) || digits < 0 || digits > 20) {
    throw new Error(`Intl returned no usable fraction digits for currency ${code}`);
  }
  exponentCache.set(code, digits);
  return digits;
}
