// `node --import tsx bench/events.ts [--seconds 10] [--rounds 2]` (engine: TEST_DATABASE_URL's,
// as for `npm run bench`): the `mixed` load against the real server with no webhook endpoint
// and with one enabled endpoint (a receiver on loopback, every event), the cases taking turns.
// Reports throughput of each, the ratio, delivery lag (the event's createdAt, taken just
// before its commit, to the first attempt's arrival) p50/p99, and how long the pending
// deliveries took to drain after the load stopped. Quick numbers, not judged.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import {
  call,
  fixture,
  makeOrganization,
  startServer,
  stopAllServers,
} from '../reliability/lib.ts';
import { TEST_ENGINE } from '../test/support/database.ts';
import { runLoad, SCENARIOS, type Target } from './load.ts';
import { Seeder } from './seed.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const log = (m: string) => console.error(`[bench events ${TEST_ENGINE}] ${m}`);
// Extra flags for the server's node, as bench/engine.ts: `--cpu-prof --cpu-prof-dir=…`.
const SERVER_NODE_FLAGS = (process.env.BENCH_SERVER_NODE_FLAGS ?? '').split(' ').filter(Boolean);

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

async function runCase(withEndpoint: boolean) {
  const fx = await fixture();
  const server = await startServer(
    fx.testDatabase.url,
    {
      WEBHOOK_ALLOW_HTTP: '1',
      WEBHOOK_ALLOW_PRIVATE: '1',
      ...(TEST_ENGINE === 'postgres' && { PG_POOL_SIZE: '10' }),
    },
    SERVER_NODE_FLAGS,
  );
  const lags: number[] = [];
  const seen = new Set<string>();
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const id = String(req.headers['webhook-id']);
      if (!seen.has(id)) {
        seen.add(id);
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { timestamp: string };
        lags.push(Date.now() - Date.parse(body.timestamp));
      }
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  try {
    const org = await makeOrganization(server.url, fx.rootKey);
    if (withEndpoint) {
      const port = (receiver.address() as AddressInfo).port;
      const r = await call(
        server.url,
        'POST',
        '/v1/om/webhook-endpoints',
        { 'api-key': org.keys.admin, 'organization-id': org.id },
        { params: { url: `http://127.0.0.1:${port}/hook` } },
      );
      if (r.status !== 200) throw new Error(`endpoint: ${r.text}`);
    }
    const headers = { 'api-key': org.keys.manager, 'organization-id': org.id };
    const order = await call(server.url, 'POST', '/v1/om/orders', headers, {
      params: { total: 1_000_000 },
    });
    const templateId = order.body.data.id as string;
    const { orderIds } = await new Seeder(fx.database).copyOrder(org.id, templateId, 4000);
    const target: Target = {
      url: server.url,
      organizationId: org.id,
      apiKey: org.keys.cashier,
      methodId: org.method,
      pid: server.pid,
      postgres: TEST_ENGINE === 'postgres',
    };
    await runLoad(SCENARIOS.mixed!, target, orderIds.slice(0, 500), {
      connections: 50,
      durationS: 3,
    });
    lags.length = 0;
    const result = await runLoad(SCENARIOS.mixed!, target, orderIds.slice(500), {
      connections: 50,
      durationS: seconds,
    });
    const stoppedAt = Date.now();
    const pending = async () =>
      Number(
        (
          await sql<{
            n: number | string;
          }>`select count(*) as n from webhook_deliveries where status = 'pending'`.execute(
            fx.database.db,
          )
        ).rows[0]!.n,
      );
    const pendingAtStop = await pending();
    while ((await pending()) > 0 && Date.now() - stoppedAt < 120_000) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const sorted = [...lags].sort((a, b) => a - b);
    return {
      reqPerSec: result.reqPerSec,
      p99Ms: result.p99Ms,
      errors: result.errors,
      delivered: lags.length,
      lagP50: percentile(sorted, 0.5),
      lagP99: percentile(sorted, 0.99),
      pendingAtStop,
      drainS: (Date.now() - stoppedAt) / 1000,
    };
  } finally {
    // SIGTERM first: a server run with --cpu-prof writes its profile only on a clean exit.
    await server.kill();
    await new Promise((r) => receiver.close(r));
    await stopAllServers();
    await fx.close();
  }
}

const results: { case: string; r: Awaited<ReturnType<typeof runCase>> }[] = [];
for (let round = 1; round <= rounds; round++) {
  for (const withEndpoint of [false, true]) {
    const name = withEndpoint ? 'one endpoint' : 'no endpoint';
    log(`round ${round}: mixed ${seconds} s, ${name}`);
    results.push({ case: name, r: await runCase(withEndpoint) });
  }
}
console.log(
  `\n### events — ${TEST_ENGINE}, mixed ${seconds} s × ${rounds} rounds, 50 connections\n`,
);
console.log(
  '| case | req/s | p99 ms | errors | delivered | lag p50 ms | lag p99 ms | pending at stop | drained in s |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const { case: c, r } of results) {
  const lag =
    c === 'no endpoint'
      ? ['', '', '', '', '']
      : [r.delivered, r.lagP50, r.lagP99, r.pendingAtStop, r.drainS.toFixed(1)];
  console.log(
    `| ${c} | ${Math.round(r.reqPerSec)} | ${r.p99Ms} | ${r.errors} | ${lag.join(' | ')} |`,
  );
}
const mean = (c: string) => {
  const xs = results.filter((x) => x.case === c).map((x) => x.r.reqPerSec);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
};
console.log(
  `\nthroughput with one endpoint ÷ without: ${(mean('one endpoint') / mean('no endpoint')).toFixed(2)}`,
);
