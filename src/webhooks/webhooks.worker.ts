// The delivery worker (API.md §7.3), one per service process unless WEBHOOK_WORKER=0.
//
// Fan-out: for each organization with endpoints (webhook_fanout), the worker reads the feed
// after its position — the same reader as GET /events, so only committed events no running
// transaction can precede — and, in one transaction, inserts a delivery per matching enabled
// endpoint and moves the position. Nothing is sent before its event committed; a kill at any
// moment loses nothing (the position moves with the deliveries). On PostgreSQL the position
// row is locked with SKIP LOCKED: one instance fans an organization out at a time.
//
// Attempts: a delivery is posted only while this worker holds a claim on it, a lease written
// to the database before the attempt (`next_attempt_at` = the lease's end). Fan-out writes the
// deliveries it has free slots for already claimed, in the transaction that creates them, and
// posts them once that commits: a new event costs no claim statement and no re-read of its
// event or endpoint. Whatever fan-out left unclaimed, and retries that came due, are claimed
// (webhooks.repository.ts claimDue) as slots free up. Outcomes that end within 50 ms of each
// other are recorded together, one statement in one short transaction. Several
// instances share the work without making the same attempt twice; a killed worker's claims
// come due again when their lease ends. The HTTP side of an attempt runs on a thread of its
// own (webhooks.sender.ts); everything that touches the database stays here.
//
// It wakes on every commit of events (this process's, and other instances' by NOTIFY:
// src/events/event-signal.ts) — a round at most every ROUND_INTERVAL_MS, so each round takes
// a batch — and at least every POLL_MS for retries that came due.
import type { FastifyBaseLogger } from 'fastify';
import type { WebhookConfig } from '../config.ts';
import type { Database, Tx } from '../db/engine.ts';
import type { EventSignal } from '../events/event-signal.ts';
import {
  appendEvent,
  eventsByIds,
  readFeed,
  type EventRecord,
  type FeedPosition,
} from '../events/events.repository.ts';
import { nowIso } from '../shared/ids.ts';
import { reportDeliveryAttempt } from '../shared/metrics.ts';
import * as repo from './webhooks.repository.ts';
import {
  DISABLE_AFTER_FAILING_MS,
  matchesEvent,
  nextAttemptAt,
  signingSecrets,
} from './webhooks.rules.ts';
import { startSender } from './webhooks.sender.ts';
import { deliveryRow, toEndpoint } from './webhooks.service.ts';

const POLL_MS = 1000;
const FANOUT_BATCH = 200;
/**
 * Attempts in flight at once, per process. Under load an answer waits several busy turns of
 * the event loop before it frees its slot, so 32 capped delivery at ~700/s on SQLite while
 * the mixed load wrote ~1,000 events/s; 128 kept up with that, not with ~1,500 events/s on a
 * faster machine: the backlog (and the lag, to ~5 s) grew for stretches of a run, and once
 * behind, every delivery also costs a claim (docs/events.md "Measured").
 */
const CONCURRENCY = 256;
/**
 * Rounds (fan-out, claims) start at most this often: a round per commit notice cost each
 * delivery its own transactions and statements — at 128 in flight, +0.4 ms of service CPU
 * per request on SQLite, about twice what rounds this far apart cost (docs/events.md
 * "Measured"). A round's batch is what committed meanwhile; an event waits at most this
 * long for its round. While due deliveries wait for slots, half the slots free again start
 * a round at once: a backlog drains at the receivers' pace.
 */
const ROUND_INTERVAL_MS = 100;
/**
 * Claims held at once: attempts in flight and outcomes waiting for their record. A slot is
 * free again once the receiver answered, not once its outcome committed (which waits for a
 * shared commit), but outcomes cannot pile up without bound behind a slow database.
 */
const MAX_HELD = 2 * CONCURRENCY;
/**
 * Outcomes are recorded together, this long after the first of them ended: a transaction
 * per event-loop turn was many small ones under load (answers trickle in over many turns).
 * A slot frees when the receiver answers, so the wait delays only the record.
 */
const RECORD_DELAY_MS = 50;
/** A claim outlives the 10 s attempt and the recording of its outcome. */
const LEASE_MS = 30_000;

/** Who the worker's own events (webhook-endpoint.disabled) are by. */
const WORKER = { principal: 'system', via: 'webhook-worker', requestId: 'webhook-worker' };

/** An outcome waiting for its batch's transaction. */
interface PendingRecord {
  delivery: repo.DeliveryRow;
  outcome: repo.AttemptRecord;
  /** The endpoint whose health the outcome counts for (none: no attempt was made). */
  endpoint: repo.EndpointRow | undefined;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface DeliveryWorker {
  /** Runs a round now (tests; the worker wakes by itself otherwise). */
  wake(): void;
  close(): Promise<void>;
}

export function startDeliveryWorker(
  database: Database,
  signal: EventSignal,
  config: WebhookConfig,
  log: FastifyBaseLogger,
): DeliveryWorker {
  const closing = new AbortController();
  const sender = startSender();
  /** Claims being worked on, until their outcome is recorded (or the claim given back). */
  const inFlight = new Map<string, { delivery: repo.DeliveryRow; done: Promise<void> }>();
  /** Of those, attempts waiting for the receiver. */
  let attempting = 0;
  /** How many more claims may be taken now. */
  const free = () => Math.max(0, Math.min(CONCURRENCY - attempting, MAX_HELD - inFlight.size));
  /** Organizations heard of since the last round (all followed ones are swept each poll). */
  const hinted = new Set<string>();
  let sweep = true;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  /** The next round, when asked for sooner than ROUND_INTERVAL_MS after the last one. */
  let soon: NodeJS.Timeout | undefined;
  let lastRoundAt = 0;
  /** The last round left due deliveries unclaimed for want of slots. */
  let backlog = false;

  /** A round now, or (unless `now`) once ROUND_INTERVAL_MS passed since the last one. */
  const wake = (now = false) => {
    if (closing.signal.aborted) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    if (!now) {
      if (soon !== undefined) return;
      const wait = lastRoundAt + ROUND_INTERVAL_MS - Date.now();
      if (wait > 0) {
        soon = setTimeout(() => {
          soon = undefined;
          wake();
        }, wait);
        return;
      }
    }
    clearTimeout(soon);
    soon = undefined;
    lastRoundAt = Date.now();
    running = round()
      .catch((error: unknown) => log.warn({ err: error }, 'webhook worker round failed'))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          wake();
        }
      });
  };
  const stopHearing = signal.onAny((org) => {
    hinted.add(org);
    wake();
  });
  const tick = () => {
    sweep = true;
    wake();
    timer = setTimeout(tick, POLL_MS);
    timer.unref();
  };
  timer = setTimeout(tick, 0);
  timer.unref();

  /**
   * Organizations whose feed is followed (they have or had endpoints), as of the last sweep;
   * and those known not to be. A commit's notice for an organization of neither kind costs
   * one read; for an unfollowed one, nothing until the next sweep.
   */
  let followed = new Map<string, FeedPosition>();
  let unfollowed = new Set<string>();

  async function round(): Promise<void> {
    if (sweep) {
      sweep = false;
      hinted.clear();
      const rows = await repo.followedFeeds(database.db);
      followed = new Map(
        rows.map((r) => [r.organization_id, { xact: String(r.xact), seq: Number(r.seq) }]),
      );
      unfollowed = new Set();
      for (const [org, at] of followed) await fanOut(org, at);
    } else {
      const orgs = [...hinted].filter((org) => !unfollowed.has(org));
      hinted.clear();
      for (const org of orgs) {
        let at = followed.get(org);
        if (at === undefined) {
          at = await repo.followedFeed(database.db, org);
          if (at === undefined) {
            unfollowed.add(org);
            continue;
          }
          followed.set(org, at);
        }
        await fanOut(org, at);
      }
    }
    await claimAndSend();
  }

  /**
   * Deliveries for the organization's new events, a batch per transaction. `seen` is where
   * fan-out stood when last read: a read first finds whether anything is new, so an idle
   * organization costs no write transaction. As many as there are free slots are written
   * claimed and posted once the transaction commits (never before: nothing is sent for an
   * event whose delivery a crash could still undo); the rest wait, due now, for claimAndSend.
   */
  async function fanOut(organizationId: string, seen: FeedPosition): Promise<void> {
    if (closing.signal.aborted) return;
    if ((await readFeed(database.db, organizationId, seen, 1)).length === 0) return;
    for (;;) {
      const moved = await database.transaction(async (tx) => {
        const at = await repo.lockFanout(tx, organizationId);
        if (at === undefined) return undefined;
        const rows = await readFeed(tx, organizationId, at, FANOUT_BATCH);
        if (rows.length === 0) return undefined;
        const endpoints = (await repo.enabledEndpoints(tx, organizationId)).map((row) => ({
          row,
          events: toEndpoint(row).events,
        }));
        const now = nowIso();
        const leaseUntil = new Date(Date.now() + LEASE_MS).toISOString();
        let slots = closing.signal.aborted ? 0 : free();
        const claimed: {
          delivery: repo.DeliveryRow;
          endpoint: repo.EndpointRow;
          event: EventRecord;
        }[] = [];
        const deliveries = rows.flatMap(({ event }) =>
          endpoints
            .filter((e) => matchesEvent(e.events, event.type))
            .map((e) => {
              const row = deliveryRow(organizationId, e.row.id, event, now);
              if (slots === 0) return row;
              slots--;
              const inserted = { ...row, next_attempt_at: leaseUntil };
              claimed.push({ delivery: { ...inserted, attempts: 0 }, endpoint: e.row, event });
              return inserted;
            }),
        );
        await repo.insertDeliveries(tx, deliveries);
        const last: FeedPosition = rows[rows.length - 1]!.position;
        await repo.moveFanout(tx, organizationId, last);
        return { count: rows.length, last, claimed };
      });
      if (moved === undefined) return;
      // Committed: the claimed ones go now; the next pre-check starts here.
      if (moved.claimed.length < moved.count) backlog = true;
      for (const c of moved.claimed) start(c.delivery, Promise.resolve(c.endpoint), c.event);
      if (followed.has(organizationId)) followed.set(organizationId, moved.last);
      if (moved.count < FANOUT_BATCH || closing.signal.aborted) return;
    }
  }

  async function claimAndSend(): Promise<void> {
    // Rounds run one at a time, so a claim takes every slot that freed while the last ran.
    const slots = free();
    if (closing.signal.aborted) return;
    const now = nowIso();
    // A read first: an idle worker takes no write lock (SQLite) and writes nothing.
    if (!(await repo.anyDue(database.db, now))) {
      backlog = false;
      return;
    }
    backlog = true;
    if (slots === 0) return;
    const leaseUntil = new Date(Date.now() + LEASE_MS).toISOString();
    const claimed = await database.transaction((tx) => repo.claimDue(tx, now, leaseUntil, slots));
    backlog = claimed.length === slots;
    // Each endpoint read once per claim, not once per attempt; the claim's events at once.
    const endpoints = new Map<string, Promise<repo.EndpointRow | undefined>>();
    const eventsOfOrg = new Map<string, Promise<Map<string, EventRecord>>>();
    for (const org of new Set(claimed.map((d) => d.organization_id))) {
      const ids = claimed
        .filter((d) => d.organization_id === org && d.payload === null)
        .map((d) => d.event_id);
      eventsOfOrg.set(
        org,
        eventsByIds(database.db, org, ids).then((events) => new Map(events.map((e) => [e.id, e]))),
      );
    }
    for (const delivery of claimed) {
      const key = `${delivery.organization_id}/${delivery.endpoint_id}`;
      let endpoint = endpoints.get(key);
      if (endpoint === undefined) {
        endpoint = repo.findEndpoint(database.db, delivery.organization_id, delivery.endpoint_id);
        endpoints.set(key, endpoint);
      }
      const event =
        delivery.payload === null
          ? eventsOfOrg.get(delivery.organization_id)!.then((byId) => byId.get(delivery.event_id))
          : (JSON.parse(delivery.payload) as EventRecord);
      start(delivery, endpoint, event);
    }
  }

  /** Works on a claimed delivery: its attempt, then its outcome's record. */
  function start(
    delivery: repo.DeliveryRow,
    endpoint: Promise<repo.EndpointRow | undefined>,
    event: EventRecord | undefined | Promise<EventRecord | undefined>,
  ): void {
    attempting++;
    let attempted = false;
    const attemptDone = () => {
      if (attempted) return;
      attempted = true;
      attempting--;
      // A slot is free: more may be due (at once when half of them are).
      wake(backlog && free() >= CONCURRENCY / 2);
    };
    const done = Promise.all([endpoint, event])
      .then(([e, ev]) => send(delivery, e, ev, attemptDone))
      .catch((error: unknown) => log.warn({ err: error }, 'webhook attempt not recorded'))
      .finally(() => {
        attemptDone();
        inFlight.delete(delivery.id);
        if (inFlight.size === MAX_HELD - 1) wake();
      });
    inFlight.set(delivery.id, { delivery, done });
  }

  async function send(
    delivery: repo.DeliveryRow,
    endpoint: repo.EndpointRow | undefined,
    event: EventRecord | undefined,
    attemptDone: () => void,
  ): Promise<void> {
    if (endpoint === undefined) return; // deleted meanwhile: its deliveries went with it
    if (event === undefined) {
      // Purged (EVENT_RETENTION_DAYS) before it could be delivered: nothing left to send.
      attemptDone();
      reportDeliveryAttempt('event_gone', Number(delivery.attempts), undefined);
      await record(delivery, undefined, {
        status: 'failed',
        at: nowIso(),
        statusCode: null,
        error: 'the event is no longer kept (EVENT_RETENTION_DAYS)',
        nextAttemptAt: null,
      });
      return;
    }
    const body = JSON.stringify({ type: event.type, timestamp: event.createdAt, data: event });
    const outcome = await sender.send({
      url: endpoint.url,
      secrets: signingSecrets(
        {
          secret: endpoint.secret,
          previousSecret: endpoint.previous_secret,
          previousExpiresAt: endpoint.previous_secret_expires_at,
        },
        Date.now(),
      ),
      messageId: delivery.event_id,
      body,
      allowPrivate: config.allowPrivate,
    });
    attemptDone();
    if (closing.signal.aborted) {
      // Cut short by the service closing: not an attempt the receiver answered. Given back,
      // it is due again at once for whoever runs next.
      await database.transaction((tx) => repo.releaseClaim(tx, delivery, nowIso()));
      return;
    }
    const attempts = Number(delivery.attempts) + 1;
    const next = outcome.ok
      ? null
      : nextAttemptAt(attempts, config.retryScheduleSeconds, Date.now(), Math.random());
    const counted = outcome.ok ? 'succeeded' : next === null ? 'failed' : 'failed_attempt';
    reportDeliveryAttempt(counted, Number(delivery.attempts), event.createdAt);
    await record(delivery, endpoint, {
      status: outcome.ok ? 'succeeded' : next === null ? 'failed' : 'pending',
      at: nowIso(),
      statusCode: outcome.statusCode,
      error: outcome.error,
      nextAttemptAt: next,
    });
  }

  let batch: PendingRecord[] | undefined;

  /**
   * Records an outcome: with the others that ended within RECORD_DELAY_MS of the first, in
   * one statement in one short transaction of their own (never one an HTTP request waits
   * in), followed by the endpoints' health. Resolves once committed.
   */
  function record(
    delivery: repo.DeliveryRow,
    endpoint: repo.EndpointRow | undefined,
    outcome: repo.AttemptRecord,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      if (batch === undefined) {
        const entries: PendingRecord[] = [];
        batch = entries;
        setTimeout(() => {
          batch = undefined;
          database
            .transaction(async (tx) => {
              const recorded = await repo.recordAttempts(tx, entries);
              // In the order the attempts ended: a success then a failure leaves a streak.
              for (const e of entries) {
                if (e.endpoint !== undefined && recorded.has(e.delivery.id))
                  await noteHealth(tx, e.endpoint, e.outcome.status === 'succeeded', e.outcome.at);
              }
            })
            .then(
              () => entries.forEach((e) => e.resolve()),
              (error: unknown) => entries.forEach((e) => e.reject(error)),
            );
        }, RECORD_DELAY_MS);
      }
      batch.push({ delivery, outcome, endpoint, resolve, reject });
    });
  }

  /** Success clears the endpoint's failing streak; 5 days of failure disables it. */
  async function noteHealth(
    tx: Tx,
    endpoint: repo.EndpointRow,
    ok: boolean,
    at: string,
  ): Promise<void> {
    const org = endpoint.organization_id;
    if (ok) {
      if (endpoint.failing_since !== null)
        await repo.updateEndpoint(tx, org, endpoint.id, { failing_since: null });
      return;
    }
    const current = await repo.lockEndpoint(tx, org, endpoint.id);
    if (current === undefined) return;
    const since = current.failing_since ?? at;
    if (current.failing_since === null)
      await repo.updateEndpoint(tx, org, endpoint.id, { failing_since: since });
    if (current.enabled === 1 && Date.parse(at) - Date.parse(since) >= DISABLE_AFTER_FAILING_MS) {
      const patch = {
        enabled: 0,
        failing_since: since,
        updated_at: at,
        updated_by: WORKER.principal,
        updated_via: WORKER.via,
      };
      await repo.updateEndpoint(tx, org, endpoint.id, patch);
      await appendEvent(
        tx,
        { ...WORKER, organization: { id: org } },
        {
          type: 'webhook-endpoint.disabled',
          entityType: 'webhook-endpoint',
          entityId: endpoint.id,
          data: toEndpoint({ ...current, ...patch }),
          changes: { enabled: { before: true, after: false } },
          at,
        },
      );
      log.warn(
        { endpointId: endpoint.id, organizationId: org },
        'webhook endpoint disabled after 5 days of failures',
      );
    }
  }

  return {
    wake: () => wake(true),
    async close() {
      closing.abort();
      stopHearing();
      clearTimeout(timer);
      clearTimeout(soon);
      await running;
      // In-flight attempts answer as aborted at once; their claims are given back.
      const senderClosed = sender.close();
      await Promise.all([...inFlight.values()].map((f) => f.done));
      await senderClosed;
    },
  };
}
