/**
 * One benchmark run, in its own process so CPU and RSS are the daemon's alone: N realservers
 * on 127.1.x.y:PORT (HTTP or TCP checks) at a given interval, listed in `services` services
 * (the same targets behind several VIPs: one probe each all the same), the real Daemon with
 * real probes and the memory driver. After a warm-up (two intervals, then until the start-up
 * backlog has drained: every realserver has a verdict, no check waits for a slot and the check
 * rate is the scheduled one) it records every probe run for the window and prints one JSON line: achieved vs scheduled checks/s, scheduling lag,
 * CPU, peak RSS. With `reload` it then reloads the same config and one with 1 % of the
 * realservers re-weighted, timing each, and counts the transitions the reloads caused.
 */
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { createProbeKit } from '../../checks/index.js';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { useCompactHeap } from '../../src/core/heap.js';
import { silentLogger } from '../../src/core/log.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { MemoryIpvsDriver } from '../../src/ipvs/memory-driver.js';

const [nArg, intervalArg, windowArg, portArg, typeArg, servicesArg, reloadArg] = process.argv.slice(2);
const n = Number(nArg);
const intervalMs = Number(intervalArg);
const windowMs = Number(windowArg);
const port = Number(portArg);
const checkType = typeArg ?? 'http';
const serviceCount = Number(servicesArg ?? 1);
const withReload = reloadArg === 'reload';
// the same heap setting as `lvsd run`, applied as early as it does
useCompactHeap();

function benchAddress(i: number): string {
  return `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

/** the config text; every `changeEvery`-th realserver gets weight 2 (a 1 % change at 100) */
function configText(changeEvery = 0): string {
  const lines = [
    'api: { listen: false, socket: false }',
    'ipvs: { driver: memory, resync_interval: 30s }',
    'max_concurrent_probes: 1024',
    `defaults: { interval: ${intervalMs}ms, timeout: ${Math.min(1000, intervalMs)}ms, rise: 2, fall: 3 }`,
    'services:',
  ];
  for (let s = 0; s < serviceCount; s++) {
    lines.push(
      `  - name: bench${s}`,
      `    address: 192.0.2.${10 + s}:80`,
      `    check: { type: ${checkType}${checkType === 'http' ? ', path: /healthz' : ''} }`,
      '    realservers:',
    );
    for (let i = 0; i < n; i++) {
      lines.push(`      - { address: "${benchAddress(i)}:${port}"${changeEvery > 0 && i % changeEvery === 0 ? ', weight: 2' : ''} }`);
    }
  }
  return lines.join('\n');
}
const config = parseConfig(configText(), '<bench>');

const lags: number[] = [];
let runs = 0;
let ok = 0;
let recording = false;
let countRun = (): void => {};
/** every probe run since start (the warm-up watches the rate settle) */
let runsSeen = 0;
let lagNow = 0;
/** TRACE: the largest lag and the checks later than 50 ms since the last trace line */
let lagMax = 0;
let late = 0;
/** LVSD_BENCH_TRACE=1: every 2 s on stderr, event-loop use, probes in flight and queued, lag (the last, the largest, how many later than 50 ms), GC pauses, RSS, the last reconcile pass; at exit the commonest failures */
const TRACE = process.env.LVSD_BENCH_TRACE === '1';
const failures = new Map<string, number>();
process.on('exit', () => { if (TRACE) process.stderr.write(`failures: ${JSON.stringify([...failures].sort((a, b) => b[1] - a[1]).slice(0, 10))}\n`); });
const kit = createProbeKit();
const daemon = new Daemon({
  config, clock: systemClock, random: Math.random, log: silentLogger(), probes: kit,
  driver: new MemoryIpvsDriver(), defaultMetrics: false,
  observeRun: (_key, result, info) => {
    countRun();
    runsSeen++;
    lagNow = info.startedAt - info.scheduledAt;
    if (lagNow > lagMax) lagMax = lagNow;
    if (lagNow > 50) late++;
    if (!recording) return;
    runs++;
    if (result.ok) ok++;
    else if (TRACE) {
      const kind = result.detail.replace(/[0-9]+/g, 'N');
      failures.set(kind, (failures.get(kind) ?? 0) + 1);
    }
    // timers may fire a fraction of a millisecond early against performance.now(): count that as on time
    lags.push(Math.max(0, info.startedAt - info.scheduledAt));
  },
});

/** every record's first verdict (unknown -> up/down): when the last one came, seconds after start */
let firstVerdicts = 0;
let allUpSec: number | undefined;
daemon.onEvent((e) => {
  if (e.type !== 'transition' || e.from !== 'unknown') return;
  if (++firstVerdicts === n * serviceCount) allUpSec = (performance.now() - tStart) / 1000;
});
const tStart = performance.now();
await daemon.start();
if (TRACE) {
  process.stderr.write(`start took ${(performance.now() - tStart).toFixed(0)} ms; peak RSS so far ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB\n`);
  let elu = performance.eventLoopUtilization();
  let lastRuns = 0;
  let allRuns = 0;
  // garbage-collection pauses since the last line: the longest, and their sum
  let gcMax = 0;
  let gcSum = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMax = Math.max(gcMax, e.duration);
      gcSum += e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  const t = setInterval(() => {
    const e = performance.eventLoopUtilization(elu);
    elu = performance.eventLoopUtilization();
    const load = daemon.engineLoad();
    process.stderr.write(`t=${((performance.now() - tStart) / 1000).toFixed(0)}s elu=${e.utilization.toFixed(2)} running=${load.running} queued=${load.queued} runs=${allRuns - lastRuns} lag=${lagNow.toFixed(0)}ms (max ${lagMax.toFixed(0)}ms, ${late} later than 50ms) gc=${gcSum.toFixed(0)}ms (max ${gcMax.toFixed(0)}ms) rss=${(process.memoryUsage.rss() / 2 ** 20).toFixed(0)}MB last reconcile=${load.lastReconcileMs?.toFixed(0) ?? '-'}ms\n`);
    gcMax = 0;
    gcSum = 0;
    lastRuns = allRuns;
    lagMax = 0;
    late = 0;
  }, 2000);
  t.unref();
  countRun = () => { allRuns++; };
}
// LVSD_BENCH_WARMUP_MS: a longer warm-up, for low rates where V8 has not yet optimized the
// per-check code after two intervals (a daemon that has run for minutes has)
await sleep(Math.max(2 * intervalMs, Number(process.env.LVSD_BENCH_WARMUP_MS ?? 0)));
// start-up is its own figure (every realserver's first verdict, the wave of transitions that
// follows): the window measures the steady state, once nothing is left waiting from it
const WARMUP_LIMIT_MS = 120_000;
while (performance.now() - tStart < WARMUP_LIMIT_MS) {
  if (allUpSec !== undefined && daemon.engineLoad().queued === 0) break;
  await sleep(500);
}
// ... and until the check rate is the scheduled one (within 2 % over 2 s): a check that timed
// out in the start-up backlog leaves its realserver re-checking at the fast interval for a
// while, and a window that began then measured 5,040 checks/s of 5,000 and the lag of that tail
const scheduledPerSec = n / (intervalMs / 1000);
const RATE_SLICE_MS = 2000;
while (performance.now() - tStart < WARMUP_LIMIT_MS) {
  const before = runsSeen;
  await sleep(RATE_SLICE_MS);
  const rate = (runsSeen - before) / (RATE_SLICE_MS / 1000);
  if (Math.abs(rate - scheduledPerSec) <= Math.max(0.02 * scheduledPerSec, 1)) break;
}
const warmUpSec = (performance.now() - tStart) / 1000;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
recording = true;
await sleep(windowMs);
recording = false;
const elapsed = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);

let reload: Record<string, number> | undefined;
if (withReload) {
  // a reload must not change the health of a realserver that already had a verdict: count
  // those transitions (first verdicts still arriving, unknown -> up, are not the reload's doing)
  let transitions = 0;
  daemon.onEvent((e) => { if (e.type === 'transition' && e.from !== 'unknown') transitions++; });
  const timed = async (text: string): Promise<{ parseMs: number; applyMs: number }> => {
    const p0 = performance.now();
    const next = parseConfig(text, '<bench>');
    const p1 = performance.now();
    daemon.reload(next);
    await daemon.reconcileNow();
    return { parseMs: p1 - p0, applyMs: performance.now() - p1 };
  };
  const same = await timed(configText());
  const changed = await timed(configText(100));
  await sleep(2 * intervalMs); // every realserver probed again after the reloads
  reload = {
    unchangedParseMs: same.parseMs, unchangedApplyMs: same.applyMs,
    changedParseMs: changed.parseMs, changedApplyMs: changed.applyMs, changedRealservers: Math.ceil(n / 100) * serviceCount,
    transitionsAfterReloads: transitions,
  };
}
await daemon.close();
await kit.close();

lags.sort((a, b) => a - b);
const pct = (p: number): number => lags.length ? lags[Math.min(lags.length - 1, Math.floor(p * lags.length))]! : NaN;
const onTime = lags.filter((l) => l <= 100).length;
process.stdout.write(`${JSON.stringify({
  n, checkType, intervalMs, services: serviceCount,
  scheduledPerSec,
  cpuMsPer1kChecks: runs ? ((cpu.user + cpu.system) / 1e3) / (runs / 1000) : NaN,
  ...(reload ? { reload } : {}),
  achievedPerSec: runs / elapsed,
  okPct: runs ? (100 * ok) / runs : 0,
  lagP50Ms: pct(0.5), lagP99Ms: pct(0.99), lagMaxMs: lags.at(-1) ?? NaN,
  onTimePct: runs ? (100 * onTime) / runs : 0,
  cpuSec: (cpu.user + cpu.system) / 1e6,
  cpuCores: (cpu.user + cpu.system) / 1e6 / elapsed,
  peakRssMB: process.resourceUsage().maxRSS / 1024,
  windowSec: elapsed,
  warmUpSec,
  allUpSec,
})}\n`);
process.exit(0);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
