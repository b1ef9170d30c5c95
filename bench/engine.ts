// One engine's benchmark (the engine is TEST_DATABASE_URL's, as for the tests): the real
// server as a child process on loopback, the load scenarios, the same-run engine ceiling,
// growth with history and memory over a long run. Prints a table and writes one JSON file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { createApiKey } from '../src/api-keys/api-keys.service.ts';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createDatabase, type Database, type ExecutedStatement } from '../src/db/engine.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { cliCaller } from '../src/shared/context.ts';
import {
  atLeast,
  atMost,
  call,
  exactly,
  fixture,
  makeOrganization,
  startServer,
  stopAllServers,
  type Figure,
  type Fixture,
  type OrgKeys,
  type ServerHandle,
} from '../reliability/lib.ts';
import { createTestDatabase, TEST_ENGINE } from '../test/support/database.ts';
import {
  capture,
  pgbenchCeiling,
  pgDriverCeiling,
  planReplay,
  sqliteCeiling,
  type CeilingResult,
  type ReplayPlan,
} from './ceiling.ts';
import { cpuPerRequest, cpuSnapshot, cpuText } from './cpu.ts';
import { Histogram } from './histogram.ts';
import { rssMb, runLoad, SCENARIOS, type LoadResult, type Target } from './load.ts';
import { PROFILES, type ProfileName } from './profiles.ts';
import { Seeder, type Copies } from './seed.ts';
import { startReceiver, type DeliveryFigures } from './webhooks.ts';

const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'full' },
    out: { type: 'string', default: '.bench' },
    /**
     * Comma-separated parts to run: scenario names, ceiling, growth, workers, metrics,
     * webhooks, memory, report (default all).
     */
    only: { type: 'string' },
    /**
     * PostgreSQL drivers to compare (PG_DRIVER values, e.g. `pg,postgres-js`): one server per
     * driver, each on a database of its own, the wanted scenarios run on each in turn, round
     * after round; reports each one's median run. Replaces the usual runs.
     */
    drivers: { type: 'string' },
    /** Rounds of the driver comparison. */
    rounds: { type: 'string', default: '3' },
  },
});
const only = values.only?.split(',');
const wanted = (part: string) => only === undefined || only.includes(part);
const profileName = values.profile as ProfileName;
const profile = PROFILES[profileName];
if (profile === undefined) throw new Error(`unknown profile ${values.profile}`);
const engine = TEST_ENGINE;
const CONNECTIONS = 50;
/** The service's pool on PostgreSQL (also pgbench's client count for the ceiling). */
const PG_POOL_SIZE = Number(process.env.BENCH_PG_POOL_SIZE ?? 10);
// Extra flags for the server's node, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it.
const SERVER_NODE_FLAGS = (process.env.BENCH_SERVER_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const log = (message: string) => console.error(`[bench ${engine}] ${message}`);

/**
 * An order of a large total with `receipts` complete receipts of `amount` each, and with
 * `pending`, one more receipt left pending (the last id).
 */
async function templateOrder(
  base: string,
  org: OrgKeys,
  receipts: number,
  amount = 1,
  pending = false,
): Promise<{ orderId: string; paymentIds: string[] }> {
  const headers = { 'api-key': org.keys.manager, 'organization-id': org.id };
  const order = await call(base, 'POST', '/v1/om/orders', headers, {
    params: { total: 1_000_000 },
  });
  if (order.status !== 200) throw new Error(`template order: ${order.text}`);
  const orderId = order.body.data.id as string;
  const paymentIds: string[] = [];
  for (let i = 0; i < receipts + (pending ? 1 : 0); i++) {
    const status = i < receipts ? { status: 'complete' } : {};
    const p = await call(base, 'POST', '/v1/om/payments', headers, {
      params: { orderId, type: 'receipt', methodId: org.method, amount, ...status },
    });
    if (p.status !== 200) throw new Error(`template payment: ${p.text}`);
    paymentIds.push(p.body.data.id as string);
  }
  return { orderId, paymentIds };
}

async function countPayments(database: Database): Promise<number> {
  const r = await sql<{ n: number | string }>`select count(*) as n from payments`.execute(
    database.db,
  );
  return Number(r.rows[0]!.n);
}

/** Orders enough for `seconds` of a scenario at a rate no run here reaches. */
function poolSize(paymentsPerCycle: number, steps: number, seconds: number): number {
  const cycles = (8000 * seconds) / steps;
  return Math.max(200, Math.ceil((cycles * paymentsPerCycle) / 90));
}

async function measureCeiling(
  durationS: number,
): Promise<{ result: CeilingResult; reported: CeilingResult[] }> {
  const testDatabase = await createTestDatabase();
  const sink: { record: ExecutedStatement[] | null } = { record: null };
  const database = createDatabase(testDatabase.config, {
    onStatement: (s) => sink.record?.push(s),
  });
  try {
    await migrateToLatest(database);
    const defaults = loadConfig({});
    const config = {
      ...defaults,
      bootstrap: false,
      database: testDatabase.config,
      rateLimitPerMinute: 0,
      // Only the request's own statements are captured: the delivery worker, woken by the
      // request's commit, would read the feed on the same database between them.
      webhooks: { ...defaults.webhooks, worker: false },
    };
    const app = await buildApp({ config, database, logger: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address() as { port: number };
    const base = `http://127.0.0.1:${address.port}`;
    const root = await createApiKey(database, cliCaller('bench'), {
      name: 'root',
      role: 'admin',
      organizations: 'all',
    });
    const org = await makeOrganization(base, root.secret);
    const template = await templateOrder(base, org, 0);
    const { orderIds } = await new Seeder(database).copyOrder(org.id, template.orderId, 102);
    const send = (orderId: string, key: string) => async () => {
      const r = await call(
        base,
        'POST',
        '/v1/om/payments',
        { 'api-key': org.keys.cashier, 'organization-id': org.id, 'idempotency-key': key },
        {
          params: { orderId, type: 'receipt', methodId: org.method, amount: 1, status: 'complete' },
        },
      );
      if (r.status !== 200) throw new Error(`ceiling capture: ${r.text}`);
    };
    // Statements of a request in steady state: on PostgreSQL authentication is then answered
    // from the cache (src/api-keys/auth-cache.ts) once its listener listens.
    await send(orderIds[0]!, 'ceiling-warm-a')();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await send(orderIds[0]!, 'ceiling-warm-b')();
    const first = await capture(sink, send(orderIds[0]!, 'ceiling-capture-a'));
    const second = await capture(sink, send(orderIds[1]!, 'ceiling-capture-b'));
    const plan = planReplay(first, second, [orderIds[0]!, orderIds[1]!]);
    await app.close();
    const before = await countPayments(database);
    const orders = orderIds.slice(2);
    let result: CeilingResult;
    const reported: CeilingResult[] = [];
    if (testDatabase.config.engine === 'sqlite') {
      result = sqliteCeiling(testDatabase.config.file, plan, orders, durationS);
      // Also the statements replayed with commits shared as the service shares them (group
      // commit), at most one transaction per connection of the load per commit.
      reported.push(sqliteCeiling(testDatabase.config.file, plan, orders, durationS, CONNECTIONS));
    } else {
      const replay = (p: ReplayPlan) =>
        pgbenchCeiling(testDatabase.url, p, orders, durationS, PG_POOL_SIZE);
      // As sent (batches as pipelines) and each statement in a round trip of its own: the
      // faster is judged, so the service is held to the engine's best for its statements.
      const asSent = await replay(plan);
      const apart = plan.statements.some((s) => s.withNext)
        ? await replay({
            ...plan,
            statements: plan.statements.map((s) => ({ ...s, withNext: false })),
          })
        : undefined;
      const [faster, other] =
        apart === undefined || asSent.txPerSec >= apart.txPerSec
          ? [asSent, apart]
          : [apart, asSent];
      result = faster;
      if (other) reported.push(other);
      // And through the raw Node driver, with as many connections as the service's pool.
      reported.push(await pgDriverCeiling(testDatabase.url, plan, orders, durationS, PG_POOL_SIZE));
    }
    // The loop must have done the real work: one new payment per transaction.
    const made = (await countPayments(database)) - before;
    const replayed = [result, ...reported].reduce((sum, r) => sum + r.transactions, 0);
    if (made !== replayed)
      throw new Error(`ceiling made ${made} payments in ${replayed} transactions`);
    return { result, reported };
  } finally {
    await database.close();
    await testDatabase.drop();
  }
}

interface Report {
  engine: string;
  profile: ProfileName;
  date: string;
  machine: { cores: number; cpu: string; memoryGiB: number; node: string };
  durability: string;
  pgPoolSize?: number;
  scenarios: (LoadResult & { ratioToCeiling?: number })[];
  ceiling?: CeilingResult;
  /**
   * Other replays, reported beside the judged one: on SQLite with commits grouped like the
   * service's; on PostgreSQL pgbench with the other round trips (pipelined or one by one)
   * and the raw Node driver.
   */
  ceilingsReported: CeilingResult[];
  /**
   * Per case, its median run (by req/s), with every run's req/s (in the order run) and all
   * runs' errors; the payments in the database before its first run and before its last.
   */
  growth: Record<
    string,
    LoadResult & {
      paymentsInDatabase: number;
      paymentsInDatabaseAtEnd: number;
      paymentsPerOrder: number;
      roundsReqPerSec: number[];
    }
  >;
  /** The mixed load with 1 and with 2 workers (WORKERS), runs taken in turn. */
  workers?: Comparison;
  /** The mixed load with the service's metrics off (METRICS=0) and on, runs taken in turn. */
  metrics?: Comparison;
  /** The mixed load with no webhook endpoint and with one taking every event, in turn. */
  webhooks?: Comparison & { deliveries: DeliveryFigures };
  /** Figures shown with their reason but not judged. */
  reported?: { name: string; value: number; reason: string }[];
  /** RSS medians of the ten seconds up to 30 s and of the last ten; every second's sample. */
  memory?: { rssAt30sMb: number; rssAtEndMb: number; seconds: number; samples: number[] };
  figures: Figure[];
}

interface Service {
  fx: Fixture;
  server: ServerHandle;
  org: OrgKeys;
  target: Target;
  /** Copies of a template order in this service's database. */
  copies: (template: { orderId: string }, count: number) => Promise<Copies>;
  /** Unreported mixed load, so measured runs meet warm (JIT-compiled) code. */
  warmUp(): Promise<void>;
  /**
   * Writes out what earlier runs left in the log (a checkpoint), so a measured run does not
   * pay for its predecessor's dirty pages: PostgreSQL's checkpoint during one 30 s run, and
   * not the next, made the same-run ceiling swing by half.
   */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The real server on a fresh database of the engine, with an organization to load, started
 * with `env` besides the benchmark's settings; with `WORKERS` > 1 as that many processes on
 * its port, sharing the PostgreSQL pool budget PG_POOL_SIZE as the service does
 * (docs/scaling.md).
 */
async function startService(
  env: Record<string, string> = {},
  { copyEvents = true } = {},
): Promise<Service> {
  const fx = await fixture();
  const server = await startServer(
    fx.testDatabase.url,
    {
      PG_POOL_SIZE: String(PG_POOL_SIZE),
      LOG_LEVEL: 'warn',
      // METRICS=0 measures the service without its metrics (docs/operations.md).
      ...(process.env.METRICS !== undefined && { METRICS: process.env.METRICS }),
      ...env,
    },
    SERVER_NODE_FLAGS,
  );
  const org = await makeOrganization(server.url, fx.rootKey);
  const target: Target = {
    url: server.url,
    organizationId: org.id,
    apiKey: org.keys.cashier,
    methodId: org.method,
    pid: server.pid,
    postgres: engine === 'postgres',
  };
  const seeder = new Seeder(fx.database);
  const copies = (t: { orderId: string }, n: number) =>
    seeder.copyOrder(org.id, t.orderId, n, 0, copyEvents);
  return {
    fx,
    server,
    org,
    target,
    copies,
    async settle() {
      await (engine === 'postgres'
        ? sql`checkpoint`.execute(fx.database.db)
        : sql`pragma wal_checkpoint(truncate)`.execute(fx.database.db));
    },
    async warmUp() {
      const mixed = SCENARIOS.mixed!;
      const empty = await templateOrder(server.url, org, 0);
      const pool = await copies(empty, poolSize(mixed.paymentsPerCycle, 6, profile.warmupS));
      log(`warm-up: mixed for ${profile.warmupS} s (not reported)`);
      await runLoad(mixed, target, pool.orderIds, {
        connections: CONNECTIONS,
        durationS: profile.warmupS,
      });
    },
    async close() {
      await server.kill();
      await fx.close();
    },
  };
}

/** One side of a comparison in turns: its median run with every run's req/s, in order. */
type Side = LoadResult & { label: string; roundsReqPerSec: number[] };

/** Two services under the same mixed load, runs taken in turn. */
interface Comparison {
  sides: [Side, Side];
  /** The median of the rounds' paired ratios (second side ÷ first). */
  ratio: number;
  /** Every round's ratio, in the order run. */
  roundRatios: number[];
}

interface Contender {
  label: string;
  service: Service;
  /** An empty order of its database to copy (made when not given). */
  template?: { orderId: string };
  /** After each of its measured runs, before the next run of either side. */
  afterRun?: () => Promise<void>;
}

/**
 * The mixed load on two services, runs alternating (which goes first alternates too) so the
 * machine's drift falls on both alike; each round's ratio is taken from runs seconds apart.
 * A service given without a template is new here and gets its warm-up first.
 */
async function inTurns(first: Contender, second: Contender): Promise<Comparison> {
  const contenders = [first, second];
  const templates: { orderId: string }[] = [];
  for (const c of contenders) {
    if (c.template === undefined) await c.service.warmUp();
    templates.push(c.template ?? (await templateOrder(c.service.server.url, c.service.org, 0)));
  }
  const runs: LoadResult[][] = [[], []];
  const mixed = SCENARIOS.mixed!;
  for (let turn = 1; turn <= profile.pairedRounds; turn++) {
    for (const i of turn % 2 === 1 ? [0, 1] : [1, 0]) {
      const { service, label } = contenders[i]!;
      const pool = await service.copies(
        templates[i]!,
        poolSize(mixed.paymentsPerCycle, 6, profile.scenarioS),
      );
      await service.settle();
      const r = await runLoad(mixed, service.target, pool.orderIds, {
        connections: CONNECTIONS,
        durationS: profile.scenarioS,
      });
      runs[i]!.push(r);
      await contenders[i]!.afterRun?.();
      log(
        `${label}, run ${turn}/${profile.pairedRounds}: mixed ${r.reqPerSec.toFixed(0)} req/s, p99 ${r.p99Ms} ms, errors ${r.errors}, CPU per request ${cpuText(r.cpu)}`,
      );
    }
  }
  const side = (i: number): Side => {
    const rs = runs[i]!;
    const sorted = [...rs].sort((a, b) => a.reqPerSec - b.reqPerSec);
    return {
      ...sorted[(sorted.length - 1) >> 1]!,
      scenario: `mixed, ${contenders[i]!.label}`,
      label: contenders[i]!.label,
      errors: rs.reduce((sum, r) => sum + r.errors, 0),
      roundsReqPerSec: rs.map((r) => Math.round(r.reqPerSec)),
    };
  };
  const roundRatios = runs[1]!.map((r, i) => r.reqPerSec / runs[0]![i]!.reqPerSec);
  // Of the rounds' ratios the median (of an even number, the lower middle one), as for growth.
  const sorted = [...roundRatios].sort((a, b) => a - b);
  return {
    sides: [side(0), side(1)],
    ratio: round(sorted[(sorted.length - 1) >> 1]!, 3),
    roundRatios: roundRatios.map((x) => round(x, 3)),
  };
}

const comparisonErrors = (c: Comparison): Figure[] =>
  c.sides.map((s) => exactly(`mixed, ${s.label} (runs in turn): errors`, s.errors, 0));

const SCENARIO_NAMES = [
  'mixed',
  'create-payment',
  'create-confirm',
  'refund',
  'get-order',
  'list-payments',
];

/** Templates every scenario's orders are copied from. */
async function scenarioTemplates(service: Service) {
  const { server, org } = service;
  return {
    empty: await templateOrder(server.url, org, 0),
    withSource: await templateOrder(server.url, org, 1, 5000),
    withTen: await templateOrder(server.url, org, 10),
  };
}

/** One measured run of a scenario on a service, on fresh copies of its template. */
async function runScenario(
  service: Service,
  templates: Awaited<ReturnType<typeof scenarioTemplates>>,
  name: string,
): Promise<LoadResult> {
  const { empty, withSource, withTen } = templates;
  const scenario = SCENARIOS[name]!;
  const steps = scenario.steps(
    service.target,
    () => '',
    () => '',
  ).length;
  const size = poolSize(scenario.paymentsPerCycle, steps, profile.scenarioS);
  const template = name === 'refund' ? withSource : name === 'list-payments' ? withTen : empty;
  const pool = await service.copies(template, size);
  const sources = new Map(
    pool.orderIds.map((id, i) => [id, pool.idOf(i, withSource.paymentIds[0] ?? '')]),
  );
  await service.settle();
  log(`${name}: ${profile.scenarioS} s, ${CONNECTIONS} connections, ${size} orders`);
  const result = await runLoad(
    scenario,
    service.target,
    pool.orderIds,
    { connections: CONNECTIONS, durationS: profile.scenarioS },
    (order) => sources.get(order)!,
  );
  log(
    `${name}: ${result.reqPerSec.toFixed(0)} req/s, p99 ${result.p99Ms} ms, errors ${result.errors}, CPU per request ${cpuText(result.cpu)}`,
  );
  return result;
}

/**
 * The same scenarios on each PostgreSQL driver (issue 24), in turns: round after round, each
 * driver's server runs each scenario once, so both meet the same machine (shared, its speed
 * drifting over minutes). Each driver's median run per scenario is reported, with every
 * round's req/s, and the second driver's median over the first's.
 */
async function compareDrivers(drivers: string[], rounds: number): Promise<void> {
  if (engine !== 'postgres') throw new Error('--drivers compares PostgreSQL drivers');
  const services = [];
  for (const driver of drivers) {
    const service = await startService({ PG_DRIVER: driver });
    services.push({ driver, service, templates: await scenarioTemplates(service) });
  }
  try {
    for (const { service } of services) await service.warmUp();
    const names = SCENARIO_NAMES.filter(wanted);
    const runs = new Map<string, LoadResult[]>();
    for (let round = 1; round <= rounds; round++) {
      for (const name of names) {
        for (const { driver, service, templates } of services) {
          log(`round ${round}/${rounds}, ${driver}:`);
          const r = await runScenario(service, templates, name);
          runs.set(`${name}|${driver}`, [...(runs.get(`${name}|${driver}`) ?? []), r]);
        }
      }
    }
    const scenarios: Report['scenarios'] = [];
    const figures: Figure[] = [];
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;
    for (const name of names) {
      const byDriver = drivers.map((driver) => runs.get(`${name}|${driver}`)!);
      byDriver.forEach((rs, d) => {
        const middle = [...rs].sort((a, b) => a.reqPerSec - b.reqPerSec)[(rs.length - 1) >> 1]!;
        const each = rs.map((r) => Math.round(r.reqPerSec)).join(' / ');
        const errors = rs.reduce((sum, r) => sum + r.errors, 0);
        scenarios.push({
          ...middle,
          scenario: `${name}, ${drivers[d]} (median of ${each})`,
          errors,
        });
        figures.push(exactly(`${name}, ${drivers[d]}: errors`, errors, 0));
      });
      // Issue 24's rule: the candidate within 10 % of today's layer, or better. Judged on
      // the rounds' paired ratios (runs seconds apart meet the same machine), their median;
      // the service's CPU per request likewise (what a request costs the service's core).
      const [base, ...others] = byDriver;
      others.forEach((rs, i) => {
        const label = `${name}: ${drivers[i + 1]} ÷ ${drivers[0]}`;
        const rates = rs.map((r, k) => r.reqPerSec / base![k]!.reqPerSec);
        const cpu = rs.map((r, k) => (r.cpu.serviceMs ?? NaN) / (base![k]!.cpu.serviceMs ?? NaN));
        figures.push(
          atLeast(`${label}, req/s (median of paired rounds)`, round(median(rates), 3), 0.9),
          atMost(
            `${label}, service CPU per request (median of paired rounds)`,
            round(median(cpu), 3),
            1.1,
          ),
        );
      });
    }
    const report = {
      ...reportHeader(),
      scenarios,
      ceilingsReported: [],
      growth: {},
      figures,
    } satisfies Report;
    const file = path.join(values.out, `bench-${engine}-${profileName}.json`);
    fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote ${file}`);
  } finally {
    for (const { service } of services) await service.close();
    await stopAllServers();
  }
}

function reportHeader() {
  return {
    engine,
    profile: profileName,
    date: new Date().toISOString(),
    machine: {
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    durability:
      engine === 'sqlite'
        ? 'SQLite WAL, synchronous=FULL'
        : 'PostgreSQL defaults: fsync=on, synchronous_commit=on',
    ...(engine === 'postgres' ? { pgPoolSize: PG_POOL_SIZE } : {}),
  };
}

async function main(): Promise<void> {
  fs.mkdirSync(values.out, { recursive: true });
  const service = await startService();
  const { target, copies } = service;
  try {
    const templates = await scenarioTemplates(service);
    const { empty } = templates;
    await service.warmUp();

    const scenarios: Report['scenarios'] = [];
    for (const name of SCENARIO_NAMES.filter(wanted)) {
      scenarios.push(await runScenario(service, templates, name));
    }

    let ceiling: CeilingResult | undefined;
    let ceilingsReported: CeilingResult[] = [];
    const create = scenarios.find((s) => s.scenario === 'create-payment');
    if (wanted('ceiling')) {
      await service.settle();
      log(`ceiling: ${profile.ceilingS} s`);
      ({ result: ceiling, reported: ceilingsReported } = await measureCeiling(profile.ceilingS));
      log(
        [ceiling, ...ceilingsReported]
          .map(
            (c, i) =>
              `${i === 0 ? 'ceiling: ' : '; also '}${c.txPerSec.toFixed(0)} tx/s (${c.tool}${c.cpu ? `; CPU per transaction ${cpuText(c.cpu)}` : ''})`,
          )
          .join(''),
      );
      if (create) create.ratioToCeiling = create.reqPerSec / ceiling.txPerSec;
    }

    // Growth: each write of the payment cycle alone, on orders that hold 10 (then 100)
    // payments once it is done, with a small history in the database, then with a large one.
    // One request per order, so every request meets the same order size.
    const growth: Report['growth'] = {};
    if (wanted('growth')) {
      // Each case on a database of its own (the runs above added to theirs), so one case's
      // copies never become another's history: a 100-payment run copies 200,000 payments.
      const cases = [
        { history: 'small', n: 10, payments: profile.historySmall },
        { history: 'small', n: 100, payments: profile.historySmall },
        { history: 'large', n: 10, payments: profile.historyLarge },
      ].map((c) => ({ ...c, label: (op: string) => `${op}, ${c.n}/order, ${c.history} history` }));
      const prepared = [];
      for (const c of cases) {
        const service = await startService();
        const { server, org } = service;
        const templates = {
          receipts: await templateOrder(server.url, org, c.n - 1),
          pending: await templateOrder(server.url, org, c.n - 1, 1, true),
        };
        // History in bulk: copies of an order of 100 receipts.
        const full = await templateOrder(server.url, org, 100);
        const now = await countPayments(service.fx.database);
        if (c.payments > now) await service.copies(full, Math.ceil((c.payments - now) / 100));
        prepared.push({ ...c, service, templates });
      }
      // Warmed up only now that every database is seeded: servers warmed before the minutes
      // of the large top-up spent up to three times the CPU per request in their first runs
      // that they spent in their later ones (cause not established; the warm-up now ends
      // right before the measured runs, as for the scenarios above).
      for (const { service } of prepared) await service.warmUp();
      const ops = [
        // a pending receipt created: the order then holds n payments
        { op: 'create', scenario: SCENARIOS['create-pending']!, from: 'receipts' as const },
        // the order's pending receipt confirmed (answers the order's n payments): at 100
        // payments reported with its reason, not judged (below)
        { op: 'confirm', scenario: SCENARIOS.confirm!, from: 'pending' as const },
        // a refund of one of its receipts: the order then holds n payments
        { op: 'refund', scenario: SCENARIOS.refund!, from: 'receipts' as const },
        // confirm again, answered minimally (`Prefer: return=minimal`): the write path alone,
        // without the order's list the default answer carries. Its growth at 100 payments
        // is the judged one for confirm (issue 23).
        {
          op: 'confirm minimal',
          scenario: SCENARIOS['confirm-minimal']!,
          from: 'pending' as const,
        },
      ];
      // The cases take turns, run by run: the machine's speed drifts by more than the
      // judged 20 % over minutes (the service's own CPU per request included), and a
      // ratio of runs a few seconds apart is not moved by it.
      const runs = new Map<string, { result: LoadResult; payments: number }[]>();
      for (let round = 1; round <= profile.growthRounds; round++) {
        for (const { op, scenario, from } of ops) {
          for (const { service, templates, label } of prepared) {
            const template = templates[from];
            // confirm: the order's pending receipt (its last); refund: its first receipt.
            const subject =
              from === 'pending' ? template.paymentIds.at(-1)! : template.paymentIds[0]!;
            const ordersFor = async (cycles: number) => {
              const pool = await service.copies(template, cycles);
              const subjects = new Map(pool.orderIds.map((id, i) => [id, pool.idOf(i, subject)]));
              return {
                cycles,
                orderIds: pool.orderIds,
                subjectOf: (o: string) => subjects.get(o)!,
              };
            };
            const load = (orders: Awaited<ReturnType<typeof ordersFor>>) =>
              runLoad(
                scenario,
                service.target,
                orders.orderIds,
                { connections: CONNECTIONS, cycles: orders.cycles },
                orders.subjectOf,
              );
            const warm = await ordersFor(profile.growthWarmCycles);
            const measured = await ordersFor(profile.growthCycles);
            const payments = await countPayments(service.fx.database);
            await service.settle();
            // The same operation first, unreported: after the 100-payment server's confirms
            // (60 KB answers) a full collection in the pause deoptimized ~230 of its compiled
            // functions, and the next run paid for compiling them again: twice the service's
            // CPU per refund for seconds (docs/performance.md). Every case gets it.
            const warmed = await load(warm);
            const r = await load(measured);
            // A failure while warming up counts as well.
            const result = { ...r, errors: r.errors + warmed.errors };
            runs.set(label(op), [...(runs.get(label(op)) ?? []), { result, payments }]);
            log(
              `growth ${label(op)}, run ${round}/${profile.growthRounds}: ${r.reqPerSec.toFixed(0)} req/s, p50 ${r.p50Ms} ms, errors ${result.errors}, CPU per request ${cpuText(r.cpu)}`,
            );
          }
        }
      }
      for (const [label, rs] of runs) {
        const byRate = [...rs].sort((a, b) => a.result.reqPerSec - b.result.reqPerSec);
        const median = byRate[(byRate.length - 1) >> 1]!.result;
        growth[label] = {
          ...median,
          // A failure in any run counts, not only in the median one.
          errors: rs.reduce((sum, r) => sum + r.result.errors, 0),
          roundsReqPerSec: rs.map((r) => Math.round(r.result.reqPerSec)),
          paymentsInDatabase: rs[0]!.payments,
          paymentsInDatabaseAtEnd: rs.at(-1)!.payments,
          paymentsPerOrder: Number(/, (\d+)\/order/.exec(label)![1]),
        };
      }
      for (const { service } of prepared) await service.close();
    }

    // 1 and 2 workers (WORKERS), and the service with and without its metrics (METRICS=0),
    // each pair side by side on the same mixed load in turns (issue 23, issue 20).
    let workers: Comparison | undefined;
    if (wanted('workers')) {
      const two = await startService({ WORKERS: '2' });
      try {
        workers = await inTurns(
          { label: '1 worker', service, template: empty },
          { label: '2 workers', service: two },
        );
      } finally {
        await two.close();
      }
    }
    let metrics: Comparison | undefined;
    if (wanted('metrics') && process.env.METRICS === undefined) {
      const off = await startService({ METRICS: '0' });
      try {
        metrics = await inTurns(
          { label: 'metrics off', service: off },
          { label: 'metrics on', service, template: empty },
        );
      } finally {
        await off.close();
      }
    }

    // Webhooks (issue 21): the service as it runs everywhere (delivery worker on, no
    // endpoint) against one with an enabled endpoint taking every event, a receiver here.
    let webhooks: Report['webhooks'];
    if (wanted('webhooks')) {
      const receiver = await startReceiver();
      // Its orders are copied without their events: only the load's own are delivered.
      const hooked = await startService(
        { WEBHOOK_ALLOW_HTTP: '1', WEBHOOK_ALLOW_PRIVATE: '1' },
        { copyEvents: false },
      );
      try {
        await receiver.register(hooked.server.url, hooked.org);
        const template = await templateOrder(hooked.server.url, hooked.org, 0);
        await hooked.warmUp();
        // The warm-up's deliveries are not the measured runs' lags.
        await receiver.drain(hooked.fx.database);
        receiver.reset();
        const comparison = await inTurns(
          { label: 'no webhook endpoint', service, template: empty },
          {
            label: 'one webhook endpoint',
            service: hooked,
            template,
            afterRun: () => receiver.drain(hooked.fx.database),
          },
        );
        webhooks = { ...comparison, deliveries: receiver.figures() };
        const d = webhooks.deliveries;
        log(
          `webhooks: ${d.delivered} delivered, lag p50 ${d.lagP50Ms} ms, p99 ${d.lagP99Ms} ms (by run ${d.lagP99ByRunMs.join(' / ')}), ${d.pendingAtStop} pending at a run's end, drained in ${d.drainS} s, ${d.leftAfterDrain} left`,
        );
      } finally {
        await hooked.close();
        await receiver.close();
      }
    }

    let memory: Report['memory'];
    if (profile.memoryS > 0 && wanted('memory')) {
      const scenario = SCENARIOS.mixed!;
      const pool = await copies(empty, poolSize(scenario.paymentsPerCycle, 6, profile.memoryS));
      const samples: number[] = [];
      log(`memory: mixed for ${profile.memoryS} s`);
      const r = await runLoad(scenario, target, pool.orderIds, {
        connections: CONNECTIONS,
        durationS: profile.memoryS,
        onSecond: (_s, rss) => samples.push(rss),
      });
      // RSS saws with the collector by a quarter and more within seconds (SQLite, one run:
      // 234–290 MB between 21 and 30 s, 244–296 MB in the last ten), so one sample at each
      // end compares two arbitrary points of that saw (it read 1.33 where every sample of the
      // last ten seconds was within 1.02 of the highest near 30 s). Each end is the median of
      // its ten one-second samples; a leak lifts the whole saw, and so the median.
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;
      memory = {
        rssAt30sMb: median(samples.slice(20, 30)),
        rssAtEndMb: median(samples.slice(-10)),
        seconds: profile.memoryS,
        samples,
      };
      scenarios.push({ ...r, scenario: `mixed ${profile.memoryS} s` });
    }

    let summary: ReportRun | undefined;
    if (wanted('report')) summary = await measureReport();
    if (summary) scenarios.push(summary.result);

    const mixed = scenarios.find((s) => s.scenario === 'mixed');
    // Cost ratio: the small case's throughput over the grown case's, per operation; of the
    // runs' ratios (each of a small and a grown run taken in turn), the median.
    const costRatio = (op: string, n: number, history: string) => {
      const base = growth[`${op}, 10/order, small history`]?.roundsReqPerSec;
      const grown = growth[`${op}, ${n}/order, ${history} history`]?.roundsReqPerSec;
      if (base === undefined || grown === undefined) return undefined;
      const ratios = base.map((b, i) => b / grown[i]!).sort((a, b) => a - b);
      return round(ratios[(ratios.length - 1) >> 1]!, 3);
    };
    const paymentsMet = (label: string) => {
      const g = growth[label];
      return g && `${g.paymentsInDatabase}–${g.paymentsInDatabaseAtEnd}`;
    };
    // Confirm at 100 payments/order is judged on its `Prefer: return=minimal` answer (API.md
    // §3.5): the default answer is the seed's whole list of the order's payments, which grows
    // with them by contract, so its figure is reported with that reason, not judged.
    const reported: NonNullable<Report['reported']> = [];
    const confirmWhole = costRatio('confirm', 100, 'small');
    if (confirmWhole !== undefined)
      reported.push({
        name: 'growth confirm (default answer): 100 vs 10 payments/order, cost ratio',
        value: confirmWhole,
        reason:
          'answers the order’s whole list of payments, as the seed does (API.md §3.5): 10× the payments, 10× the answer; the write itself is judged on return=minimal',
      });
    const growthFigures = ['create', 'confirm', 'refund'].flatMap((op) =>
      [
        op === 'confirm'
          ? [
              'growth confirm (return=minimal): 100 vs 10 payments/order, cost ratio',
              costRatio('confirm minimal', 100, 'small'),
            ]
          : [`growth ${op}: 100 vs 10 payments/order, cost ratio`, costRatio(op, 100, 'small')],
        [
          // The counts the runs met (each run's copies add to its database's history).
          `growth ${op}: ${paymentsMet(`${op}, 10/order, large history`)} vs ${paymentsMet(
            `${op}, 10/order, small history`,
          )} payments in the database, cost ratio`,
          costRatio(op, 10, 'large'),
        ],
      ].flatMap(([name, value]) =>
        value === undefined ? [] : [atMost(name as string, value as number, 1.2)],
      ),
    );
    const figures: Figure[] = [
      ...scenarios.map((s) => exactly(`${s.scenario}: errors`, s.errors, 0)),
      ...Object.entries(growth).map(([k, g]) => exactly(`growth ${k}: errors`, g.errors, 0)),
      ...(mixed ? [atMost('mixed: p99 ms', mixed.p99Ms, 50)] : []),
      ...(create?.ratioToCeiling !== undefined
        ? [
            atLeast(
              'create-payment: share of the engine ceiling',
              round(create.ratioToCeiling, 3),
              engine === 'sqlite' ? 0.6 : 0.5,
            ),
          ]
        : []),
      ...growthFigures,
      ...(workers
        ? [
            ...comparisonErrors(workers),
            atMost('mixed, 2 workers: p99 ms', workers.sides[1].p99Ms, 50),
            // PostgreSQL takes the second process's work; SQLite has one writer whatever the
            // process count, so its figure is reported, not judged (issue 23).
            ...(engine === 'postgres'
              ? [atLeast('mixed: 2 workers ÷ 1 worker, throughput', workers.ratio, 1.3)]
              : []),
          ]
        : []),
      ...(metrics
        ? [
            ...comparisonErrors(metrics),
            atLeast('mixed: metrics on ÷ off, throughput', metrics.ratio, 0.97),
          ]
        : []),
      ...(webhooks
        ? [
            ...comparisonErrors(webhooks),
            atLeast('mixed: one webhook endpoint ÷ none, throughput', webhooks.ratio, 0.9),
            atMost('webhooks: delivery lag p99 ms', webhooks.deliveries.lagP99Ms, 1000),
            exactly(
              'webhooks: deliveries still pending 120 s after a run',
              webhooks.deliveries.leftAfterDrain,
              0,
            ),
          ]
        : []),
      ...(summary ? [atMost('report one day: p99 ms', summary.result.p99Ms, 50)] : []),
      ...(memory
        ? [
            atMost(
              'memory: RSS at end ÷ RSS at 30 s',
              round(memory.rssAtEndMb / memory.rssAt30sMb, 3),
              1.2,
            ),
          ]
        : []),
    ];
    const report: Report = {
      ...reportHeader(),
      scenarios,
      ...(ceiling ? { ceiling } : {}),
      ceilingsReported,
      growth,
      ...(workers ? { workers } : {}),
      ...(metrics ? { metrics } : {}),
      ...(webhooks ? { webhooks } : {}),
      reported: [
        ...reported,
        ...(workers && engine === 'sqlite'
          ? [
              {
                name: 'mixed: 2 workers ÷ 1 worker, throughput',
                value: workers.ratio,
                reason:
                  'SQLite has one writer at a time, whatever the process count: a second process adds cores for reads and HTTP, and contends for the write lock across processes',
              },
            ]
          : []),
      ],
      ...(memory ? { memory } : {}),
      figures,
    };
    const file = path.join(values.out, `bench-${engine}-${profileName}.json`);
    fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote ${file}`);
  } finally {
    // A graceful stop first (a --cpu-prof profile is written on exit), then anything left.
    await service.close();
    await stopAllServers();
  }
}

interface ReportRun {
  result: LoadResult & { paymentsInDatabase: number; paymentsInDay: number };
}

/**
 * GET /v1/om/reports/payments-summary over one local day (API.md §8), by method and by day,
 * with `reportHistory` payments spread over the past year in the database: the requests one
 * at a time (a back office asks for a report, it does not storm it), `reportRequests`
 * unreported first, then as many measured.
 */
async function measureReport(): Promise<ReportRun> {
  const service = await startService();
  try {
    const { server, org } = service;
    // An order of 100 receipts, copied into the past: copy i is i × spread earlier, so the
    // history covers 365 days evenly.
    const full = await templateOrder(server.url, org, 100);
    const copies = Math.ceil(profile.reportHistory / 100);
    const spreadMs = Math.floor((365 * 86_400_000) / copies);
    log(`report: seeding ${copies * 100} payments over a year`);
    await new Seeder(service.fx.database).copyOrder(org.id, full.orderId, copies, spreadMs);
    const payments = await countPayments(service.fx.database);
    // The local day (the organization's zone, Asia/Riyadh: +03:00 all year) of the middle
    // copy, so the day holds payments in every profile.
    const middle = Date.now() - Math.floor(copies / 2) * spreadMs;
    const day = new Date(middle + 3 * 3_600_000).toISOString().slice(0, 10);
    const from = `${day}T00:00:00+03:00`;
    const to = new Date(Date.parse(from) + 86_400_000).toISOString();
    const headers = { 'api-key': org.keys.manager, 'organization-id': org.id };
    const urls = ['method', 'method,day'].map(
      (groupBy) =>
        `/v1/om/reports/payments-summary?${new URLSearchParams({ from, to, groupBy }).toString()}`,
    );
    const first = await call(server.url, 'GET', urls[0]!, headers);
    if (first.status !== 200) throw new Error(`report: ${first.text}`);
    const totals = first.body.data.totals as { receipts: { count: number } };
    await service.settle();
    const histogram = new Histogram();
    let errors = 0;
    const statusCodes: Record<string, number> = {};
    const failures: string[] = [];
    const startedAt = { value: 0 };
    let cpuBefore = cpuSnapshot(server.pid, engine === 'postgres');
    for (let i = 0; i < 2 * profile.reportRequests; i++) {
      if (i === profile.reportRequests) {
        startedAt.value = performance.now();
        cpuBefore = cpuSnapshot(server.pid, engine === 'postgres');
      }
      const t0 = performance.now();
      const r = await call(server.url, 'GET', urls[i % urls.length]!, headers);
      const ms = performance.now() - t0;
      if (i < profile.reportRequests) continue;
      histogram.record(ms);
      statusCodes[r.status] = (statusCodes[r.status] ?? 0) + 1;
      if (r.status !== 200) {
        errors++;
        if (failures.length < 3) failures.push(r.text.slice(0, 200));
      }
    }
    const seconds = (performance.now() - startedAt.value) / 1000;
    const cpu = cpuPerRequest(
      cpuBefore,
      cpuSnapshot(server.pid, engine === 'postgres'),
      profile.reportRequests,
      engine === 'postgres',
    );
    const result = {
      scenario: `report: payments-summary, one day (${totals.receipts.count} payments of ${payments}), 1 connection`,
      connections: 1,
      durationS: Math.round(seconds * 10) / 10,
      requests: profile.reportRequests,
      reqPerSec: profile.reportRequests / seconds,
      ...histogram.summaryMs(),
      errors,
      statusCodes,
      failures,
      rssMb: rssMb(server.pid),
      cpu,
      paymentsInDatabase: payments,
      paymentsInDay: totals.receipts.count,
    };
    log(
      `report: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms over ${totals.receipts.count} payments of the day, ${payments} in the database, errors ${errors}`,
    );
    return { result };
  } finally {
    await service.close();
  }
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

if (values.drivers !== undefined)
  await compareDrivers(values.drivers.split(','), Number(values.rounds));
else await main();
