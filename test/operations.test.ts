// API.md §1, §8: 429 per api key, and Prometheus metrics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

void describe('rate limit and metrics', () => {
  let t: TestApp;
  let org: TestOrg;
  const LIMIT = 5;

  before(async () => {
    t = await startTestApp({ rateLimitPerMinute: LIMIT });
    org = await t.createOrg();
  });
  after(() => t.close());

  void test('the limit counts per api key and answers 429 in the envelope with Retry-After', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 2; i++) {
      statuses.push(
        (await t.call(org, 'viewer', { method: 'GET', url: '/v1/om/organization' })).statusCode,
      );
    }
    assert.deepEqual(statuses, [...Array<number>(LIMIT).fill(200), 429, 429]);
    const limited = await t.call(org, 'viewer', { method: 'GET', url: '/v1/om/organization' });
    assert.equal(json(limited).error.code, 'RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.equal(json(limited).requestId, limited.headers['x-request-id']);
    // Another key of the same organization has its own budget.
    assert.equal(
      (await t.call(org, 'cashier', { method: 'GET', url: '/v1/om/organization' })).statusCode,
      200,
    );
    // Health checks are never limited.
    for (let i = 0; i < LIMIT + 2; i++) {
      assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    }
  });

  void test('GET /metrics exposes per-route latency in Prometheus format', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    assert.match(
      r.body,
      /om_http_request_duration_seconds_count\{method="GET",route="\/v1\/om\/organization",status_code="200"\} \d+/,
    );
    assert.match(r.body, /process_cpu_user_seconds_total/);
    assert.doesNotMatch(r.body, /omk_/, 'no secrets in metrics');
  });
});
