/**
 * keepalived's checkers against lvsd's probe engine, run inside the VM (keepalived's checker
 * process needs IPVS): the same N loopback realservers (127.1.x.y on one target server), the
 * same interval and timeout, TCP then HTTP. Both are measured the same way, from outside: after
 * the first checks reach the target and a warm-up of two intervals, the CPU (utime + stime in
 * /proc/PID/stat) of the checking processes over the window, divided by the checks the target
 * server counted in that window (connections for TCP, requests for HTTP).
 *
 *   node dist/test/bench/vm-checkers.js OUT.json [n] [intervalMs] [windowMs]
 *
 * The VM is emulated (TCG): absolute figures are many times slower than hardware, and emulation
 * does not slow C and Node alike (curlCost), so the ratio is the VM's. Everything started here
 * is stopped by PID, also when a step fails.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { V8_STARTUP_FLAGS } from '../../src/core/heap.js';

/** what both checkers are given: n realservers, every intervalMs, timeoutMs each */
export interface Settings { n: number; intervalMs: number; timeoutMs: number; windowMs: number }
const VIP = '192.0.2.10';
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const T0 = performance.now();
/** progress on stderr with the time since start: under emulation a stall is otherwise silent */
const progress = (msg: string): void => { process.stderr.write(`vm-checkers: ${((performance.now() - T0) / 1000).toFixed(1)} s ${msg}\n`); };
/** argv under a raised descriptor limit (1,000 keep-alive connections pass 1,024); exec keeps the PID */
const nofile = (argv: readonly string[]): [string, string[]] => ['sh', ['-c', 'ulimit -n 65536 2>/dev/null; exec "$0" "$@"', ...argv]];

export interface CheckerSide {
  cpuSec: number;
  /** checks the target server saw in the window: connections (tcp) or requests (http) */
  checks: number;
  connections: number;
  requests: number;
  cpuMsPer1kChecks: number;
  windowSec: number;
}
export interface KindResult extends Settings {
  kind: 'tcp' | 'http';
  /** n × window / interval, with the window as it really lasted */
  expectedChecks: number;
  keepalived: CheckerSide & { version: string; checkerCpuSec: number; parentCpuSec: number; destinationsInIpvs: number };
  lvsd: CheckerSide & { self: {
    checks: number; windowSec: number; cpuMsPer1kChecks: number; okPct: number; lagP99Ms: number;
    /** probe-load's own warm-up and the time to the last first verdict, both from the daemon's start */
    warmUpSec: number | undefined; allUpSec: number | undefined;
  } };
  /** keepalived / lvsd, CPU ms per 1k checks */
  ratio: number;
}
/** curl requests for the emulation estimate: a few hundred 10 ms clock ticks of CPU in the VM (~10 ms each there) */
export const CURL_REQUESTS_VM = 250;
export interface VmCheckersResult {
  keepalivedVersion: string; clkTck: number; cpus: number;
  curl: ReturnType<typeof curlCost> | { failed: string };
  results: (KindResult | { kind: 'tcp' | 'http'; failed: string })[];
}

const clkTck = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { return 100; }
})();

/** utime + stime of a process (all its threads), in seconds; NaN once it is gone */
function cpuSec(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name may hold spaces and parentheses: fields are counted after the last ')'
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clkTck;
  } catch {
    return Number.NaN;
  }
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** the last 8 kB a child wrote, for the error message when it fails */
function tail(child: ChildProcess): () => string {
  let buf = '';
  const add = (d: Buffer): void => { buf = (buf + d.toString()).slice(-8192); };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => buf;
}

/** SIGTERM, then SIGKILL after graceMs; `others` (a child's own children) are killed by PID too */
async function stop(child: ChildProcess, graceMs: number, others: readonly number[] = []): Promise<void> {
  const exited = child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => child.once('exit', () => r()));
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const t = setTimeout(() => { child.kill('SIGKILL'); }, graceMs);
  await exited;
  clearTimeout(t);
  for (const pid of others) if (alive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone meanwhile */ } }
}

interface Counts { connections: number; requests: number }

/** the target server and its counters (test/bench/target-server.ts, SIGUSR2 → a stats line) */
async function startTarget(): Promise<{ port: number; child: ChildProcess; counts: () => Promise<Counts> }> {
  const child = spawn(...nofile([process.execPath, here('./target-server.js'), '0']), { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((c: Counts) => void)[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`target server exited ${code}`)));
    lines.once('line', (l) => resolve(Number(l)));
  });
  lines.on('line', (l) => { if (l.startsWith('stats ')) waiting.shift()?.(JSON.parse(l.slice(6)) as Counts); });
  const counts = (): Promise<Counts> => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('target server did not report its counters')), 30_000);
    waiting.push((c) => { clearTimeout(t); resolve(c); });
    child.kill('SIGUSR2');
  });
  return { port, child, counts };
}

const address = (i: number): string => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;

/** keepalived.conf: one NAT virtual server holding every target, one checker each */
function keepalivedConf({ n, intervalMs, timeoutMs }: Settings, kind: 'tcp' | 'http', port: number): string {
  const sec = (ms: number): string => String(ms / 1000);
  const check = kind === 'tcp'
    ? [`    TCP_CHECK {`, `      connect_timeout ${sec(timeoutMs)}`, `    }`]
    : [`    HTTP_GET {`, `      url {`, `        path /healthz`, `        status_code 200`, `      }`, `      connect_timeout ${sec(timeoutMs)}`, `    }`];
  const lines = ['global_defs {', '  router_id lvsd_bench', '}', `virtual_server ${VIP} 80 {`,
    `  delay_loop ${sec(intervalMs)}`, '  lvs_sched wlc', '  lvs_method NAT', '  protocol TCP'];
  for (let i = 0; i < n; i++) lines.push(`  real_server ${address(i)} ${port} {`, '    weight 1', ...check, '  }');
  lines.push('}', '');
  return lines.join('\n');
}

/** wait until the target's counters move (the checker has begun), then two intervals more */
async function warmUp(intervalMs: number, counts: () => Promise<Counts>, child: ChildProcess, what: string): Promise<void> {
  const first = await counts();
  const deadline = performance.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited before checking`);
    if (performance.now() > deadline) throw new Error(`${what}: no check reached the target in 120 s`);
    await sleep(250);
    const c = await counts();
    if (c.connections > first.connections || c.requests > first.requests) break;
  }
  await sleep(2 * intervalMs);
}

/** CPU of `pids` and checks counted at the target over the window */
async function measure(windowMs: number, kind: 'tcp' | 'http', pids: readonly number[], counts: () => Promise<Counts>): Promise<{ cpu: number[]; c: Counts; windowSec: number }> {
  const c0 = await counts();
  const cpu0 = pids.map(cpuSec);
  const t0 = performance.now();
  await sleep(windowMs);
  const cpu1 = pids.map(cpuSec);
  const windowSec = (performance.now() - t0) / 1000;
  const c1 = await counts();
  const cpu = cpu1.map((x, i) => x - cpu0[i]!);
  if (cpu.some((x) => !Number.isFinite(x))) throw new Error(`a ${kind} checker process ended during the window`);
  return { cpu, c: { connections: c1.connections - c0.connections, requests: c1.requests - c0.requests }, windowSec };
}

function side(cpu: number, c: Counts, kind: 'tcp' | 'http', windowSec: number): CheckerSide {
  const checks = kind === 'tcp' ? c.connections : c.requests;
  return { cpuSec: cpu, checks, connections: c.connections, requests: c.requests, cpuMsPer1kChecks: checks ? (cpu * 1000) / (checks / 1000) : Number.NaN, windowSec };
}

async function runKeepalived(s: Settings, kind: 'tcp' | 'http', target: Awaited<ReturnType<typeof startTarget>>, version: string): Promise<KindResult['keepalived']> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vm-checkers-'));
  const conf = path.join(dir, 'keepalived.conf');
  const checkersPid = path.join(dir, 'checkers.pid');
  writeFileSync(conf, keepalivedConf(s, kind, target.port));
  // -n: the parent stays our child; -C: the checker subsystem only; -R: a dying checker is an error, not respawned; -G: no syslog in the VM
  const child = spawn(...nofile(['keepalived', '-n', '-l', '-G', '-C', '-R', '-f', conf, '-p', path.join(dir, 'keepalived.pid'), '-c', checkersPid, '-r', path.join(dir, 'vrrp.pid')]),
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = tail(child);
  let checker = 0;
  try {
    const deadline = performance.now() + 60_000;
    while (!checker) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`keepalived exited ${child.exitCode ?? child.signalCode}`);
      if (performance.now() > deadline) throw new Error('keepalived wrote no checker pid in 60 s');
      await sleep(200);
      if (existsSync(checkersPid)) checker = Number(readFileSync(checkersPid, 'utf8').trim()) || 0;
    }
    progress(`${kind}: keepalived checker ${checker} started`);
    await warmUp(s.intervalMs, target.counts, child, 'keepalived');
    progress(`${kind}: keepalived measuring`);
    const m = await measure(s.windowMs, kind, [checker, child.pid!], target.counts);
    // keepalived starts with every realserver in IPVS and removes those whose check fails
    const table = execFileSync('ipvsadm', ['-Ln'], { encoding: 'utf8' });
    const destinationsInIpvs = table.split('\n').filter((l) => /^\s+->\s+\d/.test(l)).length;
    return { ...side(m.cpu[0]! + m.cpu[1]!, m.c, kind, m.windowSec), version, checkerCpuSec: m.cpu[0]!, parentCpuSec: m.cpu[1]!, destinationsInIpvs };
  } catch (e) {
    throw new Error(`${(e as Error).message}\nkeepalived log:\n${log()}`);
  } finally {
    // keepalived takes its destinations out of IPVS on SIGTERM; slow under emulation
    await stop(child, 30_000, checker ? [checker] : []);
    spawnSync('ipvsadm', ['-C']);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runLvsd(s: Settings, kind: 'tcp' | 'http', target: Awaited<ReturnType<typeof startTarget>>): Promise<KindResult['lvsd']> {
  // probe-load's own window starts two intervals after the daemon started; one interval more
  // keeps it running to the end of ours
  // (probe-load's timeout is min(1 s, interval), as keepalived's connect_timeout here)
  const child = spawn(...nofile([process.execPath, ...V8_STARTUP_FLAGS, here('./probe-load.js'), String(s.n), String(s.intervalMs), String(s.windowMs + s.intervalMs), String(target.port), kind]),
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  const log = tail(child);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    await warmUp(s.intervalMs, target.counts, child, 'probe-load');
    progress(`${kind}: lvsd measuring`);
    const m = await measure(s.windowMs, kind, [child.pid!], target.counts);
    progress(`${kind}: lvsd measured`);
    // probe-load's warm-up lasts until its start-up backlog is gone (at most 120 s), then its
    // window; an unref'd timer, as a pending one would hold the script open after its work
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 150_000 + s.windowMs + s.intervalMs).unref())]);
    if (code !== 0) throw new Error(`probe-load ended ${code}`);
    progress(`${kind}: probe-load exited`);
    const self = JSON.parse(stdout) as { achievedPerSec: number; windowSec: number; cpuMsPer1kChecks: number; okPct: number; lagP99Ms: number; warmUpSec?: number; allUpSec?: number };
    return {
      ...side(m.cpu[0]!, m.c, kind, m.windowSec),
      self: { checks: Math.round(self.achievedPerSec * self.windowSec), windowSec: self.windowSec, cpuMsPer1kChecks: self.cpuMsPer1kChecks, okPct: self.okPct, lagP99Ms: self.lagP99Ms, warmUpSec: self.warmUpSec, allUpSec: self.allUpSec },
    };
  } catch (e) {
    throw new Error(`${(e as Error).message}\nprobe-load output:\n${log()}`);
  } finally {
    await stop(child, 10_000);
  }
}

/**
 * CPU per request of curl (C, like keepalived) over fresh HTTP/1.0 connections to the target:
 * 2M requests less M, after a warm-up run, so curl's start (loading its libraries costs 0.1-3 s
 * of system time in the VM, varying run to run) cancels out. Run on the host and in the VM it
 * estimates what emulation costs C socket code: keepalived's figure in the VM has no host run to
 * compare with (no IPVS on the host).
 */
export function curlCost(port: number, requests: number): { requests: number; cpuSec: number; msPerRequest: number } {
  const run = (k: number): number => {
    const urls = Array.from({ length: k }, (_, i) => `http://${address(i)}:${port}/healthz`);
    const c0 = childrenCpuSec();
    const r = spawnSync('curl', ['-sf', '--http1.0', ...urls], { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`curl exited ${r.status ?? r.signal}`);
    return childrenCpuSec() - c0;
  };
  run(1);
  const cpu = run(2 * requests) - run(requests);
  return { requests, cpuSec: cpu, msPerRequest: (cpu * 1000) / requests };
}

/** cutime + cstime of this process: the CPU of the children it has waited for */
function childrenCpuSec(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / clkTck;
}

async function main(): Promise<void> {
  const [outArg, nArg, intervalArg, windowArg] = process.argv.slice(2);
  const out = outArg ?? '/dev/stdout';
  const intervalMs = Number(intervalArg ?? 2000);
  // 100 at 2 s by default: under TCG lvsd fell behind at 100 checks/s (see the README)
  const s: Settings = { n: Number(nArg ?? 100), intervalMs, timeoutMs: Math.min(1000, intervalMs), windowMs: Number(windowArg ?? 20_000) };
  // the VM's init brings lo up; do it here too so the script stands alone (root in the guest)
  spawnSync('ip', ['link', 'set', 'lo', 'up']);
  spawnSync('ipvsadm', ['-C']);
  const kv = spawnSync('keepalived', ['--version'], { encoding: 'utf8' });
  const keepalivedVersion = `${kv.stderr}${kv.stdout}`.split('\n')[0]?.trim() ?? 'unknown';
  const target = await startTarget();
  progress(`target server on port ${target.port}`);
  let curl: VmCheckersResult['curl'];
  const results: VmCheckersResult['results'] = [];
  try {
    try { curl = curlCost(target.port, CURL_REQUESTS_VM); } catch (e) { curl = { failed: (e as Error).message }; }
    progress('curl measured');
    for (const kind of ['tcp', 'http'] as const) {
      try {
        const keepalived = await runKeepalived(s, kind, target, keepalivedVersion);
        progress(`${kind}: keepalived done`);
        const lvsd = await runLvsd(s, kind, target);
        results.push({
          kind, ...s, expectedChecks: Math.round((s.n * keepalived.windowSec * 1000) / s.intervalMs),
          keepalived, lvsd, ratio: keepalived.cpuMsPer1kChecks / lvsd.cpuMsPer1kChecks,
        });
      } catch (e) {
        progress(`${kind}: failed`);
        results.push({ kind, failed: (e as Error).message });
      }
    }
  } finally {
    progress('stopping the target server');
    await stop(target.child, 5000);
    spawnSync('ipvsadm', ['-C']);
  }
  const result: VmCheckersResult = { keepalivedVersion, clkTck, cpus: cpus().length, curl, results };
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  progress('done');
}

// a script in the VM; run.ts imports curlCost only
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
