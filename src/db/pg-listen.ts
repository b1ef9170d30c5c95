// PostgreSQL LISTEN on a connection of its own, kept listening across reconnects: one
// connection per listener, any number of channels. Authentication's cache hears every key
// change through it (src/api-keys/auth-invalidation.ts); the events feed's long-poll can wake
// on it too.
//
// A notice sent while nobody listens is lost: PostgreSQL keeps none for a session that is not
// there yet. So a caller must not trust what notices told it across a drop — `onLost` says
// the connection is gone (stop relying on notices), `onListening` says every channel is
// listened to again (re-read whatever state the notices were standing in for). The
// connection is a plain pg.Client outside the pool: LISTEN belongs to a session, and a
// pooled connection goes back to others between statements.
import pg from 'pg';

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

export interface ListenOptions {
  url: string;
  /** Channels to listen on: lower-case identifiers (`[a-z_][a-z0-9_]*`). */
  channels: readonly string[];
  /** How the connection shows in pg_stat_activity (operators find and end it by this). */
  applicationName: string;
  onNotification(channel: string, payload: string): void;
  /** Called each time every channel is listened to: first, and after every reconnect. */
  onListening?(): void;
  /** The connection could not be made or was lost; a new one is tried in `retryInMs`. */
  onLost?(reason: string, retryInMs: number): void;
  /** Wait before the first retry, doubled on each failure up to `maxMs`; reset once listening. */
  retry?: { firstMs: number; maxMs: number };
}

export interface PgListener {
  /** True while every channel is listened to. */
  readonly listening: boolean;
  /** Stops listening and retrying. */
  close(): Promise<void>;
}

const DEFAULT_RETRY = { firstMs: 500, maxMs: 30_000 };

export function listenOnPostgres(options: ListenOptions): PgListener {
  for (const channel of options.channels)
    if (!CHANNEL.test(channel)) throw new Error(`not a channel name: ${channel}`);
  const retry = options.retry ?? DEFAULT_RETRY;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let listening = false;
  let delay = retry.firstMs;

  /** Lets the current connection go. */
  const drop = async (): Promise<void> => {
    listening = false;
    const gone = client;
    client = undefined;
    gone?.removeAllListeners();
    // A late error of a connection being let go is nobody's.
    gone?.on('error', () => undefined);
    await gone?.end().catch(() => undefined);
  };

  const lost = (connection: pg.Client, reason: string) => {
    // Each connection is lost once; the end that follows an error is the same loss.
    if (client !== connection) return;
    void drop();
    if (closed) return;
    const wait = delay;
    delay = Math.min(delay * 2, retry.maxMs);
    timer = setTimeout(() => void connect(), wait).unref();
    options.onLost?.(reason, wait);
  };

  async function connect(): Promise<void> {
    timer = undefined;
    const next = new pg.Client({
      connectionString: options.url,
      application_name: options.applicationName,
      // A peer gone without a word (a host down, a dropped route) is noticed in time.
      keepAlive: true,
      connectionTimeoutMillis: 5000,
    });
    client = next;
    next.on('error', (error) => lost(next, error.message));
    next.on('end', () => lost(next, 'connection ended'));
    next.on('notification', (n) => options.onNotification(n.channel, n.payload ?? ''));
    try {
      await next.connect();
      await next.query(options.channels.map((c) => `listen ${c}`).join('; '));
    } catch (error) {
      lost(next, (error as Error).message);
      return;
    }
    if (client !== next || closed) return;
    delay = retry.firstMs;
    listening = true;
    options.onListening?.();
  }

  void connect();
  return {
    get listening() {
      return listening;
    },
    async close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      await drop();
    },
  };
}
