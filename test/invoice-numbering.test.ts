// Invoice numbers (API.md §3.4) are a gap-free, duplicate-free per-organization sequence
// assigned at close. 200 invoices are closed by 20 parallel clients while other clients take
// numbers and roll back: on PostgreSQL each client is its own Database (its own pool and
// connections, like separate service instances); on SQLite one app takes concurrent HTTP
// requests (one process owns the embedded database).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nextValue } from '../src/db/counters.ts';
import { createDatabase, type Database } from '../src/db/engine.ts';
import type { RequestContext } from '../src/shared/context.ts';
import { newId, nowIso } from '../src/shared/ids.ts';
import * as invoices from '../src/invoices/invoices.service.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';
import { TEST_ENGINE } from './support/database.ts';

const INVOICES = 200;
const CLIENTS = 20;
const ABORTERS = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What organizationAuth would build for a manager key of `organizationId`. */
function managerContext(organizationId: string, requestId: string): RequestContext {
  return {
    keyId: null,
    principal: 'numbering-test',
    via: 'test',
    role: 'manager',
    allOrganizations: false,
    organizationIds: new Set([organizationId]),
    requestId,
    organization: {
      id: organizationId,
      currency: 'SAR',
      currencyExponent: 2,
      maxAmountMinor: 100_000_000_000,
      maxPaymentsPerOrder: 100,
    },
  };
}

void describe(`invoice numbering (${TEST_ENGINE})`, () => {
  let t: TestApp;
  let org: TestOrg;
  let orderId: string;
  /** PostgreSQL only: one Database (pool) per client. */
  const clients: Database[] = [];

  before(async () => {
    t = await startTestApp();
    org = await t.createOrg('SAR');
    orderId = newId();
    const at = nowIso();
    await t.database.db
      .insertInto('orders')
      .values({
        organization_id: org.id,
        id: orderId,
        number: 1,
        status: 'open',
        total_minor: 100_000,
        customer_uid: null,
        external_ref: null,
        closed_at: null,
        canceled_at: null,
        created_at: at,
        created_via: 'test',
        created_by: 'test',
        updated_at: at,
        updated_via: 'test',
        updated_by: 'test',
      })
      .execute();
    if (TEST_ENGINE === 'postgres') {
      const config = t.testDatabase.config;
      assert.equal(config.engine, 'postgres');
      for (let i = 0; i < CLIENTS + ABORTERS; i++) {
        clients.push(createDatabase({ ...config, poolSize: 1 }));
      }
    }
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await t.close();
  });

  const ctx = (requestId: string) => managerContext(org.id, requestId);

  async function openInvoices(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      ids.push((await invoices.createInvoice(t.database, ctx(`create-${i}`), { orderId })).id);
    }
    return ids;
  }

  /** Closes one invoice the way client `i` would, returning its number. */
  async function closeAs(client: number, id: string): Promise<number> {
    if (TEST_ENGINE === 'postgres') {
      const closed = await invoices.closeInvoice(clients[client]!, ctx(`close-${id}`), id);
      return closed.invoiceNumber;
    }
    const r = await t.call(org, 'manager', { method: 'PATCH', url: `/v1/om/invoices/${id}/close` });
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data.invoiceNumber as number;
  }

  /** A transaction that takes an invoice number and then fails: its number must come back. */
  async function takeAndAbort(database: Database): Promise<void> {
    await assert.rejects(
      database.transaction(async (tx) => {
        await nextValue(tx, org.id, 'invoice_number');
        await sleep(1);
        throw new Error('aborted on purpose');
      }),
      /aborted on purpose/,
    );
  }

  async function storedNumbers(): Promise<number[]> {
    const rows = await t.database.db
      .selectFrom('invoices')
      .select('invoice_number')
      .where('organization_id', '=', org.id)
      .where('status', '=', 'closed')
      .execute();
    return rows.map((r) => Number(r.invoice_number)).sort((a, b) => a - b);
  }

  void test(`${INVOICES} invoices closed by ${CLIENTS} parallel clients get 1..${INVOICES} once each`, async (tc) => {
    const ids = await openInvoices(INVOICES);
    let nextIndex = 0;
    let running = CLIENTS;
    let aborted = 0;
    const numbers: number[] = [];
    const started = performance.now();
    const closers = Array.from({ length: CLIENTS }, async (_, client) => {
      try {
        for (let i = nextIndex++; i < ids.length; i = nextIndex++) {
          numbers.push(await closeAs(client, ids[i]!));
        }
      } finally {
        running--;
      }
    });
    // Meanwhile other clients take numbers and roll back, interleaved with the closes.
    const aborters = Array.from({ length: ABORTERS }, async (_, a) => {
      const database = TEST_ENGINE === 'postgres' ? clients[CLIENTS + a]! : t.database;
      while (running > 0) {
        await takeAndAbort(database);
        aborted++;
        await sleep(2);
      }
    });
    await Promise.all([...closers, ...aborters]);
    const ms = performance.now() - started;

    const expected = Array.from({ length: INVOICES }, (_, i) => i + 1);
    assert.deepEqual(
      [...numbers].sort((a, b) => a - b),
      expected,
    );
    assert.deepEqual(await storedNumbers(), expected);
    assert.ok(aborted > 0, 'some number-taking transactions were rolled back meanwhile');
    const events = await t.database.db
      .selectFrom('events')
      .select('entity_id')
      .where('organization_id', '=', org.id)
      .where('type', '=', 'invoice.closed')
      .execute();
    assert.equal(events.length, INVOICES);
    assert.equal(new Set(events.map((e) => e.entity_id)).size, INVOICES);
    tc.diagnostic(
      `${TEST_ENGINE}: ${INVOICES} closes by ${CLIENTS} clients in ${ms.toFixed(0)} ms ` +
        `(${((INVOICES / ms) * 1000).toFixed(0)}/s), ${aborted} aborted takes, numbers 1..${Math.max(...numbers)}`,
    );
  });

  void test('a transaction that took a number and failed leaves no gap', async () => {
    const [first, second] = await openInvoices(2);
    const before = Math.max(0, ...(await storedNumbers()));
    await takeAndAbort(t.database);
    await takeAndAbort(clients[0] ?? t.database);
    assert.equal(await closeAs(0, first!), before + 1);
    await takeAndAbort(t.database);
    assert.equal(await closeAs(1, second!), before + 2);
    // A close refused after the lookup (closed already) takes no number either.
    const again = await t.call(org, 'manager', {
      method: 'PATCH',
      url: `/v1/om/invoices/${first}/close`,
    });
    assert.equal(json(again).error.code, 'INVALID_STATUS');
    const [third] = await openInvoices(1);
    assert.equal(await closeAs(2, third!), before + 3);
    const expected = Array.from({ length: before + 3 }, (_, i) => i + 1);
    assert.deepEqual(await storedNumbers(), expected);
  });
});
