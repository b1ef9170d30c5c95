// The events feed (API.md §7.1): any role reads its organization's events in feed order.
import type { Database } from '../db/engine.ts';
import type { RequestContext } from '../shared/context.ts';
import { feedWaiting, reportFeedAnswer } from '../shared/metrics.ts';
import type { EventSignal } from './event-signal.ts';
import {
  FEED_START,
  decodeFeedCursor,
  encodeFeedCursor,
  readFeed,
  type EventRecord,
  type FeedPosition,
} from './events.repository.ts';

export interface FeedQuery {
  after?: string | undefined;
  limit: number;
  type?: string | undefined;
  entityId?: string | undefined;
  /** Seconds to hold the request open while nothing new is there (0–30). */
  wait: number;
}

/** PostgreSQL: how soon to look again when a notice came but its event is not servable yet. */
const RECHECK_MS = { first: 50, max: 1000 };

/**
 * A page of the feed after `after`, oldest first. With `wait`, an empty page is held until an
 * event arrives or the time is up. On PostgreSQL a notice can arrive while the event is still
 * behind a running transaction's horizon (readFeed): then it looks again, sooner and sooner
 * less often, until something is servable or the time is up.
 */
export async function listEvents(
  database: Database,
  ctx: RequestContext,
  signal: EventSignal,
  query: FeedQuery,
): Promise<{ items: EventRecord[]; next: string }> {
  try {
    const page = await readOrWait(database, ctx, signal, query);
    reportFeedAnswer(page.items.length > 0 ? 'events' : query.wait > 0 ? 'timed_out' : 'empty');
    return page;
  } catch (error) {
    reportFeedAnswer('error');
    throw error;
  }
}

async function readOrWait(
  database: Database,
  ctx: RequestContext,
  signal: EventSignal,
  query: FeedQuery,
): Promise<{ items: EventRecord[]; next: string }> {
  const after = query.after === undefined ? FEED_START : decodeFeedCursor(query.after);
  const filter = { type: query.type, entityId: query.entityId };
  const deadline = Date.now() + query.wait * 1000;
  let recheck = RECHECK_MS.first;
  let heard = false;
  for (;;) {
    const rows = await readFeed(database.db, ctx.organization.id, after, query.limit, filter);
    const left = deadline - Date.now();
    if (rows.length > 0 || left <= 0 || signal.closed) {
      const last: FeedPosition | undefined = rows[rows.length - 1]?.position;
      return {
        items: rows.map((r) => r.event),
        next:
          last !== undefined ? encodeFeedCursor(last) : (query.after ?? encodeFeedCursor(after)),
      };
    }
    // Counted while held, so a scrape sees how many readers hang on the feed right now.
    const done = feedWaiting();
    try {
      if (heard && database.engine === 'postgres') {
        await signal.wait(ctx.organization.id, Math.min(left, recheck));
        recheck = Math.min(recheck * 2, RECHECK_MS.max);
      } else {
        await signal.wait(ctx.organization.id, left);
      }
    } finally {
      done();
    }
    heard = true;
  }
}
