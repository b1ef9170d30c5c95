// API.md §3.1: organizations and api keys through the admin HTTP API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

void describe('admin API', () => {
  let t: TestApp;
  let org: TestOrg;

  before(async () => {
    t = await startTestApp();
    org = await t.createOrg('SAR');
  });
  after(() => t.close());

  const admin = (key: string, method: 'GET' | 'POST' | 'PATCH', url: string, params?: object) =>
    t.app.inject({
      method,
      url: `/v1/admin${url}`,
      headers: { 'api-key': key },
      ...(params && { payload: { params } }),
    });

  void test('create an organization; the currency fixes the exponent; audit fields from the key', async () => {
    for (const [currency, exponent] of [
      ['KWD', 3],
      ['SAR', 2],
      ['JPY', 0],
    ] as const) {
      const created = await admin(t.rootKey, 'POST', '/organizations', {
        name: `Shop ${currency}`,
        currency,
      });
      assert.equal(created.statusCode, 200, created.body);
      const { id } = json(created).data;
      assert.deepEqual(Object.keys(json(created).data), ['id']);
      const got = json(await admin(t.rootKey, 'GET', `/organizations/${id}`)).data.organization;
      assert.equal(got.currency, currency);
      assert.equal(got.currencyExponent, exponent);
      assert.equal(got.settings.maxPaymentsPerOrder, 100);
      assert.equal(got.settings.timeZone, 'Asia/Riyadh');
      assert.equal(got.createdBy, 'root');
      assert.equal(got.createdVia, 'api');
      assert.match(got.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
  });

  void test('unknown or lowercase currencies are InvalidParameter', async () => {
    for (const currency of ['XYZ', 'sar', 'SA', 'SARR']) {
      const r = await admin(t.rootKey, 'POST', '/organizations', { name: 'Bad', currency });
      assert.equal(r.statusCode, 400, currency);
      assert.equal(json(r).error.code, 'InvalidParameter');
      assert.equal(json(r).error.details.field, 'currency');
    }
  });

  void test('the time zone is an IANA name, stored in its canonical spelling', async () => {
    const created = await admin(t.rootKey, 'POST', '/organizations', {
      name: 'Berlin shop',
      currency: 'EUR',
      timeZone: 'europe/berlin',
    });
    assert.equal(created.statusCode, 200, created.body);
    const { id } = json(created).data;
    const got = () => admin(t.rootKey, 'GET', `/organizations/${id}`);
    assert.equal(json(await got()).data.organization.settings.timeZone, 'Europe/Berlin');
    const changed = await admin(t.rootKey, 'PATCH', `/organizations/${id}`, {
      timeZone: 'Asia/Kuwait',
    });
    assert.equal(changed.statusCode, 200, changed.body);
    assert.equal(json(await got()).data.organization.settings.timeZone, 'Asia/Kuwait');
    for (const timeZone of ['Mars/Olympus', '+03:00', 'GMT+3', '', 'Asia/../etc', 3]) {
      for (const [method, path, body] of [
        ['POST', '/organizations', { name: 'Bad', currency: 'SAR', timeZone }],
        ['PATCH', `/organizations/${id}`, { timeZone }],
      ] as const) {
        const r = await admin(t.rootKey, method, path, body);
        assert.equal(r.statusCode, 400, `${method} ${String(timeZone)}: ${r.body}`);
        assert.equal(json(r).error.code, 'InvalidParameter');
        assert.equal(json(r).error.details.field, 'timeZone');
      }
    }
    // Nothing changed by the refused requests.
    assert.equal(json(await got()).data.organization.settings.timeZone, 'Asia/Kuwait');
  });

  void test('settings can change, the currency cannot', async () => {
    const r = await admin(t.rootKey, 'PATCH', `/organizations/${org.id}`, {
      maxPaymentsPerOrder: 5,
      name: 'Renamed',
    });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(json(r).data, { success: true });
    const got = json(await admin(t.rootKey, 'GET', `/organizations/${org.id}`)).data.organization;
    assert.equal(got.settings.maxPaymentsPerOrder, 5);
    assert.equal(got.name, 'Renamed');
    const currency = await admin(t.rootKey, 'PATCH', `/organizations/${org.id}`, {
      currency: 'USD',
    });
    assert.equal(json(currency).error.details.field, 'currency');
    assert.equal(json(currency).error.details.reason, 'unknown property');
  });

  void test('organizations page newest first without skips or repeats', async () => {
    const fresh = await startTestApp();
    try {
      const made: string[] = [];
      for (let i = 0; i < 25; i++) {
        made.push(
          json(
            await fresh.app.inject({
              method: 'POST',
              url: '/v1/admin/organizations',
              headers: { 'api-key': fresh.rootKey },
              payload: { params: { name: `o${i}`, currency: 'SAR' } },
            }),
          ).data.id,
        );
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: any = json(
          await fresh.app.inject({
            method: 'GET',
            url: `/v1/admin/organizations?limit=7${cursor ? `&cursor=${cursor}` : ''}`,
            headers: { 'api-key': fresh.rootKey },
          }),
        ).data;
        assert.ok(page.items.length <= 7);
        seen.push(...page.items.map((o: any) => o.id));
        cursor = page.next;
        pages++;
      } while (cursor !== null && pages < 10);
      assert.equal(pages, 4);
      assert.deepEqual(seen, [...made].reverse());
      for (const bad of ['limit=0', 'limit=101', 'limit=abc', 'cursor=%%%', 'cursor=bm9wZQ']) {
        const r = await fresh.app.inject({
          method: 'GET',
          url: `/v1/admin/organizations?${bad}`,
          headers: { 'api-key': fresh.rootKey },
        });
        assert.equal(r.statusCode, 400, bad);
        assert.equal(json(r).error.code, 'InvalidParameter');
      }
    } finally {
      await fresh.close();
    }
  });

  void test('issue a key: the secret is shown once, works at once, and is stored only as a hash', async () => {
    const created = await admin(t.rootKey, 'POST', '/api-keys', {
      name: 'till 1',
      role: 'cashier',
      organizations: [org.id],
      principal: 'till-1',
      via: 'pos',
    });
    assert.equal(created.statusCode, 200, created.body);
    const { id, secret, apiKey } = json(created).data;
    assert.match(secret, /^omk_[A-Za-z0-9_-]{32}$/);
    assert.equal(apiKey.id, id);
    assert.deepEqual(apiKey.organizations, [org.id]);
    assert.equal(apiKey.role, 'cashier');
    assert.equal(apiKey.principal, 'till-1');
    assert.equal(apiKey.via, 'pos');
    assert.equal(apiKey.revokedAt, null);
    assert.ok(secret.startsWith(apiKey.secretPrefix));

    const use = await t.app.inject({
      method: 'GET',
      url: '/v1/om/organization',
      headers: { 'api-key': secret, 'organization-id': org.id },
    });
    assert.equal(use.statusCode, 200);

    const again = await admin(t.rootKey, 'GET', `/api-keys/${id}`);
    assert.ok(!again.body.includes(secret), 'the secret is never shown again');
    const list = await admin(t.rootKey, 'GET', '/api-keys?limit=100');
    assert.ok(!list.body.includes(secret));
    assert.ok(json(list).data.items.some((k: any) => k.id === id));

    const stored = await t.database.db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    assert.ok(!JSON.stringify(stored).includes(secret), 'no column holds the secret');
    assert.match(stored.secret_hash, /^[0-9a-f]{64}$/);
  });

  void test('revoke: 401 at once; revoking again is a no-op; unknown id 404', async () => {
    const { id, secret } = json(
      await admin(t.rootKey, 'POST', '/api-keys', {
        name: 'temp',
        role: 'viewer',
        organizations: [org.id],
      }),
    ).data;
    const r = await admin(t.rootKey, 'PATCH', `/api-keys/${id}/revoke`);
    assert.deepEqual(json(r).data, { success: true });
    const first = json(await admin(t.rootKey, 'GET', `/api-keys/${id}`)).data.apiKey.revokedAt;
    assert.ok(first);
    assert.equal((await admin(t.rootKey, 'PATCH', `/api-keys/${id}/revoke`)).statusCode, 200);
    assert.equal(
      json(await admin(t.rootKey, 'GET', `/api-keys/${id}`)).data.apiKey.revokedAt,
      first,
    );
    const use = await t.app.inject({
      method: 'GET',
      url: '/v1/om/organization',
      headers: { 'api-key': secret, 'organization-id': org.id },
    });
    assert.equal(use.statusCode, 401);
    assert.equal((await admin(t.rootKey, 'PATCH', '/api-keys/nope/revoke')).statusCode, 404);
  });

  void test('an admin key of one organization manages only that organization', async () => {
    const other = await t.createOrg('KWD');
    const scoped = org.keys.admin;
    // It cannot create organizations or all-organization keys.
    assert.equal(
      (await admin(scoped, 'POST', '/organizations', { name: 'X', currency: 'SAR' })).statusCode,
      403,
    );
    assert.equal(
      (
        await admin(scoped, 'POST', '/api-keys', {
          name: 'X',
          role: 'viewer',
          organizations: 'all',
        })
      ).statusCode,
      403,
    );
    // A foreign organization looks exactly like a missing one.
    const foreign = await admin(scoped, 'POST', '/api-keys', {
      name: 'X',
      role: 'viewer',
      organizations: [other.id],
    });
    const missing = await admin(scoped, 'POST', '/api-keys', {
      name: 'X',
      role: 'viewer',
      organizations: ['01900000-0000-7000-8000-000000000000'],
    });
    assert.equal(foreign.statusCode, 400);
    assert.deepEqual(json(foreign).error.details.reason, json(missing).error.details.reason);
    assert.equal((await admin(scoped, 'GET', `/organizations/${other.id}`)).statusCode, 404);
    assert.equal(
      (await admin(scoped, 'PATCH', `/organizations/${other.id}`, { name: 'hijack' })).statusCode,
      404,
    );
    // Listings show only its own organization and keys confined to it.
    const orgs = json(await admin(scoped, 'GET', '/organizations?limit=100')).data.items.map(
      (o: any) => o.id,
    );
    assert.deepEqual(orgs, [org.id]);
    const keys = json(await admin(scoped, 'GET', '/api-keys?limit=100')).data.items;
    assert.ok(keys.length >= 4);
    for (const k of keys) assert.deepEqual(k.organizations, [org.id]);
    // It can issue keys for its own organization, and cannot revoke another's.
    assert.equal(
      (
        await admin(scoped, 'POST', '/api-keys', {
          name: 'own',
          role: 'cashier',
          organizations: [org.id],
        })
      ).statusCode,
      200,
    );
    const otherKeyId = json(await admin(t.rootKey, 'GET', '/api-keys?limit=100')).data.items.find(
      (k: any) => Array.isArray(k.organizations) && k.organizations.includes(other.id),
    ).id;
    assert.equal((await admin(scoped, 'PATCH', `/api-keys/${otherKeyId}/revoke`)).statusCode, 404);
    assert.equal(
      json(await admin(t.rootKey, 'GET', `/api-keys/${otherKeyId}`)).data.apiKey.revokedAt,
      null,
    );
  });

  void test('invalid key requests change nothing', async () => {
    const before = json(await admin(t.rootKey, 'GET', '/api-keys?limit=100')).data.items.length;
    for (const params of [
      { name: 'x', role: 'owner', organizations: [org.id] },
      { name: 'x', role: 'viewer', organizations: [] },
      { name: 'x', role: 'viewer' },
      { name: 'x', role: 'viewer', organizations: [org.id], via: 'Has Space' },
      { name: '', role: 'viewer', organizations: [org.id] },
    ]) {
      const r = await admin(t.rootKey, 'POST', '/api-keys', params);
      assert.equal(r.statusCode, 400, JSON.stringify(params));
      assert.equal(json(r).error.code, 'InvalidParameter');
    }
    assert.equal(
      json(await admin(t.rootKey, 'GET', '/api-keys?limit=100')).data.items.length,
      before,
    );
  });
});
