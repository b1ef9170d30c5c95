// Timestamps from callers (filters, expiry dates) are normalized to the one stored format,
// ISO-8601 UTC with milliseconds, so text comparison in SQL is time comparison.
import { invalidParameter } from '../errors.ts';

export function normalizeInstant(field: string, value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw invalidParameter(field, 'must be an ISO-8601 date-time');
  return new Date(ms).toISOString();
}

export function normalizeOptionalInstant(
  field: string,
  value: string | undefined,
): string | undefined {
  return value === undefined ? undefined : normalizeInstant(field, value);
}
