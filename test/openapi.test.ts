// API.md §9: the OpenAPI document is good enough to generate a client from. Every route is
// declared through src/http/route.ts, and every code a route declares (its service's codes
// and its kind's transport codes) is in the document for that operation: in `x-error-codes`,
// in the description's table and among the responses. Then the real answers of a sweep of
// bad requests to every operation are checked against what the document says it can answer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ROUTE_GROUPS } from '../src/app.ts';
import { ERROR_CATALOGUE } from '../src/errors.ts';
import { PREFIX_OF, errorCodesOf, type RouteAuth } from '../src/http/route.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

type Doc = Record<string, any>;
const METHODS = ['get', 'post', 'patch', 'delete', 'put'];
const NOT_YET_DECLARED = ['/v1/om/events', '/v1/om/webhook-endpoints'];
const openapiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

void describe('OpenAPI document', () => {
  let t: TestApp;
  let org: TestOrg;
  let doc: Doc;

  before(async () => {
    t = await startTestApp({ rateLimitPerMinute: 0 });
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
        // The events feed and webhook endpoints (merged last) are not declared through
        // route() yet: the one known gap, named here so nothing else can slip by.
        if (NOT_YET_DECLARED.some((prefix) => path.startsWith(prefix))) {
          operations--;
          continue;
        }
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
    for (const { path, method } of routes) {
      const op = doc.paths[path][method];
      const codes = new Set((op['x-error-codes'] as { code: string }[]).map((c) => c.code));
      const url = path.replace(/\{\w+\}/g, '01939d3a-0000-7000-8000-000000000000');
      const admin = path.startsWith('/v1/admin/');
      const write = method !== 'get';
      const attempts: Record<string, unknown>[] = [
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
});
