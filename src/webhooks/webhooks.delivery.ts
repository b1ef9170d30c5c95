// One delivery attempt over HTTP (API.md §7.3): Standard Webhooks headers, 10 s, no
// redirects, at most 4 KB of the answer read. The target is checked again here (DNS may have
// changed since the endpoint was saved: rebinding gains nothing) and the connection goes to
// the very address that was checked, through an undici Agent whose `connect.lookup` answers
// with it.
import { createHmac } from 'node:crypto';
import dns from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { Agent, type Dispatcher } from 'undici';
import { clip, hostOf, isIpLiteral, isPublicAddress } from './webhooks.rules.ts';

export const ATTEMPT_TIMEOUT_MS = 10_000;
const MAX_BODY_READ = 4096;

export class TargetRefused extends Error {}
class AttemptTimeout extends Error {
  override name = 'TimeoutError';
}
class ClosingError extends Error {
  override name = 'AbortError';
}

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

  /** `timeoutMs`: each attempt's whole time (shorter in tests). */
  constructor(readonly timeoutMs = ATTEMPT_TIMEOUT_MS) {}

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
    agent = new Agent({ connect: { lookup, timeout: this.timeoutMs } });
    this.#byAddress.set(key, agent);
    if (this.#byAddress.size > Agents.MAX_AGENTS) {
      const [oldestKey, oldest] = this.#byAddress.entries().next().value as [string, Agent];
      this.#byAddress.delete(oldestKey);
      void oldest.close().catch(() => undefined);
    }
    return agent;
  }

  /** Attempts in flight, each with its deadline and how to cut it short. */
  readonly #inFlight = new Set<{ deadline: number; fail: (reason: Error) => void }>();
  #sweep: NodeJS.Timeout | undefined;
  #closing = false;

  /**
   * POSTs `body` to `url` over a connection to `target`; resolves with the status and at most
   * MAX_BODY_READ bytes of the answer (none kept for a 2xx: a success records no body).
   * Rejects when it fails, when `timeoutMs` pass, or when the pools close.
   */
  post(
    target: LookupAddress,
    url: URL,
    headers: Record<string, string>,
    body: string,
  ): Promise<{ statusCode: number; text: string }> {
    return new Promise((resolve, reject) => {
      if (this.#closing) return reject(new ClosingError());
      let statusCode = 0;
      let length = 0;
      const chunks: Buffer[] = [];
      let controller: Dispatcher.DispatchController | undefined;
      const done = (error: Error | undefined) => {
        if (!this.#inFlight.delete(entry)) return;
        if (error !== undefined) reject(error);
        else
          resolve({
            statusCode,
            text: Buffer.concat(chunks).subarray(0, MAX_BODY_READ).toString('utf8'),
          });
      };
      // Ends the attempt now, whether or not it reached its connection yet.
      const fail = (reason: Error) => {
        done(reason);
        controller?.abort(reason);
      };
      const entry = { deadline: Date.now() + this.timeoutMs, fail };
      this.#inFlight.add(entry);
      this.#sweepEvery();
      this.for(target).dispatch(
        {
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          headers,
          body,
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
        },
        {
          onRequestStart: (c) => {
            controller = c;
          },
          onResponseStart: (_controller, status) => {
            statusCode = status;
          },
          onResponseData: (c, chunk) => {
            length += chunk.length;
            if (statusCode < 200 || statusCode >= 300) chunks.push(chunk);
            // Enough read: the rest is not waited for (the connection is let go).
            if (length >= MAX_BODY_READ) {
              done(undefined);
              c.abort(new Error('answer read up to its limit'));
            }
          },
          onResponseEnd: () => done(undefined),
          onResponseError: (_controller, error) => done(error),
        },
      );
    });
  }

  /** Once a second (more often for a shorter timeout), attempts past their deadline end. */
  #sweepEvery(): void {
    if (this.#sweep !== undefined) return;
    this.#sweep = setInterval(
      () => {
        const now = Date.now();
        for (const entry of this.#inFlight)
          if (entry.deadline <= now) entry.fail(new AttemptTimeout());
        if (this.#inFlight.size === 0) {
          clearInterval(this.#sweep);
          this.#sweep = undefined;
        }
      },
      Math.min(1000, this.timeoutMs / 4),
    );
    this.#sweep.unref();
  }

  /** Cuts every attempt in flight short (each rejects as aborted) and closes the pools. */
  async close(): Promise<void> {
    this.#closing = true;
    for (const entry of this.#inFlight) entry.fail(new ClosingError());
    clearInterval(this.#sweep);
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

/**
 * One attempt. Through undici's `dispatch` with a handler of its own, not `request`: no
 * stream for the answer's body and no abort signal per attempt (the deadline is Agents'
 * sweep) — the HTTP client was most of a delivery's CPU (docs/events.md "Measured").
 */
export async function attempt(a: Attempt, agents: Agents): Promise<AttemptOutcome> {
  try {
    const url = new URL(a.url);
    const [target] = await checkedAddresses(url, a.allowPrivate);
    const { statusCode, text } = await agents.post(
      target!,
      url,
      signedHeaders(a.secrets, a.messageId, a.body, new Date()),
      a.body,
    );
    const ok = statusCode >= 200 && statusCode < 300;
    return {
      ok,
      statusCode,
      error: ok ? null : clip(`HTTP ${statusCode}${text ? `: ${text}` : ''}`),
    };
  } catch (error) {
    return { ok: false, statusCode: null, error: clip(describe(error, agents.timeoutMs)) };
  }
}

function describe(error: unknown, timeoutMs: number): string {
  if (error instanceof TargetRefused) return `refused: ${error.message}`;
  const e = error as { name?: string; code?: string; message?: string; cause?: unknown };
  if (e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT')
    return `timeout: no answer within ${timeoutMs / 1000} s`;
  if (e.name === 'AbortError') return 'aborted: the service was closing';
  const cause = e.cause as { code?: string; message?: string } | undefined;
  const code = e.code ?? cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  return `${code ?? 'error'}: ${e.message ?? cause?.message ?? 'request failed'}`;
}
