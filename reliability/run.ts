// `npm run reliability [-- --profile ci|full] [--only races,fuzz]`: runs the black-box suites
// against the real server on the engine under test (TEST_DATABASE_URL: PostgreSQL; unset:
// SQLite), writes one JSON file of figures per suite and a summary, prints a table, and
// exits non-zero when any figure misses its mark.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ENGINE, ROOT, passes, stopAllServers, type Profile, type SuiteResult } from './lib.ts';

export interface Suite {
  name: string;
  run(profile: Profile): Promise<SuiteResult>;
}

const SUITES: Record<string, () => Promise<Suite>> = {
  races: async () => (await import('./suites/races.ts')).suite,
  idempotency: async () => (await import('./suites/idempotency.ts')).suite,
  crash: async () => (await import('./suites/crash.ts')).suite,
  fuzz: async () => (await import('./suites/fuzz.ts')).suite,
  isolation: async () => (await import('./suites/isolation.ts')).suite,
};

const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'ci' },
    only: { type: 'string' },
    out: { type: 'string', default: path.join(ROOT, '.reliability') },
  },
});
const profile = values.profile as Profile;
if (profile !== 'ci' && profile !== 'full') {
  console.error('reliability: --profile must be ci or full');
  process.exit(2);
}
const names = values.only?.split(',') ?? Object.keys(SUITES);
fs.mkdirSync(values.out, { recursive: true });

const results: SuiteResult[] = [];
let failed = false;
for (const name of names) {
  const load = SUITES[name];
  if (load === undefined) {
    console.error(`reliability: unknown suite ${name}`);
    process.exit(2);
  }
  try {
    const result = await (await load()).run(profile);
    results.push(result);
    fs.writeFileSync(
      path.join(values.out, `${name}-${ENGINE}.json`),
      `${JSON.stringify(result, null, 2)}\n`,
    );
  } catch (error) {
    failed = true;
    console.error(`reliability: suite ${name} failed to run:`, error);
  } finally {
    await stopAllServers();
  }
}

const rows = results.flatMap((r) =>
  r.figures.map((f) => ({
    suite: r.suite,
    figure: f.name,
    value: f.value,
    mark: `${f.mark.op} ${f.mark.target}`,
    ok: passes(f),
  })),
);
const width = (k: keyof (typeof rows)[number]) =>
  Math.max(k.length, ...rows.map((r) => String(r[k]).length));
const line = (r: Record<string, unknown>) =>
  (['suite', 'figure', 'value', 'mark', 'ok'] as const)
    .map((k) => String(r[k]).padEnd(width(k)))
    .join('  ');
console.log(
  `\nreliability: profile ${profile}, engine ${ENGINE}, ${os.cpus().length} cores, node ${process.version}`,
);
console.log(line({ suite: 'suite', figure: 'figure', value: 'value', mark: 'mark', ok: 'ok' }));
for (const r of rows) console.log(line({ ...r, ok: r.ok ? 'ok' : 'MISSED' }));
const missed = rows.filter((r) => !r.ok).length;
fs.writeFileSync(
  path.join(values.out, `summary-${ENGINE}.json`),
  `${JSON.stringify({ profile, engine: ENGINE, date: new Date().toISOString(), cores: os.cpus().length, node: process.version, results }, null, 2)}\n`,
);
console.log(`reliability: ${rows.length - missed} passed, ${missed} failed`);
process.exit(failed || missed > 0 ? 1 : 0);
