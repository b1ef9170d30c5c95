// The engine's own ceiling for the create-payment request: the statements the service really
// sends for it (captured from the running code, auth lookups and idempotency record
// included), replayed by the smallest possible client — a synchronous loop over prepared
// statements on better-sqlite3, and pgbench on PostgreSQL (beside it, reported, the same
// statements through the raw Node driver). The service's throughput divided by this is the
// share of the engine the service keeps (issue 6).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { uuidv7 } from 'uuidv7';
import type { ExecutedStatement } from '../src/db/engine.ts';
import { openSqlite } from '../src/db/engine.ts';
import { cpuPerRequest, machineCpu, type CpuPerRequest } from './cpu.ts';
import { Histogram } from './histogram.ts';

/** What one captured parameter becomes when the statement is replayed. */
type ParamPlan =
  | { kind: 'constant'; value: unknown }
  /** The order the iteration works on (rotates over a pool, as the service load does). */
  | { kind: 'order' }
  /** A value the service made new for this request (an id, an idempotency key). */
  | { kind: 'fresh'; slot: number };

export interface ReplayPlan {
  /** `withNext`: sent in one round trip with the statement after it (PostgreSQL batches). */
  statements: { sql: string; params: ParamPlan[]; withNext: boolean }[];
  freshSlots: number;
}

const INSTANT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/**
 * Two captures of the same request on two orders tell constants from per-request values:
 * a position that differs is the order, a fresh identity (unique per request: ids and keys)
 * or a value with no uniqueness to respect (figures, timestamps, JSON copies), which is
 * replayed as captured.
 */
export function planReplay(
  first: ExecutedStatement[],
  second: ExecutedStatement[],
  orders: [string, string],
): ReplayPlan {
  if (first.length !== second.length)
    throw new Error(`captures differ: ${first.length} vs ${second.length} statements`);
  const slots = new Map<string, number>();
  const statements = first.map((a, i) => {
    const b = second[i]!;
    if (a.sql !== b.sql || Boolean(a.withNext) !== Boolean(b.withNext))
      throw new Error(`capture ${i} differs:\n${a.sql}\n${b.sql}`);
    const params = a.parameters.map((value, j): ParamPlan => {
      const other = b.parameters[j];
      if (value === other) return { kind: 'constant', value };
      if (value === orders[0] && other === orders[1]) return { kind: 'order' };
      const identity = typeof value === 'string' && value.length <= 64 && !INSTANT.test(value);
      if (!identity) return { kind: 'constant', value };
      let slot = slots.get(value);
      if (slot === undefined) slots.set(value, (slot = slots.size));
      return { kind: 'fresh', slot };
    });
    return { sql: a.sql, params, withNext: a.withNext ?? false };
  });
  return { statements, freshSlots: slots.size };
}

/** Captures the statements of `send` (one request) while `record` is switched on. */
export async function capture(
  sink: { record: ExecutedStatement[] | null },
  send: () => Promise<void>,
): Promise<ExecutedStatement[]> {
  sink.record = [];
  try {
    await send();
    return sink.record;
  } finally {
    sink.record = null;
  }
}

export interface CeilingResult {
  engine: 'sqlite' | 'postgres';
  tool: string;
  connections: number;
  durationS: number;
  transactions: number;
  txPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  statementsPerTx: number;
  /** Transactions per commit (1 unless a grouped replay). */
  groupSize?: number;
  /** CPU per transaction: PostgreSQL's processes, and pgbench with the rest of the machine. */
  cpu?: CpuPerRequest;
}

/** better-sqlite3 on the same file with the service's pragmas (WAL, synchronous=FULL). */
export function sqliteCeiling(
  file: string,
  plan: ReplayPlan,
  orders: string[],
  durationS: number,
  /**
   * Transactions per commit. 1: each replayed request commits (and fsyncs) on its own, the
   * ceiling the target is judged on. n > 1: the requests' own statements (savepoint …
   * release) run n at a time inside one begin/commit, as the service's group commit runs
   * the requests of one event-loop turn — the engine's ceiling for what the service does.
   */
  groupSize = 1,
): CeilingResult {
  const handle = openSqlite(file);
  try {
    const control = (sql: string) => /^(begin|commit)\b/i.test(sql);
    const statements = plan.statements.filter((s) => groupSize === 1 || !control(s.sql));
    if (groupSize > 1 && statements.length !== plan.statements.length - 2)
      throw new Error('grouped replay: expected one begin and one commit per request');
    const begin = handle.prepare('begin immediate');
    const commit = handle.prepare('commit');
    const prepared = statements.map((s) => ({
      stmt: handle.prepare(s.sql),
      params: s.params,
    }));
    const hist = new Histogram();
    const fresh: string[] = new Array<string>(plan.freshSlots);
    const start = performance.now();
    const end = start + durationS * 1000;
    let n = 0;
    for (; performance.now() < end || (groupSize > 1 && n % groupSize !== 0); n++) {
      const t0 = performance.now();
      if (groupSize > 1 && n % groupSize === 0) begin.run();
      for (let k = 0; k < fresh.length; k++) fresh[k] = uuidv7();
      const order = orders[n % orders.length]!;
      for (const { stmt, params } of prepared) {
        const values = valuesOf(params, order, fresh);
        if (stmt.reader) stmt.all(...values);
        else stmt.run(...values);
      }
      // A grouped request's latency includes the shared commit it waits for (the last's).
      if (groupSize > 1 && n % groupSize === groupSize - 1) commit.run();
      hist.record(performance.now() - t0);
    }
    return {
      engine: 'sqlite',
      tool:
        groupSize === 1
          ? 'better-sqlite3 loop, prepared statements, one connection'
          : `better-sqlite3 loop, prepared statements, ${groupSize} transactions per commit`,
      connections: 1,
      durationS,
      transactions: n,
      txPerSec: n / ((performance.now() - start) / 1000),
      groupSize,
      ...hist.summaryMs(),
      statementsPerTx: plan.statements.length,
    };
  } finally {
    handle.close();
  }
}

/** The values of one replayed statement: captured constants, the order, fresh ids. */
function valuesOf(params: ParamPlan[], order: string, fresh: string[]): unknown[] {
  return params.map((p) =>
    p.kind === 'constant' ? p.value : p.kind === 'order' ? order : fresh[p.slot],
  );
}

/**
 * The same statements through the raw Node driver (node-postgres, one `pg.Client` per
 * connection, each statement named so PostgreSQL plans it once): what a Node process gets
 * from the engine before any service code runs. pg has no pipelining, so every statement is
 * its own round trip. Reported beside pgbench, not judged (pgbench is the engine's ceiling).
 */
export async function pgDriverCeiling(
  url: string,
  plan: ReplayPlan,
  orders: string[],
  durationS: number,
  connections: number,
): Promise<CeilingResult> {
  const clients = Array.from(
    { length: connections },
    () => new pg.Client({ connectionString: url }),
  );
  await Promise.all(clients.map((c) => c.connect()));
  try {
    const statements = plan.statements.map((s, i) => ({
      // Transaction control has no parameters and nothing to plan.
      name: s.params.length > 0 ? `ceiling_${i}` : undefined,
      text: s.sql,
      params: s.params,
    }));
    const hist = new Histogram();
    const end = performance.now() + durationS * 1000;
    let n = 0;
    const start = performance.now();
    await Promise.all(
      clients.map(async (client) => {
        const fresh: string[] = new Array<string>(plan.freshSlots);
        while (performance.now() < end) {
          const t0 = performance.now();
          const order = orders[n++ % orders.length]!;
          for (let k = 0; k < fresh.length; k++) fresh[k] = uuidv7();
          for (const s of statements)
            await client.query({
              name: s.name,
              text: s.text,
              values: valuesOf(s.params, order, fresh),
            });
          hist.record(performance.now() - t0);
        }
      }),
    );
    return {
      engine: 'postgres',
      tool: `node-postgres loop, named statements, ${connections} clients, one statement per round trip`,
      connections,
      durationS,
      transactions: n,
      txPerSec: n / ((performance.now() - start) / 1000),
      ...hist.summaryMs(),
      statementsPerTx: plan.statements.length,
    };
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

/** A PostgreSQL literal; ':' is escaped because pgbench reads ':name' as a variable. */
function pgLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `E'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/:/g, '\\x3a')}'`;
}

/**
 * One pgbench script per order (pgbench cannot pick a string from a list). Statements the
 * service sent in one round trip are one pipeline here (one Sync), as they were there.
 */
export function pgbenchScript(plan: ReplayPlan, order: string): string {
  const lines: string[] = [];
  for (let k = 0; k < plan.freshSlots; k++)
    lines.push(`\\set f${k} random(1, 9223372036854775806)`);
  let inPipeline = false;
  for (const s of plan.statements) {
    if (s.withNext && !inPipeline) lines.push('\\startpipeline');
    const text = s.sql.replace(/\s+/g, ' ').replace(/\$(\d+)/g, (_, d: string) => {
      const p = s.params[Number(d) - 1]!;
      return p.kind === 'constant'
        ? pgLiteral(p.value)
        : p.kind === 'order'
          ? pgLiteral(order)
          : `('f' || :f${p.slot})`;
    });
    lines.push(`${text};`);
    if (inPipeline && !s.withNext) lines.push('\\endpipeline');
    inPipeline = s.withNext;
  }
  return lines.join('\n') + '\n';
}

const run = promisify(execFile);

export async function pgbenchCeiling(
  url: string,
  plan: ReplayPlan,
  orders: string[],
  durationS: number,
  connections: number,
): Promise<CeilingResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'om-pgbench-'));
  try {
    // pgbench takes at most 128 scripts; 100 orders spread the row locks like the service load.
    const files = orders.slice(0, 100).map((order, i) => {
      const file = path.join(dir, `create-payment-${i}.sql`);
      fs.writeFileSync(file, pgbenchScript(plan, order));
      return file;
    });
    const bin = process.env.OM_TEST_PG_BIN
      ? path.join(process.env.OM_TEST_PG_BIN, 'pgbench')
      : 'pgbench';
    const args = [
      '--no-vacuum',
      '--protocol=prepared',
      `--client=${connections}`,
      '--jobs=2',
      `--time=${durationS}`,
      '--log',
      `--log-prefix=${path.join(dir, 'tx')}`,
      ...files.flatMap((f) => ['--file', `${f}@1`]),
      url,
    ];
    const cpuBefore = machineCpu(true);
    const { stdout } = await run(bin, args, { maxBuffer: 64 * 1024 * 1024 });
    const cpuAfter = machineCpu(true);
    const number = (re: RegExp) => {
      const m = re.exec(stdout);
      if (m === null)
        throw new Error(`pgbench output lacks ${re.source}:\n${stdout.slice(0, 2000)}`);
      return Number(m[1]);
    };
    const transactions = number(/number of transactions actually processed: (\d+)/);
    const failed = /number of failed transactions: (\d+)/.exec(stdout);
    if (failed !== null && Number(failed[1]) > 0) throw new Error(`pgbench: ${failed[0]}`);
    // The per-transaction log: "client transaction latency_us script epoch epoch_us".
    const hist = new Histogram();
    for (const f of fs.readdirSync(dir).filter((n) => n.startsWith('tx.'))) {
      for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
        const latencyUs = Number(line.split(' ')[2]);
        if (line !== '' && Number.isFinite(latencyUs)) hist.record(latencyUs / 1000);
      }
    }
    return {
      engine: 'postgres',
      tool: `pgbench --protocol=prepared, ${connections} clients, 2 threads${
        plan.statements.some((s) => s.withNext) ? ', round trips pipelined as sent' : ''
      }`,
      connections,
      durationS,
      transactions,
      txPerSec: number(/tps = ([\d.]+) \(without initial connection time\)/),
      ...hist.summaryMs(),
      statementsPerTx: plan.statements.length,
      cpu: cpuPerRequest(cpuBefore, cpuAfter, transactions, true),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
