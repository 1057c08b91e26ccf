/**
 * `npm run bench`: prints a table. Probe engine at 1k and 5k HTTP realservers (interval 2 s,
 * loopback targets served by one process), then decision → table latency. Each probe-load run
 * is a separate process so its CPU and RSS are the daemon's own. Nothing here asserts timings.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MemoryIpvsDriver } from '../../src/ipvs/memory-driver.js';
import { ROOT, runGuestScript, vmAvailability } from '../vm/vm.js';
import { failoverBench, type FailoverSample } from './failover.js';
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

/** mean time to start ipvsadm here (no IPVS in this kernel: --version only), to compare with the VM */
function hostExecMs(): number {
  const t0 = performance.now();
  // the exit status does not matter (this kernel has no IPVS): only the cost of starting it
  for (let i = 0; i < 20; i++) spawnSync('ipvsadm', ['--version'], { stdio: 'ignore' });
  return (performance.now() - t0) / 20;
}

const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

const target = await startTarget();
const results: LoadResult[] = [];
try {
  for (const n of sizes) results.push(await runLoad(n, target.port, 'http'));
} finally {
  target.stop();
}
const decision = await decisionLatency(new MemoryIpvsDriver(), 50);

// the kernel part runs in the VM (test/vm/ipvs-vm) where this machine can boot it
interface VmBench {
  latency: { samples: number; p50Ms: number; p99Ms: number; maxMs: number };
  changes: number; batchAddMs: number; batchErrors: string[]; destinationsInKernel: number;
  reconcilePassMs: number; reconcileApplied: number; reconcileConverged: boolean;
  perCallMs: number; perCallSample: number; perCallExtrapolatedMs: number; execMs: number;
}
let vm: VmBench | { skipped: string } | { failed: string };
const availability = process.env.LVSD_BENCH_VM === '0' ? { ok: false as const, reason: 'LVSD_BENCH_VM=0' } : vmAvailability();
if (!availability.ok) {
  vm = { skipped: availability.reason };
} else {
  const r = await runGuestScript<VmBench>('dist/test/bench/vm-ipvs.js', [], 1200);
  vm = r.result ?? { failed: `exit ${r.run.code}: ${r.run.stderr.slice(-2000)}` };
}

// VRRP failover needs root, keepalived for the comparison, and the raw-socket package
let failover: FailoverSample[] | { skipped: string };
const canFailover = process.getuid?.() === 0 && spawnSync('keepalived', ['--version']).status === 0
  && (() => { try { createRequire(import.meta.url)('raw-socket'); return true; } catch { return false; } })();
failover = canFailover && process.env.LVSD_BENCH_FAILOVER !== '0' ? await failoverBench(ROOT) : { skipped: 'needs root, keepalived and raw-socket (or LVSD_BENCH_FAILOVER=0)' };

if (json) {
  process.stdout.write(`${JSON.stringify({ probeEngine: results, decisionToTable: decision, vm, failover }, null, 2)}\n`);
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
  process.stdout.write(`\nDecision -> table, one change at a time (memory driver, host): p50 ${f(decision.p50Ms, 2)} ms, p99 ${f(decision.p99Ms, 2)} ms, max ${f(decision.maxMs, 2)} ms over ${decision.samples} transitions\n`);
  if ('skipped' in vm) process.stdout.write(`\nIPVS in the VM: skipped (${vm.skipped})\n`);
  else if ('failed' in vm) process.stdout.write(`\nIPVS in the VM: FAILED ${vm.failed}\n`);
  else {
    process.stdout.write('\nIPVS in the VM (qemu TCG: an emulated CPU, many times slower than hardware; process starts cost 50-170 ms):\n');
    process.stdout.write(`  decision -> kernel, one change at a time (ipvsadm driver): p50 ${f(vm.latency.p50Ms, 1)} ms, p99 ${f(vm.latency.p99Ms, 1)} ms, max ${f(vm.latency.maxMs, 1)} ms over ${vm.latency.samples} transitions\n`);
    process.stdout.write(`  ${vm.changes} realserver additions in one ipvsadm -R batch: ${f(vm.batchAddMs, 0)} ms (${vm.destinationsInKernel} in the kernel after, ${vm.batchErrors.length} errors)\n`);
    process.stdout.write(`  reconcile pass re-weighting all ${vm.changes} (read, diff, one -R, verify read): ${f(vm.reconcilePassMs, 0)} ms, ${vm.reconcileApplied} applied, converged ${vm.reconcileConverged}\n`);
    process.stdout.write(`  one ipvsadm call per change: ${f(vm.perCallMs, 1)} ms each (sample of ${vm.perCallSample}), ${f(vm.perCallExtrapolatedMs / 1000, 0)} s for ${vm.changes}: ${f(vm.perCallExtrapolatedMs / vm.reconcilePassMs, 0)}x the batch pass\n`);
    const hostExec = hostExecMs();
    process.stdout.write(`  one process start (ipvsadm --version): ${f(vm.execMs, 1)} ms in the VM, ${f(hostExec, 2)} ms on this host (${f(vm.execMs / hostExec, 0)}x);`
      + ` the decision -> kernel p99 scaled by that: ~${f(vm.latency.p99Ms * hostExec / vm.execMs, 1)} ms (an estimate, not a measurement)\n`);
  }
  if ('skipped' in failover) process.stdout.write(`\nVRRP failover: skipped (${failover.skipped})\n`);
  else {
    process.stdout.write('\nVRRP failover in namespaces (master SIGKILLed -> VIP on the backup; priorities 150/100, VRRPv3 multicast):\n');
    for (const intervalMs of [1000, 100]) {
      const l = failover.find((x) => x.impl === 'lvsd' && x.intervalMs === intervalMs)!;
      const k = failover.find((x) => x.impl === 'keepalived' && x.intervalMs === intervalMs)!;
      process.stdout.write(`  advert ${intervalMs} ms (Master_Down_Interval ${f(l.expectedMs, 0)} ms):\n`
        + `    kill -> VIP:         lvsd median ${f(l.medianMs, 0)} ms [${l.samplesMs.map((x) => f(x, 0)).join(', ')}],`
        + ` keepalived median ${f(k.medianMs, 0)} ms [${k.samplesMs.map((x) => f(x, 0)).join(', ')}], lvsd/keepalived ${f(l.medianMs / k.medianMs, 2)}\n`
        + `    last advert -> VIP:  lvsd median ${f(l.silenceMedianMs, 0)} ms [${l.silenceMs.map((x) => f(x, 0)).join(', ')}],`
        + ` keepalived median ${f(k.silenceMedianMs, 0)} ms [${k.silenceMs.map((x) => f(x, 0)).join(', ')}], lvsd/keepalived ${f(l.silenceMedianMs / k.silenceMedianMs, 2)}\n`);
    }
  }
}
