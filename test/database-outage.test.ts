// API.md §1: when the database is unreachable the service answers 503 with Retry-After —
// never a hang or a bare 500 — changes nothing, and recovers by itself when it returns.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import SQLite from 'better-sqlite3';
import { TEST_ENGINE } from './support/database.ts';
import { json, startTestApp, type TestApp } from './support/app.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';

const LOCK_WAIT_MS = 300;

void describe(`database outage (${TEST_ENGINE})`, () => {
  let t: TestApp;
  let proxy: TcpProxy | undefined;
  let holder: SQLite.Database | undefined;

  before(async () => {
    if (TEST_ENGINE === 'postgres') {
      const target = new URL(process.env.TEST_DATABASE_URL!);
      proxy = await startTcpProxy(target.hostname, Number(target.port));
      t = await startTestApp({}, (db) => {
        if (db.config.engine !== 'postgres') throw new Error('expected postgres');
        const url = new URL(db.config.url);
        url.host = `127.0.0.1:${proxy!.port}`;
        return { ...db.config, url: url.toString() };
      });
    } else {
      t = await startTestApp({}, (db) => ({
        ...(db.config as { engine: 'sqlite'; file: string }),
        lockWaitMs: LOCK_WAIT_MS,
      }));
    }
  });
  after(async () => {
    holder?.close();
    await t.close();
    await proxy?.close();
  });

  /** Makes the database unreachable the way each engine can really be. */
  async function outage(): Promise<void> {
    if (proxy !== undefined) return proxy.cut();
    // SQLite: another process holds the write lock longer than our busy timeout.
    const file = (t.config.database as { file: string }).file;
    holder = new SQLite(file);
    holder.exec('begin immediate');
  }
  async function recover(): Promise<void> {
    if (proxy !== undefined) return proxy.restore();
    holder!.exec('rollback');
    holder!.close();
    holder = undefined;
  }

  const createOrg = (name: string) =>
    t.app.inject({
      method: 'POST',
      url: '/v1/admin/organizations',
      headers: { 'api-key': t.rootKey },
      payload: { params: { name, currency: 'SAR' } },
    });

  async function organizationNames(): Promise<string[]> {
    const list = await t.app.inject({
      method: 'GET',
      url: '/v1/admin/organizations?limit=100',
      headers: { 'api-key': t.rootKey },
    });
    assert.equal(list.statusCode, 200, list.body);
    return json(list).data.items.map((o: any) => o.name);
  }

  void test('503 with Retry-After during the outage, recovery without restart', async () => {
    assert.equal((await createOrg('before')).statusCode, 200);
    await outage();
    try {
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const r = await createOrg(`during-${i}`);
        const elapsed = Date.now() - started;
        assert.equal(r.statusCode, 503, r.body);
        assert.equal(r.headers['retry-after'], String(t.config.retryAfterSeconds));
        const body = json(r);
        assert.deepEqual(Object.keys(body).sort(), ['error', 'requestId']);
        assert.equal(body.error.code, 'SERVICE_UNAVAILABLE');
        assert.doesNotMatch(r.body, /ECONN|SQLITE|terminated|stack/i);
        assert.ok(elapsed < 10_000, `answered in ${elapsed} ms, not a hang`);
      }
      if (TEST_ENGINE === 'postgres') {
        // Nothing at all reaches the database: reads and auth fail the same way.
        const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(ready.statusCode, 503);
        assert.equal(json(ready).error.code, 'SERVICE_UNAVAILABLE');
      }
      const health = await t.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 200, 'the process itself stays up');
      // /metrics counts the webhook backlog in the database at each scrape: without the
      // database it still answers, the backlog unknown (NaN) rather than a made-up 0.
      const started = Date.now();
      const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(metrics.statusCode, 200, metrics.body);
      assert.ok(Date.now() - started < 5000, 'the scrape is not held by the database');
      assert.match(metrics.body, /^process_cpu_seconds_total /m);
      if (TEST_ENGINE === 'postgres') {
        // prom-client writes NaN as `Nan`; Prometheus reads floats case-insensitively.
        assert.match(metrics.body, /^om_webhook_deliveries_pending\{state="due"\} NaN$/im);
      }
    } finally {
      await recover();
    }
    // Recovery by itself: the very next requests succeed.
    let recovered = false;
    for (let i = 0; i < 50 && !recovered; i++) {
      recovered = (await createOrg('after')).statusCode === 200;
      if (!recovered) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(recovered, 'the service recovered once the database returned');
    assert.equal((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    const names = await organizationNames();
    assert.ok(names.includes('before') && names.includes('after'));
    assert.equal(
      names.filter((n) => n.startsWith('during')).length,
      0,
      'failed requests stored nothing',
    );
  });
});
