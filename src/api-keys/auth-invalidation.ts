// Tells an AuthCache (src/api-keys/auth-cache.ts) of every change to api keys, their
// organizations and organizations, from any process: triggers (migration 0005) announce each
// committed change on the `om_auth` channel of PostgreSQL, and one connection of this process
// listens (src/db/pg-listen.ts). The cache is on only while that connection is listening;
// when it drops, the cache empties and stays off until a new connection listens again
// (retried with back-off), and it starts empty then: changes announced meanwhile were heard
// by nobody.
import { listenOnPostgres } from '../db/pg-listen.ts';
import type { AuthCache } from './auth-cache.ts';

export const AUTH_CHANNEL = 'om_auth';

export interface AuthInvalidation {
  close(): Promise<void>;
}

export function listenForAuthChanges(
  url: string,
  cache: AuthCache<unknown>,
  onProblem: (message: string) => void,
): AuthInvalidation {
  const listener = listenOnPostgres({
    url,
    channels: [AUTH_CHANNEL],
    applicationName: 'om-auth-listener',
    onNotification: () => cache.invalidate(),
    onListening: () => cache.setEnabled(true),
    onLost: (reason) => {
      cache.setEnabled(false);
      onProblem(
        `auth listener: ${reason}; authentication is read per request until it listens again`,
      );
    },
  });
  return {
    async close() {
      await listener.close();
      cache.setEnabled(false);
    },
  };
}
