// `npm run bench [-- --profile smoke|quick|full] [--only a,b] [--engine sqlite|postgres]
// [--drivers pg,postgres-js [--rounds N]]`:
// the benchmark on the embedded engine, then on PostgreSQL when TEST_DATABASE_URL names a
// server (scripts/with-postgres.sh sets it); --engine runs one of them. Each engine runs in its own process (bench/engine.ts); this prints one table and
// the judged figures, writes .bench/summary-<profile>.json and .bench/summary-<profile>.md,
// and exits non-zero if a run failed or, for the full profile, a target was missed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { passes, ROOT, type Figure } from '../reliability/lib.ts';
import { cpuText, type CpuPerRequest } from './cpu.ts';
import { PROFILES, type ProfileName } from './profiles.ts';
import type { DeliveryFigures } from './webhooks.ts';

const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'full' },
    only: { type: 'string' },
    engine: { type: 'string' },
    out: { type: 'string', default: '.bench' },
    /** PostgreSQL drivers to compare in turns, e.g. pg,postgres-js (bench/engine.ts). */
    drivers: { type: 'string' },
    rounds: { type: 'string' },
  },
});
const profile = values.profile as ProfileName;
if (!(profile in PROFILES)) {
  console.error(`bench: unknown profile ${profile} (smoke, quick or full)`);
  process.exit(2);
}
const out = path.resolve(values.out);
fs.mkdirSync(out, { recursive: true });

const pgUrl = process.env.TEST_DATABASE_URL;
const engines: { engine: string; env: NodeJS.ProcessEnv }[] = [
  { engine: 'sqlite', env: { ...process.env, TEST_DATABASE_URL: '' } },
  ...(pgUrl?.startsWith('postgres') ? [{ engine: 'postgres', env: process.env }] : []),
].filter((e) => values.engine === undefined || e.engine === values.engine);
if (engines.length === 0) {
  console.error(`bench: no ${values.engine} engine to run (postgres needs TEST_DATABASE_URL)`);
  process.exit(2);
}

interface Row {
  scenario: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  errors: number;
  ratioToCeiling?: number;
  rssMb?: number;
  paymentsInDatabase?: number;
  cpu?: CpuPerRequest;
}
interface Ceiling {
  tool: string;
  txPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  statementsPerTx: number;
  cpu?: CpuPerRequest;
}
/** Two services under the mixed load in turns (bench/engine.ts inTurns). */
interface Comparison {
  sides: (Row & { label: string; roundsReqPerSec: number[] })[];
  ratio: number;
  roundRatios: number[];
}
interface Report {
  engine: string;
  date: string;
  machine: { cores: number; cpu: string; memoryGiB: number; node: string };
  durability: string;
  pgPoolSize?: number;
  scenarios: Row[];
  ceiling?: Ceiling;
  ceilingsReported?: Ceiling[];
  growth: Record<string, Row & { paymentsPerOrder: number; roundsReqPerSec?: number[] }>;
  memory?: { rssAt30sMb: number; rssAtEndMb: number; seconds: number };
  workers?: Comparison;
  metrics?: Comparison;
  webhooks?: Comparison & { deliveries: DeliveryFigures };
  reported?: { name: string; value: number; reason: string }[];
  figures: Figure[];
}

let failed = false;
const reports: Report[] = [];
for (const { engine, env } of engines) {
  const args = [
    '--import',
    'tsx',
    path.join(ROOT, 'bench/engine.ts'),
    '--profile',
    profile,
    '--out',
    out,
  ];
  if (values.only !== undefined) args.push('--only', values.only);
  if (values.drivers !== undefined) args.push('--drivers', values.drivers);
  if (values.rounds !== undefined) args.push('--rounds', values.rounds);
  const child = spawnSync(process.execPath, args, { cwd: ROOT, env, stdio: 'inherit' });
  const file = path.join(out, `bench-${engine}-${profile}.json`);
  if (child.status !== 0 || !fs.existsSync(file)) {
    console.error(`bench: the ${engine} run failed (exit ${child.status})`);
    failed = true;
    continue;
  }
  reports.push(JSON.parse(fs.readFileSync(file, 'utf8')) as Report);
}

const fmt = (x: number | undefined, digits = 1) =>
  x === undefined || Number.isNaN(x) ? '' : x.toFixed(digits);
const lines: string[] = [];
for (const r of reports) {
  lines.push(
    `### ${r.engine} — ${r.date.slice(0, 16).replace('T', ' ')} UTC, profile ${profile}`,
    '',
    `${r.machine.cores} cores (${r.machine.cpu}), ${r.machine.memoryGiB} GiB, Node ${r.machine.node}; ` +
      `${r.durability}${r.pgPoolSize ? `; service pool ${r.pgPoolSize}` : ''}; 50 connections, ` +
      'load generator on the same machine; every write with an Idempotency-Key.',
    '',
    '| run | req/s | p50 ms | p99 ms | p99.9 ms | errors | ÷ ceiling | RSS MB | payments in DB | CPU ms per request |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  );
  const row = (name: string, s: Row) =>
    `| ${name} | ${fmt(s.reqPerSec, 0)} | ${fmt(s.p50Ms)} | ${fmt(s.p99Ms)} | ${fmt(s.p999Ms)} | ${s.errors} | ${fmt(s.ratioToCeiling, 2)} | ${fmt(s.rssMb)} | ${s.paymentsInDatabase ?? ''} | ${s.cpu ? cpuText(s.cpu) : ''} |`;
  for (const s of r.scenarios) lines.push(row(s.scenario, s));
  for (const [k, g] of Object.entries(r.growth)) {
    const runs = g.roundsReqPerSec ?? [];
    // The median run's figures; every run's req/s after the name.
    lines.push(row(`growth: ${k}${runs.length > 1 ? ` (median of ${runs.join(' / ')})` : ''}`, g));
  }
  const create = r.scenarios.find((s) => s.scenario === 'create-payment');
  const ceilingRow = (c: Ceiling, judged: boolean) =>
    `| engine ceiling${judged ? '' : ' (reported, not judged)'}: create payment (${c.statementsPerTx} statements; ${c.tool}) | ${fmt(c.txPerSec, 0)} | ${fmt(c.p50Ms, 2)} | ${fmt(c.p99Ms, 2)} | ${fmt(c.p999Ms, 2)} | 0 | ${judged ? '1.00' : `create-payment ÷ this: ${fmt(create && create.reqPerSec / c.txPerSec, 2)}`} | | | ${c.cpu ? cpuText(c.cpu) : ''} |`;
  for (const c of [r.workers, r.metrics, r.webhooks])
    for (const w of c?.sides ?? [])
      lines.push(row(`${w.scenario} (median of ${w.roundsReqPerSec.join(' / ')}, in turn)`, w));
  if (r.ceiling) lines.push(ceilingRow(r.ceiling, true));
  for (const c of r.ceilingsReported ?? []) lines.push(ceilingRow(c, false));
  if (r.memory)
    lines.push(
      '',
      `Memory: RSS ${r.memory.rssAt30sMb} MB after 30 s, ${r.memory.rssAtEndMb} MB after ${r.memory.seconds} s of mixed load (each the median of ten one-second samples).`,
    );
  lines.push('', '| figure | value | target | met |', '| --- | ---: | ---: | --- |');
  for (const f of r.figures)
    lines.push(
      `| ${f.name} | ${f.value} | ${f.mark.op} ${f.mark.target} | ${passes(f) ? 'yes' : '**no**'} |`,
    );
  for (const f of r.reported ?? [])
    lines.push(`| ${f.name} | ${f.value} | reported, not judged: ${f.reason} | |`);
  lines.push('');
}
// Each comparison in turns, every engine side by side.
for (const [key, title] of [
  ['workers', 'Mixed load, 1 vs 2 workers (WORKERS)'],
  ['metrics', 'Mixed load, metrics off vs on (METRICS=0)'],
  ['webhooks', 'Mixed load, no webhook endpoint vs one taking every event'],
] as const) {
  const compared = reports.filter((r) => r[key] !== undefined);
  if (compared.length === 0) continue;
  lines.push(
    `### ${title}, profile ${profile}`,
    '',
    '| engine | service | req/s (median) | runs, in turn | p50 ms | p99 ms | errors | CPU ms per request | second ÷ first (median of the rounds’ ratios) |',
    '| --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: |',
  );
  for (const r of compared) {
    const c = r[key]!;
    c.sides.forEach((w, i) =>
      lines.push(
        `| ${r.engine} | ${w.label} | ${fmt(w.reqPerSec, 0)} | ${w.roundsReqPerSec.join(' / ')} | ${fmt(w.p50Ms)} | ${fmt(w.p99Ms)} | ${w.errors} | ${w.cpu ? cpuText(w.cpu) : ''} | ${i === 1 ? `${fmt(c.ratio, 2)} (${c.roundRatios.map((x) => fmt(x, 2)).join(' / ')})` : ''} |`,
      ),
    );
  }
  lines.push('');
  if (key === 'webhooks')
    for (const r of compared) {
      const d = r.webhooks!.deliveries;
      lines.push(
        `${r.engine}: ${d.delivered} events delivered; lag from the event's commit to the first attempt p50 ${d.lagP50Ms} ms, p99 ${d.lagP99Ms} ms (by run: ${d.lagP99ByRunMs.join(' / ')} ms); at most ${d.pendingAtStop} deliveries pending when a run's load stopped, drained in ${d.drainS} s at most (${d.leftAfterDrain} left after 120 s).`,
        '',
      );
    }
}
const markdown = lines.join('\n');
console.log(`\n${markdown}`);
fs.writeFileSync(path.join(out, `summary-${profile}.md`), markdown);
fs.writeFileSync(
  path.join(out, `summary-${profile}.json`),
  `${JSON.stringify({ profile, reports }, null, 2)}\n`,
);
// Only the full profile is long enough for its figures to mean anything; shorter ones are
// judged on errors alone (their job is to show the benchmark works).
const judged = reports.flatMap((r) =>
  r.figures.filter((f) => profile === 'full' || f.name.endsWith(': errors')),
);
const missed = judged.filter((f) => !passes(f));
console.log(`bench: ${judged.length - missed.length} judged figures met, ${missed.length} missed`);
process.exit(failed || missed.length > 0 ? 1 : 0);
