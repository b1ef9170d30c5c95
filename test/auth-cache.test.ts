// Authentication answers kept between requests (src/api-keys/auth-cache.ts) and forgotten on
// every change: PostgreSQL announces changes (src/api-keys/auth-invalidation.ts, migration
// 0005), SQLite counts them (migration 0008) and the cache reads the count before every use.
// The cache's rules are pure and tested on every engine; each engine's way of learning of
// changes is tested on it against a real server, with a second connection standing for
// another process (the CLI, an operator).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { AuthCache } from '../src/api-keys/auth-cache.ts';
import { createDatabase, type Database } from '../src/db/engine.ts';
import { nowIso } from '../src/shared/ids.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';
import { TEST_ENGINE } from './support/database.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

void describe('AuthCache', () => {
  const make = (ttl = 1000, max = 3) => {
    let now = 0;
    const cache = new AuthCache<string>(ttl, max, { now: () => now });
    cache.setEnabled(true);
    return { cache, at: (t: number) => (now = t) };
  };

  void test('keeps an answer until it expires', () => {
    const { cache, at } = make();
    cache.set(cache.token(), 'k', 'v');
    at(999);
    assert.equal(cache.get('k'), 'v');
    at(1000);
    assert.equal(cache.get('k'), undefined);
  });

  void test('a change forgets every answer, and answers read while it came are not kept', () => {
    const { cache } = make();
    cache.set(cache.token(), 'a', 'old');
    const token = cache.token(); // a read begins …
    cache.invalidate(); // … a change is announced …
    cache.set(token, 'b', 'read before the change'); // … the read's answer arrives
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.get('b'), undefined);
    cache.set(cache.token(), 'b', 'new');
    assert.equal(cache.get('b'), 'new');
  });

  void test('off: serves and keeps nothing; switching either way starts empty', () => {
    const { cache } = make();
    cache.set(cache.token(), 'a', 'v');
    cache.setEnabled(false);
    assert.equal(cache.get('a'), undefined);
    cache.set(cache.token(), 'a', 'v');
    cache.setEnabled(true);
    assert.equal(cache.get('a'), undefined, 'nothing kept while off');
    const token = cache.token();
    cache.setEnabled(true);
    cache.set(token, 'a', 'v');
    assert.equal(cache.get('a'), undefined, 'a read from before switching on is not kept');
  });

  void test('counted: a count that moved forgets every answer, and answers read before it', () => {
    const { cache } = make();
    cache.observe(7);
    cache.set(cache.token(), 'a', 'v');
    cache.observe(7);
    assert.equal(cache.get('a'), 'v', 'the same count keeps answers');
    const token = cache.token(); // a read begins …
    cache.observe(8); // … another request finds the count moved …
    cache.set(token, 'b', 'read before the change'); // … the read's answer arrives
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.get('b'), undefined);
    cache.set(cache.token(), 'b', 'new');
    cache.observe(8);
    assert.equal(cache.get('b'), 'new');
  });

  void test('bounded: the oldest answer goes first', () => {
    const { cache } = make(1000, 2);
    for (const k of ['a', 'b', 'c']) cache.set(cache.token(), k, k);
    assert.deepEqual(
      ['a', 'b', 'c'].map((k) => cache.get(k)),
      [undefined, 'b', 'c'],
    );
  });
});

type Role = 'cashier' | 'manager' | 'viewer' | 'admin';

/**
 * The app under test, and a second connection to its database standing for another process
 * (the CLI, an operator); `ready` runs once both are up.
 */
function appAndAnotherConnection(ready: () => Promise<void> = async () => {}) {
  const s = {} as { t: TestApp; other: Database };
  before(async () => {
    s.t = await startTestApp({ rateLimitPerMinute: 0 });
    s.other = createDatabase(s.t.config.database);
    await ready();
  });
  after(async () => {
    await s.other.close();
    await s.t.close();
  });
  return s;
}

/** The answer's status to a GET with `org`'s key of `role`. */
const statusOf = async (t: TestApp, org: TestOrg, role: Role = 'cashier') =>
  (await t.call(org, role, { method: 'GET', url: '/v1/om/orders' })).statusCode;

if (TEST_ENGINE === 'postgres') {
  void describe('authentication kept between requests, forgotten on every change (postgres)', () => {
    let org: TestOrg;
    const s = appAndAnotherConnection(() => waitForListener(true));
    const status = (role?: Role) => statusOf(s.t, org, role);
    const listeners = async () =>
      (
        await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
          where application_name = 'om-auth-listener' and datname = current_database()
          and state = 'idle' and query = 'listen om_auth'`.execute(s.other.db)
      ).rows[0]!.n;
    const waitForListener = async (up: boolean) => {
      for (let i = 0; i < 100 && (await listeners()) > 0 !== up; i++) await sleep(50);
      assert.equal((await listeners()) > 0, up);
    };
    /** Revokes `org`'s key of `role` by SQL, as another process would. */
    const revokeElsewhere = (role: string) =>
      sql`update api_keys set revoked_at = ${nowIso()} where role = ${role} and id in
        (select api_key_id from api_key_organizations where organization_id = ${org.id})`.execute(
        s.other.db,
      );
    /** Changes made while this is on announce nothing: what the cache keeps then shows. */
    const silently = async (fn: () => Promise<unknown>) => {
      await sql`alter table api_keys disable trigger api_keys_announce_auth_change`.execute(
        s.other.db,
      );
      try {
        await fn();
      } finally {
        await sql`alter table api_keys enable trigger api_keys_announce_auth_change`.execute(
          s.other.db,
        );
      }
    };

    void test('an answer is kept: a change nobody announces is not seen until one is', async () => {
      org = await s.t.createOrg();
      await sleep(100); // the notices of the organization's creation are heard
      assert.equal(await status(), 200);
      await silently(() => revokeElsewhere('cashier'));
      assert.equal(await status(), 200, 'served from the cache');
      await sql`select pg_notify('om_auth', '')`.execute(s.other.db);
      await sleep(100);
      assert.equal(await status(), 401);
    });

    void test('a key revoked by another process is refused as soon as the notice arrives', async () => {
      org = await s.t.createOrg();
      assert.equal(await status(), 200);
      const revoked = performance.now();
      await revokeElsewhere('cashier');
      let refused = false;
      while (!refused && performance.now() - revoked < 2000) refused = (await status()) === 401;
      assert.ok(refused, 'refused within 2 s');
      assert.equal(await status(), 401);
    });

    void test("a key revoked through this instance's admin API is refused by the very next request", async () => {
      org = await s.t.createOrg();
      assert.equal(await status('viewer'), 200);
      const admin = { 'api-key': s.t.rootKey, 'organization-id': org.id };
      const keys = json(
        await s.t.app.inject({
          method: 'GET',
          url: '/v1/admin/api-keys?limit=100',
          headers: admin,
        }),
      );
      const items = keys.data.items as { id: string; name: string; organizations: unknown }[];
      const viewer = items.find(
        (k) =>
          k.name === 'viewer key' &&
          Array.isArray(k.organizations) &&
          k.organizations.includes(org.id),
      );
      assert.ok(viewer);
      // Announced by no notice: only this instance's own forgetting can refuse it.
      await silently(async () => {
        const revoke = await s.t.app.inject({
          method: 'PATCH',
          url: `/v1/admin/api-keys/${viewer.id}/revoke`,
          headers: admin,
        });
        assert.equal(revoke.statusCode, 200);
        assert.equal(await status('viewer'), 401);
      });
    });

    void test('while nobody listens nothing is served from the cache; listening resumes', async () => {
      org = await s.t.createOrg();
      assert.equal(await status('manager'), 200);
      await sql`select pg_terminate_backend(pid) from pg_stat_activity
        where application_name = 'om-auth-listener' and datname = current_database()`.execute(
        s.other.db,
      );
      await sleep(100);
      await silently(() => revokeElsewhere('manager'));
      assert.equal(await status('manager'), 401, 'read from the database');
      await waitForListener(true);
    });

    void test('after a reconnect, changes are heard again', async () => {
      org = await s.t.createOrg();
      for (let round = 0; round < 2; round++) {
        await sql`select pg_terminate_backend(pid) from pg_stat_activity
          where application_name = 'om-auth-listener' and datname = current_database()`.execute(
          s.other.db,
        );
        await waitForListener(false);
        await waitForListener(true);
      }
      // Kept again (the cache is on) …
      const role = 'viewer';
      assert.equal(await status(role), 200);
      await silently(() => revokeElsewhere(role));
      assert.equal(await status(role), 200, 'served from the cache once listening again');
      // … and a notice on the new connection is heard.
      await sql`select pg_notify('om_auth', '')`.execute(s.other.db);
      let refused = false;
      for (let i = 0; i < 40 && !refused; i++) {
        refused = (await status(role)) === 401;
        if (!refused) await sleep(50);
      }
      assert.ok(refused, 'the notice after the reconnect was heard');
    });
  });
}

if (TEST_ENGINE === 'sqlite') {
  void describe('authentication kept between requests, forgotten on every change (sqlite)', () => {
    let org: TestOrg;
    const s = appAndAnotherConnection();
    const status = (role?: Role) => statusOf(s.t, org, role);
    const keyIds = (role: string) => sql`select id from api_keys where role = ${role} and id in
      (select api_key_id from api_key_organizations where organization_id = ${org.id})`;

    void test('an answer is kept: a change the count does not show is not seen until it moves', async () => {
      org = await s.t.createOrg();
      assert.equal(await status(), 200);
      await s.other.transaction(async (tx) => {
        await sql`update api_keys set revoked_at = ${nowIso()}
          where id in (${keyIds('cashier')})`.execute(tx);
        // Hide the change: put the count back where the service last read it.
        await sql`update auth_changes set version = version - 1`.execute(tx);
      });
      assert.equal(await status(), 200, 'served from the cache');
      await sql`update auth_changes set version = version + 1`.execute(s.other.db);
      assert.equal(await status(), 401);
    });

    void test('a key revoked by another process is refused by the very next request', async () => {
      org = await s.t.createOrg();
      assert.equal(await status('manager'), 200);
      await sql`update api_keys set revoked_at = ${nowIso()}
        where id in (${keyIds('manager')})`.execute(s.other.db);
      assert.equal(await status('manager'), 401);
    });

    void test('a key taken off an organization by another process is refused at once', async () => {
      org = await s.t.createOrg();
      assert.equal(await status('viewer'), 200);
      await sql`delete from api_key_organizations
        where organization_id = ${org.id} and api_key_id in (${keyIds('viewer')})`.execute(
        s.other.db,
      );
      assert.equal(await status('viewer'), 403);
    });
  });
}
