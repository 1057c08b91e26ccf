/**
 * `npm run bench`: prints tables. Probe engine rows (ROWS below; loopback targets served by one
 * process), the HTTP check alone against undici and a bare socket, mon side by side, decision →
 * table latency, the IPVS VM figures, keepalived's checkers beside lvsd's in the VM and VRRP
 * failover against keepalived. Each load run is a separate process so its CPU and RSS are its
 * own. Nothing here asserts timings.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { MemoryIpvsDriver } from '../../src/ipvs/memory-driver.js';
import { ROOT, runGuestScript, vmAvailability } from '../vm/vm.js';
import { failoverBench, type FailoverSample } from './failover.js';
import { monAvailable, monBench, type MonResult } from './mon-side.js';
import { curlCost, type KindResult, type VmCheckersResult } from './vm-checkers.js';
import { decisionLatency } from './decision-latency.js';
import { runLoad as runLoadFor, runNodeJson, startTarget as startTargetAt, type LoadResult, type LoadRow } from './load-row.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const json = process.argv.includes('--json');
/**
 * Probe-engine rows, "realservers:interval ms:check[:services[:reload]]". The defaults hold the
 * scheduled rate at 5,000 checks/s (1k @ 200 ms, 10k @ 2 s, 50k @ 10 s), HTTP and TCP; one row
 * lists 10k targets in 3 services (dedup: the cost follows targets, not VIPs); a 50k TCP row at
 * 30 s also times reloads (an unchanged config, then 1 % re-weighted).
 */
const ROWS = (process.env.LVSD_BENCH_ROWS
  ?? '1000:200:http,10000:2000:http,50000:10000:http,1000:200:tcp,10000:2000:tcp,50000:10000:tcp,10000:2000:http:3,50000:30000:tcp:1:reload')
  .split(',').map((r) => {
    const [n, interval, type, services, reload] = r.split(':');
    return { n: Number(n), intervalMs: Number(interval), type: type ?? 'http', services: Number(services ?? 1), reload: reload === 'reload' };
  });
const windowMs = Number(process.env.LVSD_BENCH_WINDOW_MS ?? 20_000);
/**
 * The targets stand in for other machines, but here they share two cores with the checker
 * under test, and neither priority is what hardware would do. At equal priority (the default)
 * the target process (~0.4 of a core at 5,000 fresh connections/s) may preempt the checker
 * (session 9: 50,000 HTTP checks at 10 s, lag p99 77-135 ms beside it, 13-97 ms with the target
 * at nice 19; session 10, after the collector changes: 0.4-32 ms at equal priority).
 * Deprioritized, the target is the one starved: 1,000 HTTP checks at 0.2 s then missed 2 % of their 200 ms deadlines (nice 10: 1.7 %).
 * LVSD_BENCH_TARGET_NICE=N runs it at nice N to see the checker's own figures.
 */
const TARGET_NICE = Math.trunc(Number(process.env.LVSD_BENCH_TARGET_NICE ?? 0)) || 0;

const startTarget = (): ReturnType<typeof startTargetAt> => startTargetAt(TARGET_NICE);
const runLoad = (row: LoadRow, port: number): Promise<LoadResult> => runLoadFor(row, port, windowMs);

interface ClientResult { client: string; checks: number; passed: number; cpuMsPer1kChecks: number }
const CLIENT_RATE = 2500;
const CLIENT_SECONDS = 10;

/** the HTTP check alone (test/bench/http-client.ts), one process per client */
function runClient(client: string, port: number): Promise<ClientResult> {
  return runNodeJson<ClientResult>([here('./http-client.js'), client, String(CLIENT_RATE), String(CLIENT_SECONDS), String(port)], `http-client ${client}`);
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
/** lvsd and mon's monitors on the same 1,000 targets, 2 s interval, 1 s timeout */
const side: { kind: 'http' | 'tcp'; lvsd: LoadResult; mon: MonResult }[] = [];
let sideSkipped: string | undefined;
const clients: ClientResult[] = [];
try {
  for (const row of ROWS) results.push(await runLoad(row, target.port));
  if (process.env.LVSD_BENCH_CLIENTS !== '0') for (const c of ['lvsd', 'lvsd-socket', 'undici', 'socket']) clients.push(await runClient(c, target.port));
  if (!monAvailable()) sideSkipped = 'mon is not installed (apt-get install mon)';
  else if (process.env.LVSD_BENCH_MON === '0') sideSkipped = 'LVSD_BENCH_MON=0';
  else {
    const hosts = Array.from({ length: 1000 }, (_, i) => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`);
    for (const kind of ['http', 'tcp'] as const) {
      const lvsd = await runLoad({ n: hosts.length, intervalMs: 2000, type: kind, services: 1, reload: false }, target.port);
      side.push({ kind, lvsd, mon: await monBench(kind, hosts, target.port, 2000, windowMs) });
    }
  }
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

// keepalived's checkers need IPVS, so they run in the VM (test/bench/vm-checkers.ts) with lvsd
// beside them on the same targets. Emulation is not uniform, so lvsd on this host at the same
// settings and curl (C, like keepalived) on both sides give the factors to read the VM figures by.
// LVSD_BENCH_KEEPALIVED=0 skips it; "N:INTERVAL_MS" sets the realservers and interval (the
// default 100 at 2 s: under TCG lvsd fell behind at 100 checks/s).
interface KeepalivedSide {
  vm: VmCheckersResult;
  host: { lvsd: Partial<Record<'tcp' | 'http', LoadResult>>; curl: ReturnType<typeof curlCost> | { failed: string } };
}
let keepalivedSide: KeepalivedSide | { skipped: string } | { failed: string };
const kaSetting = process.env.LVSD_BENCH_KEEPALIVED ?? '100:2000';
if (kaSetting === '0') keepalivedSide = { skipped: 'LVSD_BENCH_KEEPALIVED=0' };
else if (!availability.ok) keepalivedSide = { skipped: availability.reason };
else if (spawnSync('keepalived', ['--version']).status !== 0) keepalivedSide = { skipped: 'keepalived is not installed (apt-get install keepalived)' };
else {
  const [kaN, kaInterval] = kaSetting.split(':').map(Number);
  // boot, two node starts per kind (~20 s each under TCG), four windows
  const r = await runGuestScript<VmCheckersResult>('dist/test/bench/vm-checkers.js', [String(kaN ?? 100), String(kaInterval ?? 2000), String(windowMs)], 600 + (8 * windowMs) / 1000);
  if (!r.result) keepalivedSide = { failed: `exit ${r.run.code}: ${r.run.stderr.slice(-2000)}` };
  else {
    const host: KeepalivedSide['host'] = { lvsd: {}, curl: { failed: 'not run' } };
    const t = await startTarget();
    try {
      for (const x of r.result.results) {
        if ('failed' in x) continue;
        host.lvsd[x.kind] = await runLoad({ n: x.n, intervalMs: x.intervalMs, type: x.kind, services: 1, reload: false }, t.port);
      }
      // 10x the VM's requests: the host is 15-50x faster and CPU comes in 10 ms ticks
      try { host.curl = curlCost(t.port, 2500); } catch (e) { host.curl = { failed: (e as Error).message }; }
    } finally {
      t.stop();
    }
    keepalivedSide = { vm: r.result, host };
  }
}

// VRRP failover needs root, keepalived for the comparison, and the raw-socket package
let failover: FailoverSample[] | { skipped: string };
const canFailover = process.getuid?.() === 0 && spawnSync('keepalived', ['--version']).status === 0
  && (() => { try { createRequire(import.meta.url)('raw-socket'); return true; } catch { return false; } })();
failover = canFailover && process.env.LVSD_BENCH_FAILOVER !== '0' ? await failoverBench(ROOT) : { skipped: 'needs root, keepalived and raw-socket (or LVSD_BENCH_FAILOVER=0)' };

if (json) {
  process.stdout.write(`${JSON.stringify({ probeEngine: results, httpClient: clients, sideBySide: sideSkipped ? { skipped: sideSkipped } : side, sideBySideKeepalived: keepalivedSide, decisionToTable: decision, vm, failover }, null, 2)}\n`);
} else {
  printSummary();
  const rows = [['realservers', 'services', 'check', 'interval', 'scheduled/s', 'achieved/s', 'on time (<=100ms)', 'lag p50', 'lag p99', 'lag max', 'ok %', 'cores', 'CPU ms/1k checks', 'peak RSS', 'all UP after']];
  for (const r of results) {
    rows.push([
      String(r.n), String(r.services), r.checkType, `${r.intervalMs / 1000}s`, f(r.scheduledPerSec, 0), f(r.achievedPerSec, 0), `${f(r.onTimePct, 2)} %`,
      `${f(r.lagP50Ms)} ms`, `${f(r.lagP99Ms)} ms`, `${f(r.lagMaxMs)} ms`, f(r.okPct, 2), f(r.cpuCores, 2), f(r.cpuMsPer1kChecks, 1), `${f(r.peakRssMB, 0)} MB`,
      `${f(r.allUpSec ?? Number.NaN, 1)} s`,
    ]);
  }
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  process.stdout.write(`Probe engine: ${windowMs / 1000} s window once the start-up backlog is gone (2 intervals, every first verdict in, nothing queued); daemon in its own process; one loopback HTTP server answers every 127.1.x.y${TARGET_NICE !== 0 ? ` (at nice ${TARGET_NICE})` : ''}\n`);
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(w[i]!)).join('  ')}\n`);
  for (const r of results.filter((x) => x.reload)) {
    const rl = r.reload!;
    process.stdout.write(`\nReload at ${r.n} realservers (${r.checkType}): unchanged config parse ${f(rl.unchangedParseMs, 0)} ms + apply ${f(rl.unchangedApplyMs, 0)} ms;`
      + ` ${rl.changedRealservers} re-weighted (1 %) parse ${f(rl.changedParseMs, 0)} ms + apply ${f(rl.changedApplyMs, 0)} ms;`
      + ` transitions of realservers that had a verdict, in the 2 intervals after: ${rl.transitionsAfterReloads}\n`);
  }
  if (clients.length > 0) {
    process.stdout.write(`\nThe HTTP check alone (${CLIENT_RATE}/s for ${CLIENT_SECONDS} s, a fresh connection each to the next of 50,000 targets, 1 s deadline, own process):\n`);
    const floor = clients.find((c) => c.client === 'socket');
    for (const c of clients) {
      process.stdout.write(`  ${c.client.padEnd(7)} ${f(c.cpuMsPer1kChecks, 1)} CPU ms per 1k checks, ${c.passed}/${c.checks} passed${floor ? `, ${f(c.cpuMsPer1kChecks / floor.cpuMsPer1kChecks, 2)}x a bare socket` : ''}\n`);
    }
  }
  if (sideSkipped) process.stdout.write(`\nSide by side with mon: skipped (${sideSkipped})\n`);
  else {
    process.stdout.write('\nSide by side, same 1,000 targets, interval 2 s, timeout 1 s (mon: its monitor run every interval over the whole hostgroup, CPU of the monitor processes):\n');
    for (const x of side) {
      process.stdout.write(`  ${x.kind}: lvsd ${f(x.lvsd.cpuMsPer1kChecks, 1)} CPU ms per 1k checks (${f(x.lvsd.achievedPerSec, 0)}/s achieved),`
        + ` mon ${x.mon.monitor} ${f(x.mon.cpuMsPer1kChecks, 1)} CPU ms per 1k checks (${x.mon.runs} runs, ${f(x.mon.runMs, 0)} ms per run over 1,000 hosts,`
        + ` ${x.mon.failedRuns} failed): mon / lvsd ${f(x.mon.cpuMsPer1kChecks / x.lvsd.cpuMsPer1kChecks, 1)}x\n`);
    }
  }
  if ('skipped' in keepalivedSide) process.stdout.write(`\nkeepalived's checkers (in the VM) vs lvsd: skipped (${keepalivedSide.skipped})\n`);
  else if ('failed' in keepalivedSide) process.stdout.write(`\nkeepalived's checkers (in the VM) vs lvsd: FAILED ${keepalivedSide.failed}\n`);
  else {
    const { vm: kv, host } = keepalivedSide;
    const done = kv.results.filter((x): x is KindResult => !('failed' in x));
    const s0 = done[0];
    process.stdout.write(`\nkeepalived's checkers (in the VM) vs lvsd, in the same run on the same targets${s0 ? `, ${s0.n} realservers, interval ${s0.intervalMs / 1000} s, timeout ${s0.timeoutMs / 1000} s, ${s0.windowMs / 1000} s window` : ''}`
      + ` (${kv.keepalivedVersion}; qemu TCG, ${kv.cpus} vCPUs: emulated figures). CPU: utime+stime from /proc/PID/stat of keepalived's checker process plus its parent,`
      + ' and of lvsd\'s process, over the window after a 2-interval warm-up; checks: counted at the target server (connections for tcp, requests for http):\n');
    for (const x of kv.results) {
      if ('failed' in x) { process.stdout.write(`  ${x.kind}: FAILED ${x.failed.slice(0, 2000)}\n`); continue; }
      const k = x.keepalived;
      const l = x.lvsd;
      process.stdout.write(`  ${x.kind}: lvsd ${f(l.cpuMsPer1kChecks, 0)} CPU ms per 1k checks, keepalived ${f(k.cpuMsPer1kChecks, 0)}, keepalived / lvsd ${f(x.ratio, 2)}x`
        + ` (checks in the window: keepalived ${k.checks}, lvsd ${l.checks}, scheduled ${x.expectedChecks}; new connections: keepalived ${k.connections}, lvsd ${l.connections};`
        + ` keepalived's parent ${f(k.parentCpuSec, 2)} s of its ${f(k.cpuSec, 2)} s, ${k.destinationsInIpvs}/${x.n} realservers left in IPVS;`
        + ` lvsd's own count ${l.self.checks} checks in its ${f(l.self.windowSec, 0)} s window, ${f(l.self.cpuMsPer1kChecks, 0)} ms per 1k, ${f(l.self.okPct, 1)} % ok, lag p99 ${f(l.self.lagP99Ms, 0)} ms,`
        + ` last first verdict ${f(l.self.allUpSec ?? Number.NaN, 1)} s after its start)\n`);
    }
    const curlVm = kv.curl;
    const curlHost = host.curl;
    if ('failed' in curlVm || 'failed' in curlHost) {
      process.stdout.write(`  emulation factor: curl failed (${'failed' in curlVm ? `VM: ${curlVm.failed}` : ''}${'failed' in curlHost ? ` host: ${curlHost.failed}` : ''})\n`);
    } else {
      const cFactor = curlVm.msPerRequest / curlHost.msPerRequest;
      process.stdout.write(`  emulation: curl (C) ${f(curlVm.msPerRequest, 2)} CPU ms per HTTP request in the VM, ${f(curlHost.msPerRequest, 3)} on this host (${f(cFactor, 0)}x)\n`);
      for (const x of done) {
        const lh = host.lvsd[x.kind];
        if (!lh) continue;
        const kaEst = x.keepalived.cpuMsPer1kChecks / cFactor;
        process.stdout.write(`    ${x.kind}: lvsd on this host at the same settings ${f(lh.cpuMsPer1kChecks, 0)} CPU ms per 1k checks (the VM's is ${f(x.lvsd.cpuMsPer1kChecks / lh.cpuMsPer1kChecks, 0)}x that);`
          + ` keepalived divided by curl's factor ~${f(kaEst, 0)}: keepalived / lvsd ~${f(kaEst / lh.cpuMsPer1kChecks, 2)}x on this host (an estimate: curl's factor varies a lot from run to run; not a measurement)\n`);
      }
    }
  }
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

/**
 * The one table: each headline figure with its target or peer and how it was measured; the
 * sections after it give every row and run in full.
 */
function printSummary(): void {
  const rows: string[][] = [['figure', 'lvsd', 'target or peer', 'how measured']];
  for (const r of results.filter((x) => x.n === 50_000 && x.services === 1 && !x.reload)) {
    rows.push([
      `probe engine, 50,000 ${r.checkType} @ ${r.intervalMs / 1000} s`,
      `${f(r.achievedPerSec, 0)}/s, ${f(r.cpuCores, 2)} cores, ${f(r.cpuMsPer1kChecks, 0)} CPU ms/1k, lag p50 ${f(r.lagP50Ms)} / p99 ${f(r.lagP99Ms)} ms, RSS ${f(r.peakRssMB, 0)} MB`,
      '<= 1 core, p99 < 50 ms, RSS < 300 MB',
      `own process, real probes, memory driver; ${windowMs / 1000} s window once every first verdict is in and nothing queues; process CPU; peak RSS`,
    ]);
  }
  const one = results.find((x) => x.n === 10_000 && x.services === 1 && x.checkType === 'http' && !x.reload);
  const three = results.find((x) => x.n === 10_000 && x.services === 3);
  if (one && three) {
    rows.push(['probe dedup, 10,000 http in 3 services', `${f(three.achievedPerSec, 0)} probes/s, ${f(three.cpuCores, 2)} cores`,
      `1 service: ${f(one.achievedPerSec, 0)}/s, ${f(one.cpuCores, 2)} cores (keepalived probes once per VIP)`, 'the same targets listed in 3 services: one probe per target feeds all 3']);
  }
  for (const r of results.filter((x) => x.reload)) {
    const rl = r.reload!;
    rows.push([`reload at ${r.n.toLocaleString('en')} ${r.checkType}`, `unchanged ${f(rl.unchangedParseMs + rl.unchangedApplyMs, 0)} ms, 1 % changed ${f(rl.changedParseMs + rl.changedApplyMs, 0)} ms, ${rl.transitionsAfterReloads} transitions`,
      '0 transitions of unchanged realservers', 'parse + apply + reconcile, in the running daemon; transitions of realservers that had a verdict, 2 intervals after']);
  }
  rows.push(['decision -> table (memory driver)', `p50 ${f(decision.p50Ms, 2)} ms, p99 ${f(decision.p99Ms, 2)} ms`, '-', `${decision.samples} transitions, one at a time: deciding probe result to the change applied`]);
  if (!sideSkipped) {
    for (const x of side) {
      rows.push([`vs mon, 1,000 ${x.kind} @ 2 s`, `${f(x.lvsd.cpuMsPer1kChecks, 0)} CPU ms/1k checks`, `mon ${f(x.mon.cpuMsPer1kChecks, 0)} (mon / lvsd ${f(x.mon.cpuMsPer1kChecks / x.lvsd.cpuMsPer1kChecks, 2)}x)`,
        'same targets, interval, timeout; mon: its monitor over the hostgroup every interval, CPU of the monitor processes']);
    }
  }
  if (!('skipped' in keepalivedSide) && !('failed' in keepalivedSide)) {
    for (const x of keepalivedSide.vm.results) {
      if ('failed' in x) continue;
      rows.push([`vs keepalived, ${x.n} ${x.kind} @ ${x.intervalMs / 1000} s (VM)`, `${f(x.lvsd.cpuMsPer1kChecks, 0)} CPU ms/1k checks`,
        `keepalived ${f(x.keepalived.cpuMsPer1kChecks, 0)} (keepalived / lvsd ${f(x.ratio, 2)}x)`, 'both in the IPVS VM (emulated CPU), same targets; checks counted at the target server']);
    }
  }
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  process.stdout.write('Summary\n');
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')}\n`);
  process.stdout.write('\n');
}
