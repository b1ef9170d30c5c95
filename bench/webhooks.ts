// The webhooks part of the benchmark (issue 21, API.md §7.3): a receiver on loopback in the
// load generator's process, registered as one enabled endpoint taking every event. It
// answers 200 at once and records, per event, the lag from the event's `createdAt` (taken
// just before its commit) to the first attempt's arrival. After each measured run the
// benchmark waits (bounded) for the service's pending deliveries to drain.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import type { Database } from '../src/db/engine.ts';
import { call, type OrgKeys } from '../reliability/lib.ts';

/** How long the pending deliveries get to drain once a run's load stops. */
const DRAIN_LIMIT_MS = 120_000;

export interface DeliveryFigures {
  /** Events delivered (first attempts) during the measured runs and their drains. */
  delivered: number;
  lagP50Ms: number;
  lagP99Ms: number;
  /**
   * Lag p99 of each measured run (with its drain), in order: a backlog that built up during
   * one run shows which (at 128 attempts in flight, the lag climbed to ~5 s within a run).
   */
  lagP99ByRunMs: number[];
  /** Deliveries still pending when a run's load stopped (the largest of the runs). */
  pendingAtStop: number;
  /** Time from a run's end until nothing was pending (the longest of the runs). */
  drainS: number;
  /** Deliveries still pending DRAIN_LIMIT_MS after a run's end (the most of the runs). */
  leftAfterDrain: number;
}

export interface Receiver {
  /** Registers the receiver as an endpoint of the organization, taking every event. */
  register(base: string, org: OrgKeys): Promise<void>;
  /** Forgets what arrived so far: the measured runs' lags start now (after a warm-up). */
  reset(): void;
  /** Waits until the database has no pending delivery, or the drain limit passes. */
  drain(database: Database): Promise<void>;
  figures(): DeliveryFigures;
  close(): Promise<void>;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

const sortedLags = (xs: number[]) => [...xs].sort((a, b) => a - b);

/**
 * Deliveries pending, and batches of new events out for their first attempts (leased, not yet
 * written: src/webhooks/webhooks.worker.ts) — drained means none of either.
 */
async function pendingDeliveries(database: Database): Promise<{ rows: number; batches: number }> {
  const { rows } = await sql<{ rows: number | string; batches: number | string }>`
    select (select count(*) from webhook_deliveries where status = 'pending') as rows,
      (select count(*) from webhook_fanout where lease_until is not null) as batches`.execute(
    database.db,
  );
  return { rows: Number(rows[0]!.rows), batches: Number(rows[0]!.batches) };
}

export async function startReceiver(): Promise<Receiver> {
  let lags: number[] = [];
  /** Where the current run starts in `lags`. */
  let runStart = 0;
  let lagP99ByRunMs: number[] = [];
  let seen = new Set<string>();
  let pendingAtStop = 0;
  let drainS = 0;
  let leftAfterDrain = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const id = String(req.headers['webhook-id']);
      if (!seen.has(id)) {
        seen.add(id);
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { timestamp: string };
        lags.push(Date.now() - Date.parse(body.timestamp));
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    async register(base, org) {
      const r = await call(
        base,
        'POST',
        '/v1/om/webhook-endpoints',
        { 'api-key': org.keys.admin, 'organization-id': org.id },
        { params: { url: `http://127.0.0.1:${port}/hook` } },
      );
      if (r.status !== 200) throw new Error(`registering the endpoint: ${r.status} ${r.text}`);
    },
    reset() {
      lags = [];
      runStart = 0;
      lagP99ByRunMs = [];
      seen = new Set();
      pendingAtStop = drainS = leftAfterDrain = 0;
    },
    async drain(database) {
      const stoppedAt = Date.now();
      let left = await pendingDeliveries(database);
      pendingAtStop = Math.max(pendingAtStop, left.rows);
      while (left.rows + left.batches > 0 && Date.now() - stoppedAt < DRAIN_LIMIT_MS) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        left = await pendingDeliveries(database);
      }
      drainS = Math.max(drainS, (Date.now() - stoppedAt) / 1000);
      leftAfterDrain = Math.max(leftAfterDrain, left.rows + left.batches);
      lagP99ByRunMs.push(percentile(sortedLags(lags.slice(runStart)), 0.99));
      runStart = lags.length;
    },
    figures() {
      const sorted = sortedLags(lags);
      return {
        delivered: lags.length,
        lagP50Ms: percentile(sorted, 0.5),
        lagP99Ms: percentile(sorted, 0.99),
        lagP99ByRunMs,
        pendingAtStop,
        drainS: Math.round(drainS * 10) / 10,
        leftAfterDrain,
      };
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
