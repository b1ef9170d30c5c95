// API.md §1: anything unexpected is 500 INTERNAL with the requestId and nothing internal.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createDatabase, type Database } from '../src/db/engine.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';

let testDb: TestDatabase;
let database: Database;
let app: FastifyInstance;
const logged: string[] = [];

before(async () => {
  testDb = await createTestDatabase();
  database = createDatabase(testDb.config);
  app = await buildApp({
    config: { ...loadConfig({}), database: testDb.config },
    database,
    logger: { level: 'error', stream: { write: (line: string) => logged.push(line) } },
  });
  // A handler with a bug in it, as a stand-in for any unforeseen failure.
  app.get('/boom', async () => {
    throw new Error('secret internal detail: select * from api_keys');
  });
  await app.ready();
});
after(async () => {
  await app.close();
  await database.close();
  await testDb.drop();
});

void test('an unexpected error is 500 INTERNAL without internals, and is logged', async () => {
  const r = await app.inject({
    method: 'GET',
    url: '/boom',
    headers: { 'x-request-id': 'trace-500' },
  });
  assert.equal(r.statusCode, 500);
  const body = JSON.parse(r.body);
  assert.deepEqual(body, {
    error: { code: 'INTERNAL', message: 'An unexpected error occurred.' },
    requestId: 'trace-500',
  });
  assert.doesNotMatch(r.body, /secret|select|api_keys|at /);
  assert.ok(
    logged.some((line) => line.includes('secret internal detail') && line.includes('trace-500')),
    'logged with the request id',
  );
});
