/**
 * mon's monitors on the same targets, for the side-by-side figure: Debian's mon runs one monitor
 * process per hostgroup per interval (http.monitor / tcp.monitor, Perl, hosts one after another).
 * Each run here is what mon would start: the monitor with every host of the group, run every
 * interval for the window; its CPU comes from bash's `times` (the monitor is bash's only child),
 * so mon's own scheduler (idle between runs) is left out in mon's favour.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface MonResult {
  readonly monitor: string;
  readonly n: number;
  readonly intervalMs: number;
  readonly runs: number;
  /** mean wall time of one run over every host */
  readonly runMs: number;
  readonly cpuSec: number;
  readonly cpuMsPer1kChecks: number;
  /** runs that reported a failing host (0 when every target answered) */
  readonly failedRuns: number;
}

const MON_D = '/usr/lib/mon/mon.d';

export function monAvailable(): boolean {
  return existsSync(`${MON_D}/http.monitor`) && existsSync(`${MON_D}/tcp.monitor`);
}

/** "0m1.234s" → seconds */
function seconds(t: string): number {
  const m = /^(\d+)m([\d.]+)s$/.exec(t);
  return m ? Number(m[1]) * 60 + Number(m[2]) : Number.NaN;
}

function runOnce(argv: readonly string[]): Promise<{ code: number | null; cpuSec: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    // `times` prints the shell's, then its children's user and system time
    const child = spawn('bash', ['-c', '"$@" >/dev/null 2>&1; rc=$?; times; exit $rc', 'bash', ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => {
      const lines = out.trim().split('\n');
      const [user, sys] = (lines[1] ?? '').trim().split(/\s+/);
      resolve({ code, cpuSec: seconds(user ?? '') + seconds(sys ?? ''), ms: performance.now() - t0 });
    });
  });
}

export async function monBench(kind: 'http' | 'tcp', hosts: readonly string[], port: number, intervalMs: number, windowMs: number): Promise<MonResult> {
  const argv = kind === 'http'
    ? [`${MON_D}/http.monitor`, '-p', String(port), '-u', '/healthz', '-t', '1', ...hosts]
    : [`${MON_D}/tcp.monitor`, '-p', String(port), '-t', '1', ...hosts];
  let runs = 0;
  let cpuSec = 0;
  let wall = 0;
  let failedRuns = 0;
  const end = performance.now() + windowMs;
  while (performance.now() < end) {
    const r = await runOnce(argv);
    runs++;
    cpuSec += r.cpuSec;
    wall += r.ms;
    if (r.code !== 0) failedRuns++;
    // mon starts the next run an interval after the last one started (never two at once)
    await new Promise((res) => setTimeout(res, Math.max(0, intervalMs - r.ms)));
  }
  return {
    monitor: `${kind}.monitor`, n: hosts.length, intervalMs, runs, runMs: wall / runs, cpuSec,
    cpuMsPer1kChecks: (cpuSec * 1000) / ((runs * hosts.length) / 1000), failedRuns,
  };
}
