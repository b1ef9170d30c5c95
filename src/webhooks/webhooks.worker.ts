// The delivery worker (API.md §7.3), one per service process unless WEBHOOK_WORKER=0.
//
// Fan-out: for each organization with endpoints (webhook_fanout), the worker reads the feed
// after its position — the same reader as GET /events, so only committed events no running
// transaction can precede — and makes a delivery per matching enabled endpoint. Nothing is
// sent before its event committed: the feed serves nothing else.
//
// New events are attempted first and written once, with their outcomes. A short transaction
// leases the range after the position (webhook_fanout.lease_until) to this worker; the
// attempts go out; then one transaction moves the position past the range — only while the
// lease is still this worker's — and inserts the range's deliveries with their outcomes
// (succeeded, or pending with the retry's time, or failed). A delivery costs one row write,
// not an insert and then an update of its outcome (docs/events.md "Measured"). An attempt
// still unanswered DIRECT_WAIT_MS after the batch went out is written claimed instead
// (below), and its outcome recorded when it ends. A kill at any moment loses nothing: until
// that transaction commits the position has not moved, and when the lease ends the range is
// taken over and sent again (at least once; receivers de-duplicate on webhook-id). While
// no slot is free, the new events' deliveries are written pending instead, without a lease.
// On PostgreSQL the fan-out row is locked with SKIP LOCKED and its lease honoured: one
// instance works an organization's new events at a time.
//
// Retries and whatever waited for a slot: claimed (webhooks.repository.ts dueDeliveries,
// claimDeliveries) as slots free up — a claim is a lease written to the database before the attempt
// (`next_attempt_at` = the lease's end) — and outcomes that end within 50 ms of each other
// are recorded together, one statement in one short transaction. Several instances share
// the work without making the same attempt twice; a killed worker's claims come due again
// when their lease ends. The HTTP side of an attempt runs on a thread of its own
// (webhooks.sender.ts); everything that touches the database stays here.
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
import {
  reportAttemptEnded,
  reportAttemptStarted,
  reportDeliveryAttempt,
} from '../shared/metrics.ts';
import * as repo from './webhooks.repository.ts';
import {
  DISABLE_AFTER_FAILING_MS,
  fitting,
  matchesEvent,
  nextAttemptAt,
  signingSecrets,
} from './webhooks.rules.ts';
import { startSender } from './webhooks.sender.ts';
import { deliveryRow, toEndpoint } from './webhooks.service.ts';

const POLL_MS = 1000;
/** New events per fan-out batch at most (and no more than the free slots when attempted). */
const FANOUT_BATCH = 256;
/**
 * Fewer free slots than this share of them: new events are written pending, not attempted
 * first (a batch that would go out a few at a time costs two transactions, not one).
 */
const DIRECT_MIN_SHARE = 1 / 16;
/**
 * How long a batch of new events waits for its answers before it is written: the ones still
 * unanswered are written claimed, so a slow receiver holds its organization's fan-out up
 * this long at most.
 */
const DIRECT_WAIT_MS = 1000;
// Attempts in flight at once, per process: WEBHOOK_CONCURRENCY (512), and to any one endpoint
// WEBHOOK_ENDPOINT_CONCURRENCY (256). Under load an answer waits several busy turns of the
// event loop before it frees its slot, so 32 capped delivery at ~700/s on SQLite while the
// mixed load wrote ~1,000 events/s, and 128 fell behind ~1,500 events/s: the backlog (and the
// lag, to ~5 s) grew for stretches of a run, and once behind, every delivery also costs a
// claim (docs/events.md "Measured"). The share per endpoint keeps one that is slow to answer
// (or never does: 10 s each) from holding every slot while other organizations' deliveries
// wait: it holds its share at most (half, by default), and its own wait for a later round.
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
 * Claims held at once, as a multiple of the attempts in flight: attempts and outcomes
 * waiting for their record. A slot is free again once the receiver answered, not once its
 * outcome committed (which waits for a shared commit), but outcomes cannot pile up without
 * bound behind a slow database.
 */
const HELD_PER_SLOT = 2;
/**
 * Outcomes are recorded together, this long after the first of them ended: a transaction
 * per event-loop turn was many small ones under load (answers trickle in over many turns).
 * A slot frees when the receiver answers, so the wait delays only the record.
 */
const RECORD_DELAY_MS = 50;
/** A claim outlives the 10 s attempt and the recording of its outcome. */
const LEASE_MS = 30_000;

/** How the worker names an endpoint it holds attempts to (ids are unique per organization). */
const endpointKey = (e: repo.EndpointRow) => `${e.organization_id}/${e.id}`;
const deliveryEndpointKey = (d: repo.DeliveryRow) => `${d.organization_id}/${d.endpoint_id}`;

/** Who the worker's own events (webhook-endpoint.disabled) are by. */
const WORKER = { principal: 'system', via: 'webhook-worker', requestId: 'webhook-worker' };

/** What an attempt came to: its outcome to record, or `closing` (cut short, given back). */
type Attempted = { endpoint: repo.EndpointRow | undefined; record: repo.AttemptRecord } | 'closing';

/** Writes what an attempt came to; resolves once committed. */
type Settle = (delivery: repo.DeliveryRow, attempted: Attempted) => Promise<void>;

/** New events' deliveries leased for attempts before they are written (see the top). */
interface LeasedBatch {
  organizationId: string;
  /** The end of the lease, and the claim of deliveries written before their answer. */
  leaseUntil: string;
  /** The position after the batch. */
  last: FeedPosition;
  /** As many events as could be read: more may wait. */
  full: boolean;
  attempted: { delivery: repo.DeliveryRow; endpoint: repo.EndpointRow; event: EventRecord }[];
  /** Matched beyond the free slots or an endpoint's share of them: written pending, due now. */
  rest: repo.DeliveryRow[];
}

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
  const { concurrency, endpointConcurrency } = config;
  const maxHeld = HELD_PER_SLOT * concurrency;
  /** Of those, attempts waiting for the receiver: in all, and per endpoint (endpointKey). */
  let attempting = 0;
  const attemptingTo = new Map<string, { endpoint: repo.EndpointKey; attempts: number }>();
  /** How many more claims may be taken now. */
  const free = () => Math.max(0, Math.min(concurrency - attempting, maxHeld - inFlight.size));
  /** How many more attempts the endpoint may have in flight now. */
  const room = (endpoint: string) =>
    endpointConcurrency - (attemptingTo.get(endpoint)?.attempts ?? 0);
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
      followed = await repo.followedFeeds(database.db);
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

  /** Organizations whose batch of new events is out (leased, not yet written). */
  const attemptingNew = new Set<string>();

  /**
   * The organization's new events: a batch leased and attempted first while slots are free
   * (sendNew), else their deliveries written pending, a batch per transaction. `seen` is
   * where fan-out stood when last read: a read first finds whether anything is new, so an
   * idle organization costs no write transaction.
   */
  async function fanOut(organizationId: string, seen: FeedPosition): Promise<void> {
    if (closing.signal.aborted || attemptingNew.has(organizationId)) return;
    if ((await readFeed(database.db, organizationId, seen, 1)).length === 0) return;
    for (;;) {
      const slots = free();
      const batch = await database.transaction(async (tx) => {
        const fanout = await repo.lockFanout(tx, organizationId);
        const now = nowIso();
        if (fanout === undefined || (fanout.leaseUntil !== null && fanout.leaseUntil > now))
          return undefined; // another worker is at it
        const endpoints = (await repo.enabledEndpoints(tx, organizationId)).map((row) => ({
          row,
          events: toEndpoint(row).events,
        }));
        // Attempted first while enough slots are free, in all and to one of its endpoints.
        const minSlots = Math.max(1, concurrency * DIRECT_MIN_SHARE);
        const direct =
          slots >= minSlots && endpoints.some((e) => room(endpointKey(e.row)) >= minSlots);
        const limit = direct ? Math.min(FANOUT_BATCH, slots) : FANOUT_BATCH;
        const rows = await readFeed(tx, organizationId, fanout.position, limit);
        if (rows.length === 0) return undefined;
        const matched = rows.flatMap(({ event }) =>
          endpoints
            .filter((e) => matchesEvent(e.events, event.type))
            .map((e) => ({ row: deliveryRow(organizationId, e.row.id, event, now), e, event })),
        );
        const last: FeedPosition = rows[rows.length - 1]!.position;
        if (!direct || matched.length === 0) {
          await repo.insertDeliveries(
            tx,
            matched.map((m) => m.row),
          );
          await repo.moveFanout(tx, organizationId, last);
          return { leased: undefined, full: rows.length === limit, last, queued: matched.length };
        }
        const leaseUntil = new Date(Date.now() + LEASE_MS).toISOString();
        await repo.leaseFanout(tx, organizationId, leaseUntil);
        const { going, waiting } = fitting(matched, slots, (m) => endpointKey(m.e.row), room);
        const leased: LeasedBatch = {
          organizationId,
          leaseUntil,
          last,
          full: rows.length === limit,
          attempted: going.map((m) => ({
            delivery: { ...m.row, next_attempt_at: leaseUntil },
            endpoint: m.e.row,
            event: m.event,
          })),
          rest: waiting.map((m) => m.row),
        };
        return { leased, full: leased.full, last, queued: 0 };
      });
      if (batch === undefined) return;
      if (batch.leased !== undefined) {
        // Committed: the lease is this worker's; the batch goes out now, the next after it.
        sendNew(batch.leased);
        return;
      }
      // Written pending: claimAndSend takes them as slots free.
      if (batch.queued > 0) backlog = true;
      if (followed.has(organizationId)) followed.set(organizationId, batch.last);
      if (!batch.full || closing.signal.aborted) return;
    }
  }

  /**
   * Attempts a leased batch, then writes it (see the top): once every attempt ended, or
   * DIRECT_WAIT_MS after it went out, whichever is first.
   */
  function sendNew(batch: LeasedBatch): void {
    const org = batch.organizationId;
    attemptingNew.add(org);
    const outcomes = new Map<string, Attempted>();
    let writing = false;
    let wrote!: (held: boolean) => void;
    let failed!: (error: unknown) => void;
    const written = new Promise<boolean>((resolve, reject) => {
      wrote = resolve;
      failed = reject;
    });
    written.catch(() => undefined); // logged in write; each settle sees it too
    const write = () => {
      if (writing) return;
      writing = true;
      clearTimeout(timer);
      writeNew(batch, new Map(outcomes))
        .then(wrote, (error: unknown) => {
          // The lease stays: the range is sent again once it ends.
          log.warn({ err: error }, 'webhook batch not written');
          failed(error);
        })
        .finally(() => {
          attemptingNew.delete(org);
          if (followed.has(org)) followed.set(org, batch.last);
          // More may have committed meanwhile: a full batch goes on at once.
          hinted.add(org);
          wake(batch.full);
        });
    };
    const timer = setTimeout(write, DIRECT_WAIT_MS);
    const settle: Settle = async (delivery, attempted) => {
      if (!writing) {
        outcomes.set(delivery.id, attempted);
        if (outcomes.size === batch.attempted.length) write();
        await written;
        return;
      }
      // Answered after the batch was written claimed: recorded as a claimed one's is.
      if (await written) await recordAttempted(delivery, attempted);
    };
    if (batch.attempted.length === 0) write();
    for (const a of batch.attempted)
      start(a.delivery, Promise.resolve(a.endpoint), a.event, settle);
  }

  /**
   * A leased batch's one transaction: the position moves past it, if the lease is still this
   * worker's (else another took the range over and sends it again: nothing is written), and
   * its deliveries are inserted — with their outcome, claimed when still unanswered, due now
   * when given back or beyond the slots. Answers whether the lease held.
   */
  function writeNew(batch: LeasedBatch, outcomes: Map<string, Attempted>): Promise<boolean> {
    const now = nowIso();
    const rows = batch.attempted.map(({ delivery }) => {
      const attempted = outcomes.get(delivery.id);
      if (attempted === undefined) return delivery; // claimed until the lease's end
      if (attempted === 'closing') return { ...delivery, next_attempt_at: now };
      const r = attempted.record;
      return {
        ...delivery,
        status: r.status,
        attempts: 1,
        last_attempt_at: r.at,
        last_status_code: r.statusCode,
        last_error: r.error,
        next_attempt_at: r.nextAttemptAt,
      };
    });
    rows.push(...batch.rest);
    return database.transaction(async (tx) => {
      if (!(await repo.moveFanout(tx, batch.organizationId, batch.last, batch.leaseUntil)))
        return false;
      // An endpoint deleted while its batch was out took its deliveries with it: none now.
      const kept = await repo.endpointIds(tx, batch.organizationId);
      await repo.insertDeliveries(
        tx,
        rows.filter((r) => kept.has(r.endpoint_id)),
      );
      // In the order the attempts ended (the map's): a success then a failure leaves a streak.
      for (const attempted of outcomes.values())
        if (attempted !== 'closing' && attempted.endpoint !== undefined) {
          const r = attempted.record;
          await noteHealth(tx, attempted.endpoint, r.status === 'succeeded', r.at);
        }
      return true;
    });
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
    // Not to the endpoints holding their share already, nor beyond it to the others: what
    // is left waits (due) for a later round, others' deliveries go meanwhile.
    const full = [...attemptingTo.values()]
      .filter((to) => to.attempts >= endpointConcurrency)
      .map((to) => to.endpoint);
    const claimed = await database.transaction(async (tx) => {
      const due = await repo.dueDeliveries(tx, now, slots, full);
      const { going } = fitting(due, slots, deliveryEndpointKey, room);
      return repo.claimDeliveries(tx, going, leaseUntil);
    });
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

  /**
   * Works on a claimed (or leased) delivery: its attempt, then `settle` writes what it came
   * to. It holds a slot until answered and its place among the claims held until written.
   */
  function start(
    delivery: repo.DeliveryRow,
    endpoint: Promise<repo.EndpointRow | undefined>,
    event: EventRecord | undefined | Promise<EventRecord | undefined>,
    settle: Settle = recordAttempted,
  ): void {
    const key = deliveryEndpointKey(delivery);
    const to = attemptingTo.get(key) ?? {
      endpoint: { organizationId: delivery.organization_id, endpointId: delivery.endpoint_id },
      attempts: 0,
    };
    attemptingTo.set(key, to);
    to.attempts++;
    attempting++;
    reportAttemptStarted(to.attempts === endpointConcurrency);
    let attempted = false;
    const attemptDone = () => {
      if (attempted) return;
      attempted = true;
      attempting--;
      reportAttemptEnded(to.attempts === endpointConcurrency);
      if (--to.attempts === 0) attemptingTo.delete(key);
      // A slot is free: more may be due (at once when half of them are).
      wake(backlog && free() >= concurrency / 2);
    };
    const done = Promise.all([endpoint, event])
      .then(async ([e, ev]) => {
        if (e === undefined) return; // deleted meanwhile: its deliveries went with it
        await settle(delivery, await attempt(delivery, e, ev, attemptDone));
      })
      .catch((error: unknown) => log.warn({ err: error }, 'webhook attempt not recorded'))
      .finally(() => {
        attemptDone();
        inFlight.delete(delivery.id);
        if (inFlight.size === maxHeld - 1) wake();
      });
    inFlight.set(delivery.id, { delivery, done });
  }

  /** One attempt of a delivery and the outcome it leads to (the retry's time, or the end). */
  async function attempt(
    delivery: repo.DeliveryRow,
    endpoint: repo.EndpointRow,
    event: EventRecord | undefined,
    attemptDone: () => void,
  ): Promise<Attempted> {
    if (event === undefined) {
      // Purged (EVENT_RETENTION_DAYS) before it could be delivered: nothing left to send.
      attemptDone();
      reportDeliveryAttempt('event_gone', Number(delivery.attempts), undefined);
      return {
        endpoint: undefined,
        record: {
          status: 'failed',
          at: nowIso(),
          statusCode: null,
          error: 'the event is no longer kept (EVENT_RETENTION_DAYS)',
          nextAttemptAt: null,
        },
      };
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
    // Cut short by the service closing: not an attempt the receiver answered.
    if (closing.signal.aborted) return 'closing';
    const attempts = Number(delivery.attempts) + 1;
    const next = outcome.ok
      ? null
      : nextAttemptAt(attempts, config.retryScheduleSeconds, Date.now(), Math.random());
    const counted = outcome.ok ? 'succeeded' : next === null ? 'failed' : 'failed_attempt';
    reportDeliveryAttempt(counted, Number(delivery.attempts), event.createdAt);
    return {
      endpoint,
      record: {
        status: outcome.ok ? 'succeeded' : next === null ? 'failed' : 'pending',
        at: nowIso(),
        statusCode: outcome.statusCode,
        error: outcome.error,
        nextAttemptAt: next,
      },
    };
  }

  /** A claimed delivery's attempt: its outcome recorded, or (closing) its claim given back. */
  async function recordAttempted(delivery: repo.DeliveryRow, attempted: Attempted): Promise<void> {
    if (attempted === 'closing') {
      // Given back, it is due again at once for whoever runs next.
      await database.transaction((tx) => repo.releaseClaim(tx, delivery, nowIso()));
      return;
    }
    await record(delivery, attempted.endpoint, attempted.record);
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
