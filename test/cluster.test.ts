// WORKERS=2 (src/cluster.ts), run as an operator runs it: `node bin/om-payments.js serve` in a
// child process on the engine under test. Two workers answer on one port with different
// instanceIds (API.md §1); a worker killed -9 is replaced while the port keeps answering; SIGTERM
// lets requests in flight finish (and commit) before every process exits.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { createApiKey } from '../src/api-keys/api-keys.service.ts';
import { loadConfig } from '../src/config.ts';
import { createDatabase } from '../src/db/engine.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createOrganization } from '../src/organizations/organizations.service.ts';
import { cliCaller } from '../src/shared/context.ts';
import { createTestDatabase, TEST_ENGINE, type TestDatabase } from './support/database.ts';
import { startServe, stopAllServed, type ServedProcess } from './support/cli.ts';

after(stopAllServed);

interface Answer {
  status: number;
  body: any;
}

/** One request on a connection of its own, so the cluster hands each to the next worker. */
function fresh(
  base: string,
  method: string,
  path: string,
  headers = {},
  body?: unknown,
  timeoutMs = 20_000,
) {
  return new Promise<Answer>((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = http.request(
      `${base}${path}`,
      {
        method,
        agent: false,
        headers: {
          ...headers,
          ...(payload !== undefined && { 'content-type': 'application/json' }),
        },
        timeout: timeoutMs,
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (c: string) => (text += c));
        response.on('end', () => {
          let parsed: unknown = null;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = null;
          }
          resolve({ status: response.statusCode ?? 0, body: parsed });
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
    request.end(payload);
  });
}

/** JSON log lines (LOG_LEVEL=info) of every process of the instance. */
function logLines(served: ServedProcess): Record<string, any>[] {
  return served
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{') && line.endsWith('}'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The primary's log lines of one message. */
function primaryLog(served: ServedProcess, msg: string): any[] {
  return logLines(served).filter((entry) => entry.role === 'primary' && entry.msg === msg);
}

/** A loaded machine compiles the sources (tsx) of three processes slowly. */
const READY_MS = 60_000;
/** A probe without an answer by then is a lost connection. */
const PROBE_TIMEOUT_MS = 5000;
/** How near the kill a probe may be lost: before the primary hears of the worker's death. */
const KILL_INSTANT_MS = 1000;

async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Asks fresh connections until `want` distinct instanceIds answered (bounded). */
async function instanceIds(base: string, want: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < 40 && seen.size < want; i++) {
    const r = await fresh(base, 'GET', '/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.body.instanceId, r.body.data.instanceId);
    seen.add(r.body.instanceId as string);
  }
  return seen;
}

/** `serve` with WORKERS=2, once both workers listen. */
async function twoWorkers(db: TestDatabase): Promise<ServedProcess> {
  const served = await startServe(
    db,
    { WORKERS: '2', LOG_LEVEL: 'info', OM_BOOTSTRAP: '0' },
    READY_MS,
  );
  await until('both workers', () => primaryLog(served, 'listening').length === 1, READY_MS);
  return served;
}

async function organization(testDatabase: TestDatabase) {
  const database = createDatabase(testDatabase.config);
  try {
    await migrateToLatest(database);
    const caller = cliCaller('test');
    const org = await createOrganization(database, caller, { name: 'Cluster', currency: 'SAR' });
    const { secret } = await createApiKey(database, caller, {
      name: 'admin',
      role: 'admin',
      organizations: [org.id],
    });
    return { id: org.id, headers: { 'api-key': secret, 'organization-id': org.id } };
  } finally {
    await database.close();
  }
}

void describe('WORKERS=2', () => {
  void test('two workers answer on one port; one killed -9 is replaced, the port answering throughout', async () => {
    const db = await createTestDatabase();
    try {
      const served = await twoWorkers(db);
      const listening = primaryLog(served, 'worker listening');
      assert.equal(listening.length, 2);
      const before = await instanceIds(served.url, 2);
      assert.equal(before.size, 2, 'two workers, two instanceIds');

      const victim = listening[0].workerPid as number;
      // Probes on fresh connections every 25 ms, each on its own (not waiting for the one
      // before), from before the kill until the replacement listens.
      const probes: { at: number; ok: boolean; why?: string }[] = [];
      const pending: Promise<void>[] = [];
      let probing = true;
      const probe = async (): Promise<void> => {
        const at = Date.now();
        try {
          const r = await fresh(served.url, 'GET', '/healthz', {}, undefined, PROBE_TIMEOUT_MS);
          probes.push({ at, ok: r.status === 200, why: `status ${r.status}` });
        } catch (error) {
          probes.push({ at, ok: false, why: (error as Error).message });
        }
      };
      const prober = (async () => {
        while (probing) {
          pending.push(probe());
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const killedAt = Date.now();
      process.kill(victim, 'SIGKILL');
      await until(
        'the replacement',
        () => primaryLog(served, 'worker listening').length === 3,
        READY_MS,
      );
      const replacedAt = Date.now();
      probing = false;
      await prober;
      await Promise.all(pending);

      // While one worker was down the other answered: every probe sent in that time but
      // those in the instant of the kill. A connection the primary was handing to the
      // victim as it died is lost with it (Node's round robin waits for the worker's
      // acknowledgement, which never comes): its client gets no answer (docs/scaling.md).
      const whileDown = probes.filter((p) => p.at >= killedAt && p.at < replacedAt);
      const failed = probes.filter((p) => !p.ok).map((p) => ({ ...p, at: p.at - killedAt }));
      assert.ok(
        whileDown.filter((p) => p.ok).length >= 5,
        `answered while down: ${whileDown.length}`,
      );
      assert.ok(
        failed.length <= 2 &&
          failed.every((p) => p.at > -KILL_INSTANT_MS && p.at < KILL_INSTANT_MS),
        `probes failed (ms after the kill): ${JSON.stringify(failed)}`,
      );

      const died = primaryLog(served, 'worker died; restarting');
      assert.equal(died.length, 1);
      assert.equal(died[0].workerPid, victim);
      assert.equal(died[0].signal, 'SIGKILL');
      assert.equal(typeof died[0].restartInMs, 'number');
      const replacement = primaryLog(served, 'worker listening')[2];
      assert.equal(replacement.worker, listening[0].worker, 'started again in its slot');
      assert.notEqual(replacement.workerPid, victim);

      const after = await instanceIds(served.url, 2);
      assert.equal(after.size, 2, 'two workers again');
      assert.equal([...after].filter((id) => before.has(id)).length, 1, 'one survivor, one new');
      assert.equal(await served.stop(), 0);
    } finally {
      await db.drop();
    }
  });

  void test('SIGTERM lets requests in flight on every worker finish and commit, then exits 0', async () => {
    const db = await createTestDatabase();
    try {
      const org = await organization(db);
      const served = await twoWorkers(db);
      const method = await fresh(served.url, 'POST', '/v1/om/payment-methods', org.headers, {
        params: { locales: { ar: { name: 'نقد' }, en: { name: 'Cash' } } },
      });
      assert.equal(method.status, 200, JSON.stringify(method.body));
      const order = await fresh(served.url, 'POST', '/v1/om/orders', org.headers, {
        params: { total: 100 },
      });
      assert.equal(order.status, 200, JSON.stringify(order.body));
      const orderId = order.body.data.id as string;

      // Hold the order's lock (SQLite: the write lock) so the payments stay in flight.
      const release = await holdOrderLock(db, org.id, orderId);
      let released = false;
      try {
        const inFlight = [1, 2].map((n) =>
          fresh(served.url, 'POST', '/v1/om/payments', org.headers, {
            params: { orderId, type: 'receipt', methodId: method.body.data.id, amount: n },
          }),
        );
        // In flight: both workers logged the request (and wait for the lock).
        await until(
          'the payments in flight',
          () =>
            logLines(served).filter(
              (e) => e.msg === 'incoming request' && e.req?.url === '/v1/om/payments',
            ).length === 2,
        );
        served.child.kill('SIGTERM');
        await until(
          'the drain',
          () => primaryLog(served, 'shutting down: draining workers').length === 1,
        );
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(served.child.exitCode, null, 'still draining while requests are in flight');
        await release();
        released = true;
        const answers = await Promise.all(inFlight);
        assert.deepEqual(
          answers.map((a) => a.status),
          [200, 200],
        );
        // Both workers had one in flight: round robin gives each new connection the next one.
        assert.equal(new Set(answers.map((a) => a.body.instanceId)).size, 2);
        assert.equal(await served.stop(), 0, 'every worker drained, exit 0');
        assert.equal(primaryLog(served, 'worker stopped').length, 2);
        assert.equal(primaryLog(served, 'worker died; restarting').length, 0);
      } finally {
        if (!released) await release();
      }

      const database = createDatabase(db.config);
      try {
        const stored = await database.db
          .selectFrom('payments')
          .select(['amount_minor'])
          .where('organization_id', '=', org.id)
          .where('order_id', '=', orderId)
          .execute();
        assert.deepEqual(stored.map((p) => Number(p.amount_minor)).sort(), [100, 200]);
      } finally {
        await database.close();
      }
    } finally {
      await db.drop();
    }
  });

  void test('/metrics answers for the whole instance: every worker counted, on any connection', async () => {
    const db = await createTestDatabase();
    try {
      const org = await organization(db);
      const served = await twoWorkers(db);
      // Fresh connections: the primary hands them to the workers in turn.
      const orders = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          fresh(served.url, 'POST', '/v1/om/orders', org.headers, { params: { total: 1 + i } }),
        ),
      );
      assert.deepEqual(
        orders.map((o) => o.status),
        Array(10).fill(200),
      );
      assert.equal(new Set(orders.map((o) => o.body.instanceId)).size, 2, 'both workers wrote');
      // Each scrape reaches one worker; each must count the instance's ten, not its own share.
      for (let scrape = 0; scrape < 4; scrape++) {
        const text = await new Promise<string>((resolve, reject) => {
          http
            .get(`${served.url}/metrics`, { agent: false }, (response) => {
              assert.equal(response.statusCode, 200);
              let body = '';
              response.setEncoding('utf8').on('data', (c: string) => (body += c));
              response.on('end', () => resolve(body));
            })
            .on('error', reject);
        });
        const created = text
          .split('\n')
          .filter(
            (line) =>
              line.startsWith('om_http_request_duration_seconds_count{') &&
              line.includes('route="/v1/om/orders"') &&
              line.includes('method="POST"') &&
              line.includes('status_code="200"'),
          )
          .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
        assert.deepEqual(created, [10], `scrape ${scrape}`);
        assert.match(text, /^om_events_feed_waiters 0$/m, 'a gauge summed over the workers');
      }
      assert.equal(await served.stop(), 0);
    } finally {
      await db.drop();
    }
  });

  void test('settings: WORKERS=auto is one per core; a pool budget too small for the workers is refused', () => {
    const pgUrl = 'postgres://u@127.0.0.1:5432/d';
    const auto = loadConfig({ WORKERS: 'auto', DATABASE_URL: pgUrl, PG_POOL_SIZE: '64' });
    assert.ok(auto.workers >= 1);
    const two = loadConfig({ WORKERS: '2', DATABASE_URL: pgUrl, PG_POOL_SIZE: '11' });
    assert.equal(two.workers, 2);
    assert.deepEqual(two.database, { engine: 'postgres', url: pgUrl, poolSize: 5 });
    assert.equal(loadConfig({}).workers, 1);
    assert.throws(
      () => loadConfig({ WORKERS: '4', DATABASE_URL: pgUrl, PG_POOL_SIZE: '3' }),
      /PG_POOL_SIZE >= 4/,
    );
    assert.throws(() => loadConfig({ WORKERS: '2', DATABASE_URL: 'sqlite::memory:' }), /memory/);
    for (const bad of ['0', '-1', 'two', '1.5', '65'])
      assert.throws(() => loadConfig({ WORKERS: bad }), /WORKERS/);
  });
});

/** Takes the lock a payment on the order needs, from outside the service; resolves a release. */
async function holdOrderLock(
  db: TestDatabase,
  organizationId: string,
  orderId: string,
): Promise<() => Promise<void>> {
  if (TEST_ENGINE === 'sqlite') {
    if (db.config.engine !== 'sqlite') throw new Error('unreachable');
    const handle = new SQLite(db.config.file);
    handle.exec('begin immediate');
    return async () => {
      handle.exec('commit');
      handle.close();
    };
  }
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query('begin');
  await client.query('select id from orders where organization_id = $1 and id = $2 for update', [
    organizationId,
    orderId,
  ]);
  return async () => {
    await client.query('commit');
    await client.end();
  };
}
