// Tells an AuthCache (src/api-keys/auth-cache.ts) of every change to api keys, their
// organizations and organizations, from any process: triggers (migration 0005) announce each
// committed change on the `om_auth` channel of PostgreSQL, and one connection of this process
// listens. The cache is on only while that connection is listening; when it drops, the cache
// empties and stays off until a new connection listens again (retried with back-off).
import pg from 'pg';
import type { AuthCache } from './auth-cache.ts';

export const AUTH_CHANNEL = 'om_auth';
const RETRY_MS = { first: 500, max: 30_000 };

export interface AuthInvalidation {
  close(): Promise<void>;
}

export function listenForAuthChanges(
  url: string,
  cache: AuthCache<unknown>,
  onProblem: (message: string) => void,
): AuthInvalidation {
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let delay = RETRY_MS.first;

  /** Stops using the current connection; nothing is served from the cache until one listens. */
  const drop = async (): Promise<void> => {
    cache.setEnabled(false);
    const gone = client;
    client = undefined;
    gone?.removeAllListeners();
    // A late error of a connection being let go is nobody's.
    gone?.on('error', () => undefined);
    await gone?.end().catch(() => undefined);
  };

  const lost = (message: string) => {
    void drop();
    if (closed) return;
    onProblem(`${message}; authentication is read per request until it listens again`);
    timer = setTimeout(() => void connect(), delay).unref();
    delay = Math.min(delay * 2, RETRY_MS.max);
  };

  async function connect(): Promise<void> {
    timer = undefined;
    const next = new pg.Client({ connectionString: url, application_name: 'om-auth-listener' });
    client = next;
    next.on('error', (error) => lost(`auth listener: ${error.message}`));
    next.on('end', () => client === next && lost('auth listener: connection ended'));
    next.on('notification', () => cache.invalidate());
    try {
      await next.connect();
      await next.query(`listen ${AUTH_CHANNEL}`);
    } catch (error) {
      if (client === next) lost(`auth listener: ${(error as Error).message}`);
      return;
    }
    if (client !== next || closed) return;
    delay = RETRY_MS.first;
    cache.setEnabled(true);
  }

  void connect();
  return {
    async close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      await drop();
    },
  };
}
