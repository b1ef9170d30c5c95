// API.md §1 wire conventions, on the engine under test: auth, envelopes, request ids, body
// rules. Every error status the foundation can produce is checked for the error envelope.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

const ENVELOPE_KEYS = ['app', 'data', 'instanceId', 'requestId', 'service', 'warnings'];

function assertErrorEnvelope(
  response: { statusCode: number; body: string; headers: Record<string, unknown> },
  status: number,
  code: string,
): any {
  assert.equal(response.statusCode, status, response.body);
  const body = JSON.parse(response.body);
  assert.deepEqual(Object.keys(body).sort(), ['error', 'requestId']);
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.equal(body.requestId, response.headers['x-request-id']);
  // Never internals: no stack frames, SQL or driver text.
  assert.doesNotMatch(response.body, /at .*\.ts:\d+|node_modules|select |insert |SQLITE|postgres/i);
  return body;
}

void describe('HTTP conventions', () => {
  let t: TestApp;
  let org: TestOrg;
  let other: TestOrg;

  before(async () => {
    t = await startTestApp();
    org = await t.createOrg('SAR');
    other = await t.createOrg('KWD');
  });
  after(() => t.close());

  void test('success envelope has all six fields', async () => {
    const response = await t.call(org, 'viewer', { method: 'GET', url: '/v1/om/organization' });
    assert.equal(response.statusCode, 200);
    const body = json(response);
    assert.deepEqual(Object.keys(body).sort(), ENVELOPE_KEYS);
    assert.equal(body.app, 'om-payments');
    assert.equal(body.service, 'om');
    assert.deepEqual(body.warnings, []);
    assert.match(body.instanceId, /^[0-9a-f-]{36}$/);
    assert.equal(body.requestId, response.headers['x-request-id']);
    assert.equal(body.data.organization.id, org.id);
    assert.equal(body.data.organization.currency, 'SAR');
    assert.equal(body.data.organization.currencyExponent, 2);
  });

  void test('instanceId is stable across requests of one process', async () => {
    const a = json(await t.app.inject({ method: 'GET', url: '/healthz' }));
    const b = json(await t.app.inject({ method: 'GET', url: '/healthz' }));
    assert.equal(a.instanceId, b.instanceId);
    assert.notEqual(a.requestId, b.requestId);
  });

  void test('a sane x-request-id is echoed; an unsafe one is replaced', async () => {
    const sane = 'till-7:order.42_abc';
    const r1 = await t.call(org, 'viewer', {
      method: 'GET',
      url: '/v1/om/organization',
      headers: { 'x-request-id': sane },
    });
    assert.equal(r1.headers['x-request-id'], sane);
    assert.equal(json(r1).requestId, sane);
    for (const bad of ['has space', 'x'.repeat(129), 'semi;colon', '<script>']) {
      const r = await t.call(org, 'viewer', {
        method: 'GET',
        url: '/v1/om/organization',
        headers: { 'x-request-id': bad },
      });
      assert.notEqual(r.headers['x-request-id'], bad);
      assert.match(String(r.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      assert.equal(json(r).requestId, r.headers['x-request-id']);
    }
    // Error responses echo it too.
    const r2 = await t.app.inject({
      method: 'GET',
      url: '/v1/om/organization',
      headers: { 'x-request-id': sane },
    });
    assert.equal(assertErrorEnvelope(r2, 401, 'UNAUTHORIZED').requestId, sane);
  });

  void test('missing, unknown and revoked keys: 401 with one identical body', async () => {
    const revoked = await t.app.inject({
      method: 'POST',
      url: '/v1/admin/api-keys',
      headers: { 'api-key': t.rootKey },
      payload: { params: { name: 'soon revoked', role: 'viewer', organizations: [org.id] } },
    });
    const { id, secret } = json(revoked).data;
    const revoke = await t.app.inject({
      method: 'PATCH',
      url: `/v1/admin/api-keys/${id}/revoke`,
      headers: { 'api-key': t.rootKey },
    });
    assert.equal(revoke.statusCode, 200, revoke.body);

    const cases: Record<string, string | undefined> = {
      missing: undefined,
      empty: '',
      unknown: 'omk_thisisnotakeythisisnotakey00000',
      malformed: 'hello',
      revoked: secret,
    };
    const bodies = new Set<string>();
    for (const [name, key] of Object.entries(cases)) {
      for (const url of ['/v1/om/organization', '/v1/admin/organizations']) {
        const headers: Record<string, string> = {
          'organization-id': org.id,
          'x-request-id': 'same-id',
        };
        if (key !== undefined) headers['api-key'] = key;
        const r = await t.app.inject({ method: 'GET', url, headers });
        assertErrorEnvelope(r, 401, 'UNAUTHORIZED');
        bodies.add(r.body);
        assert.ok(r.body.length > 0, name);
      }
    }
    assert.equal(bodies.size, 1, [...bodies].join('\n'));
  });

  void test('missing organization-id is 400 InvalidParameter naming the header', async () => {
    const r = await t.app.inject({
      method: 'GET',
      url: '/v1/om/organization',
      headers: { 'api-key': org.keys.viewer },
    });
    const body = assertErrorEnvelope(r, 400, 'InvalidParameter');
    assert.equal(body.error.details.field, 'organization-id');
  });

  void test('a key not allowed for the organization is 403, same as a nonexistent organization', async () => {
    const foreign = await t.app.inject({
      method: 'GET',
      url: '/v1/om/organization',
      headers: { 'api-key': org.keys.admin, 'organization-id': other.id },
    });
    const missing = await t.app.inject({
      method: 'GET',
      url: '/v1/om/organization',
      headers: {
        'api-key': org.keys.admin,
        'organization-id': '01900000-0000-7000-8000-000000000000',
      },
    });
    const a = assertErrorEnvelope(foreign, 403, 'FORBIDDEN');
    const b = assertErrorEnvelope(missing, 403, 'FORBIDDEN');
    assert.deepEqual(a.error, b.error);
  });

  void test('admin API needs the admin role: lower roles are 403', async () => {
    for (const role of ['viewer', 'cashier', 'manager'] as const) {
      const r = await t.app.inject({
        method: 'GET',
        url: '/v1/admin/organizations',
        headers: { 'api-key': org.keys[role] },
      });
      assertErrorEnvelope(r, 403, 'FORBIDDEN');
    }
    const ok = await t.app.inject({
      method: 'GET',
      url: '/v1/admin/organizations',
      headers: { 'api-key': org.keys.admin },
    });
    assert.equal(ok.statusCode, 200);
  });

  void test('unknown properties are rejected, at either level of the body', async () => {
    for (const payload of [
      { params: { name: 'X', currency: 'SAR', extra: 1 } },
      { params: { name: 'X', currency: 'SAR' }, extra: 1 },
      { params: { name: 'X', currency: 'SAR', organizationId: org.id } },
    ]) {
      const r = await t.app.inject({
        method: 'POST',
        url: '/v1/admin/organizations',
        headers: { 'api-key': t.rootKey },
        payload,
      });
      const body = assertErrorEnvelope(r, 400, 'InvalidParameter');
      assert.equal(body.error.details.reason, 'unknown property');
    }
  });

  void test('body types are never coerced', async () => {
    const cases: [unknown, string][] = [
      [{ params: { name: 'X', currency: 'SAR', maxPaymentsPerOrder: '5' } }, 'maxPaymentsPerOrder'],
      [{ params: { name: 5, currency: 'SAR' } }, 'name'],
      [
        { params: { name: 'X', currency: 'SAR', maxPaymentsPerOrder: true } },
        'maxPaymentsPerOrder',
      ],
      [{ params: { name: 'X', currency: 'SAR', maxPaymentsPerOrder: 5.5 } }, 'maxPaymentsPerOrder'],
      [{ params: { name: 'X' } }, 'currency'],
      [{ params: 'x' }, 'params'],
      [{}, 'params'],
      [[], 'body'],
    ];
    for (const [payload, field] of cases) {
      const r = await t.app.inject({
        method: 'POST',
        url: '/v1/admin/organizations',
        headers: { 'api-key': t.rootKey },
        payload: payload as object,
      });
      const body = assertErrorEnvelope(r, 400, 'InvalidParameter');
      assert.equal(body.error.details.field, field, JSON.stringify(payload));
    }
    const list = json(
      await t.app.inject({
        method: 'GET',
        url: '/v1/admin/organizations?limit=100',
        headers: { 'api-key': t.rootKey },
      }),
    );
    assert.equal(
      list.data.items.filter((o: any) => o.name === 'X').length,
      0,
      'nothing was stored',
    );
  });

  void test('malformed JSON, empty JSON body and prototype pollution are 400', async () => {
    for (const payload of [
      '{"params":',
      '',
      '{"params":{"name":"X","currency":"SAR","__proto__":{"a":1}}}',
    ]) {
      const r = await t.app.inject({
        method: 'POST',
        url: '/v1/admin/organizations',
        headers: { 'api-key': t.rootKey, 'content-type': 'application/json' },
        payload,
      });
      assertErrorEnvelope(r, 400, 'InvalidParameter');
    }
  });

  void test('odd requests a client can send are 4xx in the envelope, never 500', async () => {
    const H = { 'api-key': t.rootKey, 'content-type': 'application/json' };
    const cases: [string, string, string | undefined, number, string][] = [
      ['GET', `/v1/admin/organizations/${'a'.repeat(300)}`, undefined, 404, 'NOT_FOUND'],
      ['GET', '/v1/admin/organizations/%E0%A4%A', undefined, 400, 'InvalidParameter'],
      ['GET', '/v1/admin/organizations?limit=5&limit=6', undefined, 400, 'InvalidParameter'],
      [
        'POST',
        '/v1/admin/organizations',
        '{"params":{"name":"a\\u0000b","currency":"SAR"}}',
        400,
        'InvalidParameter',
      ],
      [
        'POST',
        '/v1/admin/organizations',
        '{"params":{"name":"x","currency":"SAR","constructor":{"prototype":{"a":1}}}}',
        400,
        'InvalidParameter',
      ],
      ['POST', '/v1/admin/organizations', '', 400, 'InvalidParameter'],
      [
        'POST',
        '/v1/admin/organizations',
        '{"params":{"name":"x","currency":"SAR","maxPaymentsPerOrder":1e308}}',
        400,
        'InvalidParameter',
      ],
      [
        'POST',
        '/v1/admin/organizations',
        '{"params":{"name":"x","currency":"SAR","maxPaymentsPerOrder":-0}}',
        400,
        'InvalidParameter',
      ],
    ];
    cases.push(
      ['GET', '/v1/admin/organizations/a%00b', undefined, 400, 'InvalidParameter'],
      [
        'GET',
        '/v1/admin/organizations?cursor=WyJcdTAwMDAiLCJhIl0',
        undefined,
        400,
        'InvalidParameter',
      ],
      [
        'POST',
        '/v1/admin/organizations',
        '{"params":{"name":"a\\ud800b","currency":"SAR"}}',
        400,
        'InvalidParameter',
      ],
      [
        'PATCH',
        '/v1/admin/api-keys/x/revoke',
        '{"params":{"revokedAt":"2020-01-01"}}',
        400,
        'InvalidParameter',
      ],
    );
    for (const [method, url, payload, status, code] of cases) {
      const r = await t.app.inject({
        method: method as 'GET',
        url,
        headers: H,
        ...(payload !== undefined && { payload }),
      });
      assertErrorEnvelope(r, status, code);
    }
    // A state action sent with a JSON content type and no body is fine.
    const { id } = json(
      await t.app.inject({
        method: 'POST',
        url: '/v1/admin/api-keys',
        headers: H,
        payload: JSON.stringify({ params: { name: 'k', role: 'viewer', organizations: [org.id] } }),
      }),
    ).data;
    const revoke = await t.app.inject({
      method: 'PATCH',
      url: `/v1/admin/api-keys/${id}/revoke`,
      headers: H,
      payload: '',
    });
    assert.equal(revoke.statusCode, 200, revoke.body);
  });

  void test('non-JSON bodies are 415', async () => {
    for (const contentType of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
    ]) {
      const r = await t.app.inject({
        method: 'POST',
        url: '/v1/admin/organizations',
        headers: { 'api-key': t.rootKey, 'content-type': contentType },
        payload: 'name=X',
      });
      assertErrorEnvelope(r, 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
  });

  void test('oversize body is 413 and stores nothing', async () => {
    const name = 'y'.repeat(t.config.bodyLimit);
    const r = await t.app.inject({
      method: 'POST',
      url: '/v1/admin/organizations',
      headers: { 'api-key': t.rootKey },
      payload: { params: { name, currency: 'SAR' } },
    });
    assertErrorEnvelope(r, 413, 'PAYLOAD_TOO_LARGE');
  });

  void test('strings over their limits are rejected', async () => {
    const r = await t.app.inject({
      method: 'POST',
      url: '/v1/admin/organizations',
      headers: { 'api-key': t.rootKey },
      payload: { params: { name: 'n'.repeat(201), currency: 'SAR' } },
    });
    assert.equal(assertErrorEnvelope(r, 400, 'InvalidParameter').error.details.field, 'name');
  });

  void test('unknown routes are 404 in the error envelope', async () => {
    assertErrorEnvelope(
      await t.call(org, 'admin', { method: 'GET', url: '/v1/om/nothing-here' }),
      404,
      'NOT_FOUND',
    );
    assertErrorEnvelope(await t.app.inject({ method: 'GET', url: '/nope' }), 404, 'NOT_FOUND');
  });

  void test('health, readiness and the OpenAPI document answer without a key', async () => {
    const health = await t.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
    assert.equal(json(health).data.status, 'ok');
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    const doc = json(await t.app.inject({ method: 'GET', url: '/openapi.json' }));
    assert.equal(doc.openapi, '3.1.0');
    for (const path of [
      '/v1/om/organization',
      '/v1/admin/organizations',
      '/v1/admin/api-keys',
      '/v1/admin/api-keys/{uid}/revoke',
    ]) {
      assert.ok(doc.paths[path], `OpenAPI lists ${path}`);
    }
    assert.ok(doc.paths['/v1/admin/organizations'].post.requestBody, 'request schema documented');
    const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger/i);
  });
});
