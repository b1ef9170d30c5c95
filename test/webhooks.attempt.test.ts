// One webhook attempt over real HTTP on 127.0.0.1 (API.md §7.3), as the delivery worker's
// sender thread makes it: the answer's status, at most 4 KB of a failure's body read, the
// attempt's deadline, and attempts cut short when the service closes — directly (Agents)
// and through the thread (startSender).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agents, attempt, type Attempt } from '../src/webhooks/webhooks.delivery.ts';
import { startSender } from '../src/webhooks/webhooks.sender.ts';

/**
 * Paths: /ok (200, 1 MB body), /fail (500, 10 KB body), /drip (500, then a byte every
 * 50 ms, never ending), anything else never answers.
 */
let server: http.Server;
let base = '';
/** Answers held open, ended after each test. */
let hanging: http.ServerResponse[] = [];

before(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/ok') {
        res.statusCode = 200;
        res.end('y'.repeat(1_000_000));
      } else if (req.url === '/fail') {
        res.statusCode = 500;
        res.end(`${'a'.repeat(4096)}${'b'.repeat(6000)}`);
      } else if (req.url === '/drip') {
        res.writeHead(500);
        const drip = setInterval(() => res.write('z'), 50);
        res.on('close', () => clearInterval(drip));
        hanging.push(res);
      } else hanging.push(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const to = (path: string): Attempt => ({
  url: `${base}${path}`,
  secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
  messageId: 'evt_1',
  body: '{"type":"test"}',
  allowPrivate: true,
});

void describe('a webhook attempt', () => {
  void test('a 2xx is a success whatever its body (1 MB here): nothing of it is kept', async () => {
    const agents = new Agents();
    try {
      assert.deepEqual(await attempt(to('/ok'), agents), {
        ok: true,
        statusCode: 200,
        error: null,
      });
    } finally {
      await agents.close();
    }
  });

  void test('a failure keeps its status and the start of its body (4 KB read, 1 KB kept)', async () => {
    const agents = new Agents();
    try {
      const outcome = await attempt(to('/fail'), agents);
      assert.equal(outcome.ok, false);
      assert.equal(outcome.statusCode, 500);
      assert.match(outcome.error!, /^HTTP 500: a+$/);
      assert.ok(outcome.error!.length <= 1024);
    } finally {
      await agents.close();
    }
  });

  /** An attempt to `path` with a 300 ms timeout ends as timed out, at its deadline. */
  async function timesOut(path: string): Promise<void> {
    const agents = new Agents(300);
    try {
      const started = Date.now();
      const outcome = await attempt(to(path), agents);
      const took = Date.now() - started;
      assert.deepEqual(outcome, {
        ok: false,
        statusCode: null,
        error: 'timeout: no answer within 0.3 s',
      });
      assert.ok(took >= 300 && took < 2000, `ended after ${took} ms`);
    } finally {
      await agents.close();
      hanging.forEach((r) => r.destroy());
      hanging = [];
    }
  }

  void test('no answer within the timeout: a failed attempt, ended at its deadline', () =>
    timesOut('/hang'));

  void test('an answer that never ends is cut at the deadline too', () => timesOut('/drip'));

  void test('closing cuts the attempts in flight short; none starts after', async () => {
    const agents = new Agents();
    const inFlight = attempt(to('/hang'), agents);
    while (hanging.length === 0) await new Promise((r) => setTimeout(r, 10));
    await agents.close();
    assert.deepEqual(await inFlight, {
      ok: false,
      statusCode: null,
      error: 'aborted: the service was closing',
    });
    assert.equal((await attempt(to('/ok'), agents)).error, 'aborted: the service was closing');
    hanging.forEach((r) => r.destroy());
    hanging = [];
  });
});

void describe('the sender thread', () => {
  void test('makes attempts off the event loop and answers their outcomes', async () => {
    const sender = startSender();
    try {
      const outcomes = await Promise.all([
        sender.send(to('/ok')),
        sender.send(to('/fail')),
        sender.send(to('/ok')),
      ]);
      assert.deepEqual(
        outcomes.map((o) => o.statusCode),
        [200, 500, 200],
      );
      assert.deepEqual(
        outcomes.map((o) => o.ok),
        [true, false, true],
      );
    } finally {
      await sender.close();
    }
  });

  void test('closing answers the attempts in flight as aborted and stops the thread', async () => {
    const sender = startSender();
    const inFlight = sender.send(to('/hang'));
    while (hanging.length === 0) await new Promise((r) => setTimeout(r, 10));
    await sender.close();
    assert.equal((await inFlight).error, 'aborted: the service was closing');
    assert.equal((await sender.send(to('/ok'))).error, 'aborted: the service was closing');
    hanging.forEach((r) => r.destroy());
    hanging = [];
  });
});
