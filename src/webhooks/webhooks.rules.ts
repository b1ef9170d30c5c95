// Pure rules of webhooks (API.md §7.2, §7.3): which events an endpoint takes, which URLs and
// addresses it may use, when the next attempt is due, which due deliveries go now. No I/O.
import { randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';

export const MAX_URL_LENGTH = 2048;
export const MAX_EVENT_PATTERNS = 50;
export const MAX_DESCRIPTION = 500;
/** API.md §7.2: the previous secret keeps signing this long after a rotation. */
export const PREVIOUS_SECRET_MS = 24 * 3600_000;
/** API.md §7.3: an endpoint whose attempts have all failed this long is disabled. */
export const DISABLE_AFTER_FAILING_MS = 5 * 24 * 3600_000;
/** At most this much jitter is added to each wait (API.md §7.3: up to 10 %). */
export const JITTER = 0.1;

/** An exact event type, or a prefix ending in `.*` (`payment.*`). */
const EVENT_PATTERN = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*(\.\*)?$/;

/** The reason a list of event patterns is refused, or null. */
export function eventPatternsProblem(patterns: readonly string[]): string | null {
  if (patterns.length === 0) return 'must name at least one event type (or be left out: all)';
  if (patterns.length > MAX_EVENT_PATTERNS) return `at most ${MAX_EVENT_PATTERNS} entries`;
  for (const p of patterns) {
    if (p.length > 100 || !EVENT_PATTERN.test(p))
      return `"${p.slice(0, 100)}" is neither an event type nor a prefix ending in .*`;
  }
  return null;
}

/** Whether an endpoint listening to `patterns` (null: everything) takes events of `type`. */
export function matchesEvent(patterns: readonly string[] | null, type: string): boolean {
  if (patterns === null) return true;
  return patterns.some((p) => (p.endsWith('.*') ? type.startsWith(p.slice(0, -1)) : p === type));
}

/** `whsec_` + base64 of 32 random bytes (Standard Webhooks' secret format; ≥ 24 bytes). */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The reason an endpoint URL is refused on its form alone, or null. */
export function urlProblem(url: string, allowHttp: boolean): string | null {
  if (url.length > MAX_URL_LENGTH) return `at most ${MAX_URL_LENGTH} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not an absolute URL';
  }
  if (parsed.protocol !== 'https:' && !(allowHttp && parsed.protocol === 'http:'))
    return allowHttp ? 'must be an https:// or http:// URL' : 'must be an https:// URL';
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry credentials';
  if (parsed.hostname === '') return 'has no host';
  return null;
}

/** The host of a URL as a resolver or an address parser wants it (IPv6 without brackets). */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/** Whether `host` is an IP address literal (then it is not looked up). */
export const isIpLiteral = (host: string): boolean => ipaddr.isValid(host);

/**
 * Whether a delivery may connect to `address`: only ordinary unicast (IPv4-mapped IPv6 is
 * judged as the IPv4 address it maps). Loopback, private, link-local, unspecified,
 * multicast, carrier-grade NAT, unique-local, tunnels and reserved ranges are refused.
 */
export function isPublicAddress(address: string): boolean {
  try {
    return ipaddr.process(address).range() === 'unicast';
  } catch {
    return false;
  }
}

/**
 * When the attempt after `attempts` failed attempts is due, or null when they were the last
 * (the delivery is then failed). `random` in [0, 1) picks the jitter.
 */
export function nextAttemptAt(
  attempts: number,
  scheduleSeconds: readonly number[],
  now: number,
  random: number,
): string | null {
  const wait = scheduleSeconds[attempts - 1];
  if (wait === undefined) return null;
  return new Date(now + Math.round(wait * 1000 * (1 + JITTER * random))).toISOString();
}

/** The secrets that sign now: the current one, and the previous one for 24 h after rotation. */
export function signingSecrets(
  endpoint: { secret: string; previousSecret: string | null; previousExpiresAt: string | null },
  now: number,
): string[] {
  const { secret, previousSecret, previousExpiresAt } = endpoint;
  return previousSecret !== null &&
    previousExpiresAt !== null &&
    Date.parse(previousExpiresAt) > now
    ? [secret, previousSecret]
    : [secret];
}

/** The 1 KB of an answer or failure kept as `lastError` (API.md §7.3). */
export function clip(text: string, max = 1024): string {
  return text.length <= max ? text : text.slice(0, max);
}

/**
 * Of `items` in the order they should go (soonest first), the ones that may go now: at most
 * `slots` in all and, per endpoint, at most `room(endpoint)` — so an endpoint slow to answer
 * holds at most its share of a worker's attempts. Both lists keep the order; `waiting` is for
 * a later round.
 */
export function fitting<T>(
  items: readonly T[],
  slots: number,
  endpointOf: (item: T) => string,
  room: (endpoint: string) => number,
): { going: T[]; waiting: T[] } {
  const going: T[] = [];
  const waiting: T[] = [];
  const taken = new Map<string, number>();
  for (const item of items) {
    const endpoint = endpointOf(item);
    const n = taken.get(endpoint) ?? 0;
    if (going.length < slots && n < room(endpoint)) {
      taken.set(endpoint, n + 1);
      going.push(item);
    } else waiting.push(item);
  }
  return { going, waiting };
}
