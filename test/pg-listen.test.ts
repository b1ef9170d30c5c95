// src/db/pg-listen.ts: LISTEN on a connection of its own, several channels, kept across
// reconnects. PostgreSQL only (SQLite has no notifications); the server is real, and the
// connection is ended the way an operator or a failover ends it (pg_terminate_backend).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { listenOnPostgres, type PgListener } from '../src/db/pg-listen.ts';
import { createTestDatabase, TEST_ENGINE, type TestDatabase } from './support/database.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 20 ms for up to 5 s. */
async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (await check()) return;
    await sleep(20);
  }
  assert.fail(`not seen within 5 s: ${what}`);
}

if (TEST_ENGINE === 'postgres') {
  void describe('LISTEN across reconnects (src/db/pg-listen.ts)', () => {
    let testDatabase: TestDatabase;
    let other: pg.Client;
    let listener: PgListener;
    const heard: string[] = [];
    const events: string[] = [];
    const APP = 'om-test-listener';

    before(async () => {
      testDatabase = await createTestDatabase();
      other = new pg.Client({ connectionString: testDatabase.url });
      await other.connect();
      listener = listenOnPostgres({
        url: testDatabase.url,
        channels: ['om_a', 'om_b'],
        applicationName: APP,
        onNotification: (channel, payload) => heard.push(`${channel}:${payload}`),
        onListening: () => events.push('listening'),
        onLost: () => events.push('lost'),
        retry: { firstMs: 50, maxMs: 200 },
      });
    });
    after(async () => {
      await listener.close();
      await other.end();
      await testDatabase.drop();
    });

    const notify = (channel: string, payload: string) =>
      other.query('select pg_notify($1, $2)', [channel, payload]);
    const terminate = () =>
      other.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
           where application_name = $1 and datname = current_database()`,
        [APP],
      );

    void test('hears every channel it listens on, and only those', async () => {
      await eventually(() => listener.listening, 'listening');
      assert.deepEqual(events, ['listening']);
      await notify('om_a', '1');
      await notify('om_c', 'not listened to');
      await notify('om_b', '2');
      await eventually(() => heard.length >= 2, 'two notices');
      await sleep(100);
      assert.deepEqual(heard, ['om_a:1', 'om_b:2']);
    });

    void test('a terminated connection is reported, replaced, and every channel heard again', async () => {
      heard.length = 0;
      events.length = 0;
      for (let round = 1; round <= 3; round++) {
        await terminate();
        await eventually(() => events.filter((e) => e === 'listening').length === round, 'back');
        assert.equal(listener.listening, true);
        await notify('om_a', `a${round}`);
        await notify('om_b', `b${round}`);
        await eventually(() => heard.length === 2 * round, `round ${round}'s notices`);
      }
      assert.deepEqual(events, ['lost', 'listening', 'lost', 'listening', 'lost', 'listening']);
      assert.deepEqual(heard, ['om_a:a1', 'om_b:b1', 'om_a:a2', 'om_b:b2', 'om_a:a3', 'om_b:b3']);
      const { rows } = await other.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity
           where application_name = $1 and datname = current_database()`,
        [APP],
      );
      assert.equal(rows[0]!.n, 1, 'one connection at a time');
    });

    void test('ended again and again as it comes back, it keeps retrying until it stays', async () => {
      events.length = 0;
      const until = Date.now() + 600;
      while (Date.now() < until) {
        await terminate();
        await sleep(10);
      }
      await eventually(() => listener.listening, 'listening again');
      assert.ok(events.includes('lost'));
      assert.equal(events.at(-1), 'listening');
      await notify('om_b', 'after');
      await eventually(() => heard.at(-1) === 'om_b:after', 'heard after the retries');
    });

    void test('closed, it stops listening and does not come back', async () => {
      const own = listenOnPostgres({
        url: testDatabase.url,
        channels: ['om_a'],
        applicationName: `${APP}-2`,
        onNotification: () => assert.fail('closed listeners hear nothing'),
        retry: { firstMs: 20, maxMs: 20 },
      });
      await eventually(() => own.listening, 'listening');
      await own.close();
      assert.equal(own.listening, false);
      await sleep(100);
      await notify('om_a', 'x');
      await sleep(100);
      const { rows } = await other.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity where application_name = $1`,
        [`${APP}-2`],
      );
      assert.equal(rows[0]!.n, 0);
    });

    void test('channel names are identifiers, checked before anything is sent', () => {
      assert.throws(
        () =>
          listenOnPostgres({
            url: testDatabase.url,
            channels: ['om_a; drop table x'],
            applicationName: APP,
            onNotification: () => undefined,
          }),
        /not a channel name/,
      );
    });
  });
}
