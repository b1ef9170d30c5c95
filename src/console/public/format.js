// Formatting with Intl only: amounts in the organization's currency (its own decimals: KWD,
// BHD, OMR 3), dates in the organization's time zone, in the chosen language.
const LOCALES = { en: 'en-GB', ar: 'ar' };

export function locale(lang) {
  return LOCALES[lang] ?? 'en-GB';
}

const money = new Map();
export function formatMoney(lang, currency, amount) {
  const key = `${lang}|${currency}`;
  if (!money.has(key)) {
    money.set(key, new Intl.NumberFormat(locale(lang), { style: 'currency', currency }));
  }
  return money.get(key).format(amount);
}

export function formatNumber(lang, n) {
  return new Intl.NumberFormat(locale(lang)).format(n);
}

export function formatDateTime(lang, timeZone, iso) {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(locale(lang), {
    timeZone,
    dateStyle: 'medium',
    timeStyle: 'short',
  }).format(new Date(iso));
}

export function formatDay(lang, timeZone, day) {
  // Noon UTC of the date is the same date in every zone within ±12 h; the date is shown as
  // the calendar day it names, not converted.
  return new Intl.DateTimeFormat(locale(lang), { dateStyle: 'full', timeZone: 'UTC' }).format(
    new Date(`${day}T12:00:00Z`),
  );
}

const dateParts = new Map();
/** The local date (YYYY-MM-DD) of an instant in a time zone. */
export function localDate(ms, timeZone) {
  if (!dateParts.has(timeZone)) {
    dateParts.set(
      timeZone,
      new Intl.DateTimeFormat('en-CA', {
        timeZone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
      }),
    );
  }
  const parts = dateParts.get(timeZone).formatToParts(ms);
  const part = (type) => parts.find((p) => p.type === type).value;
  return `${part('year')}-${part('month')}-${part('day')}`;
}

/**
 * The first instant of a local date in a zone (the instant the report's day starts at): a
 * binary search on the zone's dates, so DST days of 23 or 25 hours come out right.
 */
export function startOfDay(date, timeZone) {
  const utcMidnight = Date.parse(`${date}T00:00:00.000Z`);
  let lo = utcMidnight - 14 * 3_600_000 - 1;
  let hi = utcMidnight + 12 * 3_600_000 + 1;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (localDate(mid, timeZone) >= date) hi = mid;
    else lo = mid;
  }
  return hi;
}

export function nextDate(date) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}
