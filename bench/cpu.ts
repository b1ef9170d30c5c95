// Where a run's CPU went, per request: the service process, PostgreSQL's processes (on
// PostgreSQL), this process (the load generator) and what the machine left idle. Read from
// /proc (Linux), so a figure says which side of a shared two-core machine paid for a request.
import fs from 'node:fs';

/** Linux reports process times in USER_HZ ticks, 100 per second on every architecture Node runs on here. */
const TICK_MS = 10;

export interface CpuSnapshot {
  /** Absent when no service runs (an engine-ceiling replay). */
  serviceMs?: number;
  databaseMs: number;
  loadGeneratorMs: number;
  machineBusyMs: number;
  machineIdleMs: number;
}

export interface CpuPerRequest {
  /** Milliseconds of CPU per request (user + system); absent for an engine-ceiling replay. */
  serviceMs?: number;
  /** PostgreSQL's processes together; absent on SQLite (it runs inside the service). */
  databaseMs?: number;
  /** This process; for a replay by another program (pgbench), that program with the rest of the machine. */
  loadGeneratorMs: number;
  /** Share of the machine's CPU time left idle during the run. */
  idleShare: number;
}

/**
 * utime + stime of a process (with `reaped`, also cutime + cstime: its children that ended,
 * which is how a backend that ends mid-run stays counted, in the postmaster's figures), or 0
 * once it is gone.
 */
function processMs(pid: number | string, reaped = false): number {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // The command name is in parentheses and may hold spaces; the fields follow the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const own = Number(fields[11]) + Number(fields[12]);
  return (reaped ? own + Number(fields[13]) + Number(fields[14]) : own) * TICK_MS;
}

/**
 * A process and its descendants (Linux): the service is one process, or with WORKERS>1 a
 * primary and its workers, whose times and memory all count as the service's.
 */
export function processTree(pid: number, depth = 3): number[] {
  if (depth === 0) return [pid];
  let children: number[] = [];
  try {
    children = fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(/\s+/)
      .filter((t) => t !== '')
      .map(Number);
  } catch {
    // gone, or no children file: the process alone
  }
  return [pid, ...children.flatMap((child) => processTree(child, depth - 1))];
}

function postgresMs(): number {
  let total = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let comm: string;
    try {
      comm = fs.readFileSync(`/proc/${entry}/comm`, 'utf8');
    } catch {
      continue;
    }
    if (comm.startsWith('postgres')) total += processMs(entry, true);
  }
  return total;
}

function machineMs(): { busy: number; idle: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal …
  const t = line.split(/\s+/).map(Number);
  const at = (i: number) => t[i] ?? 0;
  return {
    busy: (at(1) + at(2) + at(3) + at(6) + at(7) + at(8)) * TICK_MS,
    idle: (at(4) + at(5)) * TICK_MS,
  };
}

export function cpuSnapshot(servicePid: number, withDatabase: boolean): CpuSnapshot {
  const self = process.cpuUsage();
  const machine = machineMs();
  return {
    serviceMs: processTree(servicePid).reduce((sum, pid) => sum + processMs(pid), 0),
    databaseMs: withDatabase ? postgresMs() : 0,
    loadGeneratorMs: (self.user + self.system) / 1000,
    machineBusyMs: machine.busy,
    machineIdleMs: machine.idle,
  };
}

/** For a replay by another program: everything the machine ran that was not PostgreSQL. */
export function machineCpu(withDatabase: boolean): CpuSnapshot {
  const machine = machineMs();
  const databaseMs = withDatabase ? postgresMs() : 0;
  return {
    databaseMs,
    loadGeneratorMs: machine.busy - databaseMs,
    machineBusyMs: machine.busy,
    machineIdleMs: machine.idle,
  };
}

export function cpuPerRequest(
  before: CpuSnapshot,
  after: CpuSnapshot,
  requests: number,
  withDatabase: boolean,
): CpuPerRequest {
  const per = (k: keyof CpuSnapshot) =>
    ((after[k] ?? 0) - (before[k] ?? 0)) / Math.max(1, requests);
  const idle = after.machineIdleMs - before.machineIdleMs;
  const busy = after.machineBusyMs - before.machineBusyMs;
  return {
    ...(before.serviceMs !== undefined ? { serviceMs: per('serviceMs') } : {}),
    ...(withDatabase ? { databaseMs: per('databaseMs') } : {}),
    loadGeneratorMs: per('loadGeneratorMs'),
    idleShare: idle / Math.max(1, idle + busy),
  };
}

/** `service 0.48 + database 0.43 + load 0.09 ms, 3 % idle` (a replay: `database … + client and rest …`). */
export function cpuText(cpu: CpuPerRequest): string {
  const ms = (x: number) => x.toFixed(2);
  const parts = [
    cpu.serviceMs === undefined ? undefined : `service ${ms(cpu.serviceMs)}`,
    cpu.databaseMs === undefined ? undefined : `database ${ms(cpu.databaseMs)}`,
    `${cpu.serviceMs === undefined ? 'client and rest' : 'load'} ${ms(cpu.loadGeneratorMs)}`,
  ];
  return `${parts.filter(Boolean).join(' + ')} ms, ${Math.round(cpu.idleShare * 100)} % idle`;
}
