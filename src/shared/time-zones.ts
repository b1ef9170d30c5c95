// IANA time zones (API.md §3.1 `timeZone`, §8 `timeZone`): names are checked against the
// runtime's own time-zone database (ICU), never a list kept here, so a zone ICU knows is a
// zone the service can cut days in.
import { invalidParameter } from '../errors.ts';

export const DEFAULT_TIME_ZONE = 'Asia/Riyadh';

// An IANA name ("Asia/Riyadh", "America/Argentina/Buenos_Aires", "Etc/GMT+3", "UTC"). Newer
// V8s also accept UTC offsets ("+03:00") as time zones: those are not IANA names and have no
// DST rules, so they are refused here on every Node version alike.
const IANA_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/;

// The runtime's names by lower case, to give back the usual spelling ("europe/berlin" →
// "Europe/Berlin"). Aliases ("Asia/Riyadh" for Kuwait's "Asia/Kuwait") are kept as the caller
// wrote them: ICU would rename some to older spellings (Europe/Kyiv → Europe/Kiev).
let known: Map<string, string> | undefined;
function knownSpelling(name: string): string | undefined {
  known ??= new Map(Intl.supportedValuesOf('timeZone').map((z) => [z.toLowerCase(), z]));
  return known.get(name.toLowerCase());
}

/** The usual spelling of an IANA time-zone name, or undefined if it is not one. */
export function canonicalTimeZone(name: string): string | undefined {
  if (name.length > 64 || !IANA_NAME.test(name)) return undefined;
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
  return knownSpelling(name) ?? (resolved.toLowerCase() === name.toLowerCase() ? resolved : name);
}

/** The canonical name, or InvalidParameter naming `field`. */
export function parseTimeZone(field: string, name: string): string {
  const zone = canonicalTimeZone(name);
  if (zone === undefined) throw invalidParameter(field, 'not an IANA time-zone name');
  return zone;
}
