/**
 * `npm run bench`: prints a table. Probe engine at 1k and 5k HTTP realservers (interval 2 s,
 * loopback targets served by one process), then decision → table latency. Each probe-load run
 * is a separate process so its CPU and RSS are the daemon's own. Nothing here asserts timings.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { decisionLatency } from './decision-latency.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const json = process.argv.includes('--json');
const sizes = (process.env.LVSD_BENCH_SIZES ?? '1000,5000').split(',').map(Number);
const windowMs = Number(process.env.LVSD_BENCH_WINDOW_MS ?? 20_000);
const intervalMs = 2000;

interface LoadResult {
  n: number; checkType: string; intervalMs: number; scheduledPerSec: number; achievedPerSec: number; okPct: number;
  lagP50Ms: number; lagP99Ms: number; lagMaxMs: number; onTimePct: number; cpuSec: number; cpuCores: number; peakRssMB: number;
}

async function startTarget(): Promise<{ port: number; stop: () => void }> {
  const child = spawn(process.execPath, [here('./target-server.js'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  return { port: Number(line), stop: () => { child.kill('SIGTERM'); } };
}

function runLoad(n: number, port: number, type: string): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [here('./probe-load.js'), String(n), String(intervalMs), String(windowMs), String(port), type], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`probe-load ${n} exited ${code}`))));
  });
}

const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

const target = await startTarget();
const results: LoadResult[] = [];
try {
  for (const n of sizes) results.push(await runLoad(n, target.port, 'http'));
} finally {
  target.stop();
}
const decision = await decisionLatency();

if (json) {
  process.stdout.write(`${JSON.stringify({ probeEngine: results, decisionToTable: decision }, null, 2)}\n`);
} else {
  const rows = [['realservers', 'check', 'interval', 'scheduled/s', 'achieved/s', 'on time (<=100ms)', 'lag p50', 'lag p99', 'lag max', 'ok %', 'CPU s', 'cores', 'peak RSS']];
  for (const r of results) {
    rows.push([
      String(r.n), r.checkType, `${r.intervalMs / 1000}s`, f(r.scheduledPerSec, 0), f(r.achievedPerSec, 0), `${f(r.onTimePct, 2)} %`,
      `${f(r.lagP50Ms)} ms`, `${f(r.lagP99Ms)} ms`, `${f(r.lagMaxMs)} ms`, f(r.okPct, 2), f(r.cpuSec, 2), f(r.cpuCores, 2), `${f(r.peakRssMB, 0)} MB`,
    ]);
  }
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  process.stdout.write(`Probe engine: ${windowMs / 1000} s window after a 2-interval warm-up; daemon in its own process; one loopback HTTP server answers every 127.1.x.y\n`);
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(w[i]!)).join('  ')}\n`);
  process.stdout.write(`\nDecision -> table (memory driver; ${decision.samples} realservers failing within one 200 ms interval, reconcile passes >= 20 ms apart): p50 ${f(decision.p50Ms, 2)} ms, p99 ${f(decision.p99Ms, 2)} ms over ${decision.samples} transitions\n`);
}
