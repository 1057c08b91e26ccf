/**
 * One probe-engine row as its own processes: the loopback target server (target-server.ts) and
 * the daemon under load (probe-load.ts), each with a raised descriptor limit, the daemon with
 * the lvsd executable's V8 flags. Shared by `npm run bench` (run.ts) and the CI check of issue
 * 8's targets (test/perf). Runs the compiled scripts next to this module (dist/test/bench).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { V8_STARTUP_FLAGS } from '../../src/core/heap.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));

/** 50k realservers want more descriptors than a default shell gives (root may raise its own limit) */
const NOFILE = 262_144;

export interface LoadRow {
  readonly n: number;
  readonly intervalMs: number;
  readonly type: string;
  readonly services: number;
  readonly reload: boolean;
}

export interface LoadResult {
  n: number; checkType: string; intervalMs: number; services: number; scheduledPerSec: number; achievedPerSec: number; okPct: number;
  lagP50Ms: number; lagP99Ms: number; lagMaxMs: number; onTimePct: number; cpuSec: number; cpuCores: number; peakRssMB: number;
  cpuMsPer1kChecks: number;
  /** seconds from the daemon's start to the last realserver's first verdict */
  allUpSec?: number;
  reload?: { unchangedParseMs: number; unchangedApplyMs: number; changedParseMs: number; changedApplyMs: number; changedRealservers: number; transitionsAfterReloads: number };
}

/** node with a raised descriptor limit (through sh's ulimit, which then execs node: the PID is node's) */
export function spawnNode(args: readonly string[]): ChildProcess {
  return spawn('sh', ['-c', `ulimit -n ${NOFILE} 2>/dev/null; exec "$0" "$@"`, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
}

/** the target server, at nice `nice` (0: equal priority); resolves with its port once it listens */
export async function startTarget(nice = 0): Promise<{ port: number; pid: number; stop: () => void }> {
  const child = spawnNode([here('./target-server.js'), '0']);
  if (nice !== 0) {
    try {
      os.setPriority(child.pid!, nice);
    } catch (e) {
      process.stderr.write(`target nice ${nice} not applied (${(e as Error).message}): the target runs at equal priority\n`);
    }
  }
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`target server exited ${code} before listening`)));
  });
  return { port: Number(line), pid: child.pid!, stop: () => { child.kill('SIGTERM'); } };
}

/** one row: resolves with probe-load's JSON line; `started` sees the child (to end it on failure) */
export function runLoad(row: LoadRow, port: number, windowMs: number, started?: (child: ChildProcess) => void): Promise<LoadResult> {
  const { n, intervalMs, type, services, reload } = row;
  const args = [...V8_STARTUP_FLAGS, here('./probe-load.js'), String(n), String(intervalMs), String(windowMs), String(port), type, String(services), reload ? 'reload' : ''];
  return runNodeJson<LoadResult>(args, `probe-load ${n}`, started);
}

/** a bench script in its own node: resolves with the JSON it prints on stdout once it exits 0 */
export function runNodeJson<T>(args: readonly string[], label: string, started?: (child: ChildProcess) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawnNode(args);
    started?.(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`${label} exited ${code}`))));
  });
}
