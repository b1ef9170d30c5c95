// The endpoints table's Factory (reliability/endpoints.ts) over app.inject: makes one test
// organization's objects with its admin key, so in-process tests can build a Kit and send
// the table's requests.
import assert from 'node:assert/strict';
import type { Factory, Role } from '../../reliability/endpoints.ts';
import { json, type TestApp, type TestOrg } from './app.ts';

export function injectFactory(t: TestApp, org: TestOrg, mainMethod: string): Factory {
  const data = (r: Awaited<ReturnType<TestApp['call']>>, what: string) => {
    assert.equal(r.statusCode, 200, `setup: ${what}: ${r.body}`);
    return json(r).data;
  };
  return {
    id: org.id,
    mainMethod,
    async post(url, params) {
      const r = await t.call(org, 'admin', {
        method: 'POST',
        url,
        ...(params !== undefined && { payload: { params } }),
      });
      return data(r, `POST ${url}`).id as string;
    },
    async get(url) {
      return data(await t.call(org, 'admin', { method: 'GET', url }), `GET ${url}`);
    },
    async patch(url, params) {
      const r = await t.call(org, 'admin', {
        method: 'PATCH',
        url,
        ...(params !== undefined && { payload: { params } }),
      });
      data(r, `PATCH ${url}`);
    },
    async key(role: Role) {
      const r = await t.app.inject({
        method: 'POST',
        url: '/v1/admin/api-keys',
        headers: { 'api-key': t.rootKey },
        payload: { params: { name: `table ${role}`, role, organizations: [org.id] } },
      });
      const made = data(r, 'api key');
      return { id: made.id as string, secret: made.secret as string };
    },
    async keyIds() {
      const r = await t.call(org, 'admin', { method: 'GET', url: '/v1/admin/api-keys?limit=100' });
      return (data(r, 'api keys').items as { id: string }[]).map((k) => k.id);
    },
  };
}
