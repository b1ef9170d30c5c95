// One delivery attempt over HTTP (API.md §7.3): Standard Webhooks headers, 10 s, no
// redirects, at most 4 KB of the answer read. The target is checked again here (DNS may have
// changed since the endpoint was saved: rebinding gains nothing) and the connection goes to
// the very address that was checked, through an undici Agent whose `connect.lookup` answers
// with it.
import { createHmac } from 'node:crypto';
import dns from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { Agent, request } from 'undici';
import { clip, hostOf, isIpLiteral, isPublicAddress } from './webhooks.rules.ts';

export const ATTEMPT_TIMEOUT_MS = 10_000;
const MAX_BODY_READ = 4096;

export class TargetRefused extends Error {}

/**
 * The addresses `url`'s host resolves to, all of them public unless `allowPrivate`; throws
 * TargetRefused naming the first that is not. An IP literal is its own address.
 */
export async function checkedAddresses(url: URL, allowPrivate: boolean): Promise<LookupAddress[]> {
  const host = hostOf(url);
  const addresses = isIpLiteral(host)
    ? [{ address: host, family: host.includes(':') ? 6 : 4 }]
    : await dns.lookup(host, { all: true });
  if (!allowPrivate) {
    const refused = addresses.find((a) => !isPublicAddress(a.address));
    if (refused !== undefined)
      throw new TargetRefused(`${host} resolves to a non-public address (${refused.address})`);
  }
  if (addresses.length === 0) throw new TargetRefused(`${host} resolves to no address`);
  return addresses;
}

/**
 * Connection pools by checked address, reused across attempts (keep-alive): an Agent's
 * `connect.lookup` always answers its one address, so a connection it opens goes there and
 * nowhere else, whatever the host's DNS says meanwhile. At most MAX_AGENTS are kept.
 */
export class Agents {
  static readonly MAX_AGENTS = 100;
  readonly #byAddress = new Map<string, Agent>();

  for(target: LookupAddress): Agent {
    const key = `${target.family}/${target.address}`;
    let agent = this.#byAddress.get(key);
    if (agent !== undefined) {
      // Most recently used last (the oldest is let go first).
      this.#byAddress.delete(key);
      this.#byAddress.set(key, agent);
      return agent;
    }
    const lookup = (
      _host: string,
      options: LookupOptions,
      callback: (e: Error | null, address: string | LookupAddress[], family?: number) => void,
    ) =>
      options.all === true
        ? callback(null, [target])
        : callback(null, target.address, target.family);
    agent = new Agent({ connect: { lookup, timeout: ATTEMPT_TIMEOUT_MS } });
    this.#byAddress.set(key, agent);
    if (this.#byAddress.size > Agents.MAX_AGENTS) {
      const [oldestKey, oldest] = this.#byAddress.entries().next().value as [string, Agent];
      this.#byAddress.delete(oldestKey);
      void oldest.close().catch(() => undefined);
    }
    return agent;
  }

  async close(): Promise<void> {
    const all = [...this.#byAddress.values()];
    this.#byAddress.clear();
    await Promise.all(all.map((a) => a.destroy().catch(() => undefined)));
  }
}

export interface Attempt {
  url: string;
  /** Secrets that sign (two during a rotation's 24 h). */
  secrets: string[];
  /** The event id: `webhook-id`, the same on every retry. */
  messageId: string;
  body: string;
  allowPrivate: boolean;
  /** Aborted when the service closes. */
  signal?: AbortSignal;
}

export interface AttemptOutcome {
  ok: boolean;
  statusCode: number | null;
  /** ≤ 1 KB: the answer's body when not 2xx, or what went wrong; null on success. */
  error: string | null;
}

/** A `whsec_…` secret's key: the bytes its base64 stands for (Standard Webhooks). */
function keyOf(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

/**
 * The Standard Webhooks headers of one attempt at time `at`. Signed with node's native HMAC,
 * not the `standardwebhooks` package's `sign` (a SHA-256 in JavaScript: ~13 µs of the event
 * loop per delivery, measured); the tests verify with that package.
 */
export function signedHeaders(
  secrets: string[],
  messageId: string,
  body: string,
  at: Date,
): Record<string, string> {
  const timestamp = String(Math.floor(at.getTime() / 1000));
  const signature = secrets
    .map(
      (secret) =>
        `v1,${createHmac('sha256', keyOf(secret)).update(`${messageId}.${timestamp}.${body}`).digest('base64')}`,
    )
    .join(' ');
  return {
    'content-type': 'application/json',
    'user-agent': 'om-payments-webhooks/1',
    'webhook-id': messageId,
    'webhook-timestamp': timestamp,
    'webhook-signature': signature,
  };
}

export async function attempt(a: Attempt, agents: Agents): Promise<AttemptOutcome> {
  try {
    const url = new URL(a.url);
    const [target] = await checkedAddresses(url, a.allowPrivate);
    // Every connection of this attempt goes to the address checked above.
    const agent = agents.for(target!);
    const timeout = AbortSignal.timeout(ATTEMPT_TIMEOUT_MS);
    const signal = a.signal ? AbortSignal.any([timeout, a.signal]) : timeout;
    const response = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: signedHeaders(a.secrets, a.messageId, a.body, new Date()),
      body: a.body,
      signal,
      headersTimeout: ATTEMPT_TIMEOUT_MS,
      bodyTimeout: ATTEMPT_TIMEOUT_MS,
    });
    const text = await readAtMost(response.body, MAX_BODY_READ);
    const ok = response.statusCode >= 200 && response.statusCode < 300;
    return {
      ok,
      statusCode: response.statusCode,
      error: ok ? null : clip(`HTTP ${response.statusCode}${text ? `: ${text}` : ''}`),
    };
  } catch (error) {
    return { ok: false, statusCode: null, error: clip(describe(error)) };
  }
}

async function readAtMost(
  body: AsyncIterable<Buffer> & { destroy(): void },
  max: number,
): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= max) break;
  }
  body.destroy();
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

function describe(error: unknown): string {
  if (error instanceof TargetRefused) return `refused: ${error.message}`;
  const e = error as { name?: string; code?: string; message?: string; cause?: unknown };
  if (e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT')
    return `timeout: no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s`;
  if (e.name === 'AbortError') return 'aborted: the service was closing';
  const cause = e.cause as { code?: string; message?: string } | undefined;
  const code = e.code ?? cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  return `${code ?? 'error'}: ${e.message ?? cause?.message ?? 'request failed'}`;
}
