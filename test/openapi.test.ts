// API.md §9: the OpenAPI document is good enough to generate a client from. Every route is
// declared through src/http/route.ts, and every code a route declares (its service's codes
// and its kind's transport codes) is in the document for that operation: in `x-error-codes`,
// in the description's table and among the responses. Then the real answers of a sweep of
// bad requests to every operation are checked against what the document says it can answer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ROUTE_GROUPS } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { ERROR_CATALOGUE } from '../src/errors.ts';
import { PREFIX_OF, errorCodesOf, type RouteAuth } from '../src/http/route.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

type Doc = Record<string, any>;
const METHODS = ['get', 'post', 'patch', 'delete', 'put'];
const openapiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

void describe('OpenAPI document', () => {
  let t: TestApp;
  let org: TestOrg;
  let doc: Doc;

  before(async () => {
    // No delivery worker: the endpoints made here are never called (their hosts do not exist).
    t = await startTestApp({
      rateLimitPerMinute: 0,
      webhooks: { ...loadConfig({}).webhooks, worker: false },
    });
    org = await t.createOrg('SAR');
    doc = json(await t.app.inject({ method: 'GET', url: '/openapi.json' }));
  });
  after(() => t.close());

  const declared = () =>
    (Object.entries(ROUTE_GROUPS) as [RouteAuth, (typeof ROUTE_GROUPS)['public']][]).flatMap(
      ([auth, plugins]) =>
        plugins.flatMap(({ group }) => {
          assert.equal(group.auth, auth);
          return group.routes.map((definition) => ({
            group,
            definition,
            path: openapiPath(PREFIX_OF[auth] + definition.url),
            method: definition.method.toLowerCase(),
          }));
        }),
    );

  void test('every declared code of every route is listed for its operation', () => {
    const routes = declared();
    assert.ok(routes.length >= 30, `${routes.length} routes`);
    for (const { group, definition, path, method } of routes) {
      const label = `${method.toUpperCase()} ${path}`;
      const op = doc.paths[path]?.[method];
      assert.ok(op, `${label} is in the document`);
      const listed = op['x-error-codes'] as { code: string; status: number; meaning: string }[];
      const codes = errorCodesOf(group, definition);
      // The route's own codes (its service's), then those of its kind.
      for (const own of definition.errors) {
        const code = typeof own === 'string' ? own : own[0];
        assert.ok(
          codes.some((c) => c.code === code),
          `${label}: ${code}`,
        );
      }
      for (const { code, status } of codes) {
        const entry = listed.find((e) => e.code === code);
        assert.ok(entry, `${label}: ${code} in x-error-codes`);
        assert.equal(entry.status, ERROR_CATALOGUE[code].status, `${label}: ${code} status`);
        assert.ok(entry.meaning.length > 0);
        assert.ok(op.description.includes(`| \`${code}\` |`), `${label}: ${code} in the table`);
        const response = op.responses[String(status)];
        assert.ok(response, `${label}: response ${status}`);
        const schema = response.content['application/json'].schema;
        assert.ok(
          schema.properties.error.properties.code.enum.includes(code),
          `${label}: ${code} in the ${status} answer's codes`,
        );
        if (status === 429 || status === 503) {
          assert.ok(response.headers['retry-after'], `${label}: ${status} has Retry-After`);
        }
      }
      assert.equal(listed.length, codes.length, `${label}: nothing listed beyond the declaration`);
      assert.ok(op.summary && op.operationId && op.tags.length > 0, label);
      if (['post', 'patch'].includes(method) && op.requestBody && definition.body !== undefined) {
        const media = op.requestBody.content['application/json'];
        assert.ok(media.example !== undefined, `${label}: a request example`);
      }
    }
  });

  void test('every /v1 operation in the document comes from a declaration and declares its codes', () => {
    const known = new Set(declared().map(({ path, method }) => `${method} ${path}`));
    let operations = 0;
    for (const [path, item] of Object.entries(doc.paths as Doc)) {
      for (const method of METHODS) {
        const op = item[method];
        if (op === undefined) continue;
        operations++;
        assert.ok(known.has(`${method} ${path}`), `${method} ${path} is declared by a route group`);
        if (!path.startsWith('/v1/')) continue;
        const codes = (op['x-error-codes'] as { code: string }[]).map((c) => c.code);
        for (const code of [
          'InvalidParameter',
          'UNAUTHORIZED',
          'FORBIDDEN',
          'RATE_LIMITED',
          'INTERNAL',
          'SERVICE_UNAVAILABLE',
        ]) {
          assert.ok(codes.includes(code), `${method} ${path}: ${code}`);
        }
        if (method !== 'get') {
          for (const code of [
            'IDEMPOTENCY_IN_PROGRESS',
            'IDEMPOTENCY_KEY_REUSED',
            'PAYLOAD_TOO_LARGE',
            'UNSUPPORTED_MEDIA_TYPE',
          ]) {
            assert.ok(codes.includes(code), `${method} ${path}: ${code}`);
          }
          assert.ok(
            op.parameters.some((p: Doc) => p.name === 'idempotency-key'),
            `${method} ${path}: Idempotency-Key documented`,
          );
        }
      }
    }
    assert.equal(operations, known.size);
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), [
      'apiKey',
      'organizationId',
    ]);
  });

  void test('the answers of bad requests to every operation are among its documented codes', async () => {
    const routes = declared().filter(({ path }) => path.startsWith('/v1/'));
    const seen = new Set<string>();
    for (const { path, method, definition } of routes) {
      const op = doc.paths[path][method];
      const listed = op['x-error-codes'] as { code: string; meaning: string }[];
      const codes = new Set(listed.map((c) => c.code));
      const url = path.replace(/\{\w+\}/g, '01939d3a-0000-7000-8000-000000000000');
      const admin = path.startsWith('/v1/admin/');
      const write = method !== 'get';
      const attempts: Record<string, unknown>[] = [
        // A valid body from a viewer reaches the service: its role check answers, not the
        // schema's (a write without a body sends none).
        ...(write
          ? [
              {
                headers: { 'api-key': org.keys.viewer, 'organization-id': org.id },
                ...(definition.example !== undefined && { payload: definition.example }),
              },
            ]
          : []),
        {}, // no key
        { headers: { 'api-key': 'om_not_a_key', 'organization-id': org.id } },
        { headers: { 'api-key': org.keys.viewer } }, // no organization header, or not admin
        {
          headers: { 'api-key': org.keys.viewer, 'organization-id': org.id },
          ...(write && { payload: { params: { surely: 'unknown' } } }),
        },
        {
          headers: {
            'api-key': admin ? t.rootKey : org.keys.admin,
            'organization-id': org.id,
          },
          ...(write && { payload: { params: { surely: 'unknown' } } }),
        },
        ...(write
          ? [
              {
                headers: {
                  'api-key': admin ? t.rootKey : org.keys.admin,
                  'organization-id': org.id,
                  'content-type': 'text/plain',
                },
                payload: 'params',
              },
            ]
          : []),
      ];
      for (const attempt of attempts) {
        const r = await t.app.inject({ method: method.toUpperCase() as 'GET', url, ...attempt });
        if (r.statusCode === 200) continue;
        const code = json(r).error.code as string;
        seen.add(code);
        assert.ok(
          codes.has(code),
          `${method} ${path} answered ${code} (${r.statusCode}), not documented`,
        );
        assert.ok(
          op.responses[String(r.statusCode)],
          `${method} ${path}: ${r.statusCode} documented`,
        );
        // A viewer of the organization passed authentication: a FORBIDDEN is its role's,
        // and says which role is needed — as the route's table says it does.
        const headers = attempt.headers as Record<string, string> | undefined;
        if (code === 'FORBIDDEN' && !admin && headers?.['organization-id'] !== undefined) {
          assert.ok(
            json(r).error.details?.requiredRole,
            `${method} ${path}: FORBIDDEN names details.requiredRole`,
          );
          const meaning = listed.find((c) => c.code === 'FORBIDDEN')!.meaning;
          assert.ok(
            meaning.includes('details.requiredRole'),
            `${method} ${path}: the FORBIDDEN row mentions details.requiredRole`,
          );
        }
      }
    }
    for (const code of [
      'UNAUTHORIZED',
      'FORBIDDEN',
      'InvalidParameter',
      'NOT_FOUND',
      'UNSUPPORTED_MEDIA_TYPE',
    ]) {
      assert.ok(seen.has(code), `the sweep met ${code}`);
    }
  });

  void test("the feed's and webhooks' own refusals are documented, field by field", async () => {
    const admin = (method: string, url: string, params?: object) =>
      t.call(org, 'admin', {
        method: method as 'GET',
        url,
        ...(params !== undefined && { payload: { params } }),
      });
    const made = await admin('POST', '/v1/om/webhook-endpoints', {
      url: 'https://hooks.example.invalid/om',
    });
    assert.equal(made.statusCode, 200, made.body);
    const endpoint = json(made).data.id as string;
    const missing = '01939d3a-0000-7000-8000-000000000000';
    // What each service refuses once the schema let the request through (API.md §7.1, §7.2).
    const cases: {
      op: string;
      answer: () => Promise<{ statusCode: number; body: string }>;
      code: string;
      field?: string;
    }[] = [
      {
        op: 'get /v1/om/events',
        answer: () => admin('GET', '/v1/om/events?after=bogus'),
        code: 'InvalidParameter',
        field: 'after',
      },
      {
        op: 'post /v1/om/webhook-endpoints',
        answer: () =>
          admin('POST', '/v1/om/webhook-endpoints', { url: 'http://hooks.example.invalid/om' }),
        code: 'InvalidParameter',
        field: 'url',
      },
      {
        op: 'post /v1/om/webhook-endpoints',
        answer: () => admin('POST', '/v1/om/webhook-endpoints', { url: 'https://127.0.0.1/om' }),
        code: 'InvalidParameter',
        field: 'url',
      },
      {
        op: 'post /v1/om/webhook-endpoints',
        answer: () =>
          admin('POST', '/v1/om/webhook-endpoints', {
            url: 'https://hooks.example.invalid/om',
            events: ['Payment'],
          }),
        code: 'InvalidParameter',
        field: 'events',
      },
      {
        op: 'get /v1/om/webhook-endpoints',
        answer: () => admin('GET', '/v1/om/webhook-endpoints?cursor=bogus'),
        code: 'InvalidParameter',
        field: 'cursor',
      },
      {
        op: 'patch /v1/om/webhook-endpoints/{uid}',
        answer: () =>
          admin('PATCH', `/v1/om/webhook-endpoints/${endpoint}`, {
            url: 'https://user:pw@hooks.example.invalid/om',
          }),
        code: 'InvalidParameter',
        field: 'url',
      },
      {
        op: 'get /v1/om/webhook-endpoints/{uid}/deliveries',
        answer: () => admin('GET', `/v1/om/webhook-endpoints/${endpoint}/deliveries?cursor=bogus`),
        code: 'InvalidParameter',
        field: 'cursor',
      },
      {
        op: 'post /v1/om/webhook-endpoints/{uid}/deliveries/{deliveryId}/retry',
        answer: () =>
          admin('POST', `/v1/om/webhook-endpoints/${endpoint}/deliveries/${missing}/retry`),
        code: 'NOT_FOUND',
      },
      {
        op: 'get /v1/om/webhook-endpoints/{uid}',
        answer: () =>
          t.call(org, 'manager', { method: 'GET', url: `/v1/om/webhook-endpoints/${endpoint}` }),
        code: 'FORBIDDEN',
      },
    ];
    for (const { op: name, answer, code, field } of cases) {
      const [method, path] = name.split(' ') as [string, string];
      const op = doc.paths[path][method];
      const r = await answer();
      const error = JSON.parse(r.body).error;
      assert.equal(error?.code, code, `${name}: ${r.body}`);
      assert.equal(r.statusCode, ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE].status);
      const row = (op['x-error-codes'] as { code: string; meaning: string }[]).find(
        (c) => c.code === code,
      );
      assert.ok(row, `${name}: ${code} listed`);
      assert.ok(
        op.responses[String(r.statusCode)].content[
          'application/json'
        ].schema.properties.error.properties.code.enum.includes(code),
        `${name}: ${code} among the ${r.statusCode} answer's codes`,
      );
      if (field !== undefined) {
        assert.equal(error.details?.field, field, `${name}: details.field`);
        assert.ok(
          row.meaning.includes(`\`${field}\``),
          `${name}: the ${code} row explains \`${field}\``,
        );
      }
      if (code === 'FORBIDDEN') assert.equal(error.details?.requiredRole, 'admin');
    }
  });
});
