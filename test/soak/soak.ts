/**
 * Soak: the real daemon for a long while against flapping realservers, watching for leaks.
 * Not part of CI or `npm test`: run it by hand, on an otherwise quiet machine if the lag figures
 * are to mean something.
 *
 *   npm run soak -- [--duration 1h] [--realservers 200] [--interval 1s] [--json]
 *   node --import tsx test/soak/soak.ts --duration 10m --reload-every 1m
 *
 * In this process: N loopback realservers on 127.0.0.1 (ports below the ephemeral range, so a
 * closed listener can be reopened on its port) behind five services: `web` and `api` (HTTP
 * checks), `db` (TCP), `smtp` (banner `^220 `) and `dns` (an exec check: a shell script that
 * exits 0/1, or sleeps past the timeout, as a state file this script flips says). Each realserver
 * flaps on its own random schedule between healthy and a failing mode: HTTP 503 / wrong banner /
 * exit 1, slow (answers after the timeout), connection refused (listener closed and reopened).
 * A webhook receiver counts the alerts lvsd delivers.
 *
 * The daemon is `lvsd run` from source, as a child (ipvs driver memory, API on 127.0.0.1:0 with a
 * bearer token, state_dir in a temp dir). Every 5 minutes the config is rewritten with some
 * weights changed and the daemon gets SIGHUP; every minute one realserver is drained through the
 * API and made ready again 20 s later. Every 10 s: the daemon's RSS (/proc/PID/status), open fds
 * (/proc/PID/fd), child processes (ppid == PID), the event-loop lag p99 from /metrics, the probe
 * schedule lag over the last 10 s (p99 and the share later than 50 ms, from histogram bucket
 * deltas), transitions and alerts delivered. At the end: a summary table (or one JSON object with
 * --json) with the RSS trend (least-squares MB/hour after a 5-minute warm-up). Exit 1 when the
 * daemon died; everything started here is stopped by PID and the temp dir removed, also on
 * SIGINT/SIGTERM. Progress goes to stderr once a minute.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

// ---------------------------------------------------------------------------------------------
// options

const USAGE = `usage: node --import tsx test/soak/soak.ts [--duration 1h] [--realservers 200] [--interval 1s] [--json]
       [--reload-every 5m] [--drain-every 1m] [--sample-every 10s] [--seed N]`;

function parseDuration(text: string, what: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let ms = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    ms += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    if (re.lastIndex === text.length) return ms;
  }
  throw new Error(`${what}: expected a duration such as 30s, 10m, 1h or 1m30s; got ${JSON.stringify(text)}`);
}

function options(): {
  durationMs: number; realservers: number; intervalMs: number; json: boolean;
  reloadEveryMs: number; drainEveryMs: number; sampleEveryMs: number; seed: number;
} {
  try {
    const { values } = parseArgs({
      options: {
        duration: { type: 'string', default: '1h' },
        realservers: { type: 'string', default: '200' },
        interval: { type: 'string', default: '1s' },
        json: { type: 'boolean', default: false },
        'reload-every': { type: 'string', default: '5m' },
        'drain-every': { type: 'string', default: '1m' },
        'sample-every': { type: 'string', default: '10s' },
        seed: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    const realservers = Number(values.realservers);
    if (!Number.isInteger(realservers) || realservers < 10 || realservers > 20_000) throw new Error('--realservers: an integer from 10 to 20000');
    const intervalMs = parseDuration(values.interval, '--interval');
    if (intervalMs < 200) throw new Error('--interval: at least 200ms');
    return {
      durationMs: parseDuration(values.duration, '--duration'), realservers, intervalMs, json: values.json,
      reloadEveryMs: parseDuration(values['reload-every'], '--reload-every'),
      drainEveryMs: parseDuration(values['drain-every'], '--drain-every'),
      sampleEveryMs: parseDuration(values['sample-every'], '--sample-every'),
      seed: values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31),
    };
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
}

const opt = options();
const TIMEOUT_MS = Math.min(2000, Math.round(opt.intervalMs / 2));
/** a slow realserver answers this long after the request: well past the probe's deadline */
const SLOW_MS = TIMEOUT_MS + 1500;
/** what the exec check's script sleeps in `slow`: past the deadline, and odd enough to spot a leaked one */
const SLEEP_ARG = `${Math.ceil(SLOW_MS / 1000)}.0271`;
const WARMUP_SEC = 300;

/** mulberry32: the flapping schedule is reproducible with --seed */
const random = ((seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
})(opt.seed);
const between = (lo: number, hi: number): number => lo + random() * (hi - lo);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

const log = (msg: string): void => { process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}\n`); };
const sleep = (ms: number, signal?: AbortSignal): Promise<void> => new Promise((resolve) => {
  if (signal?.aborted) return resolve();
  const t = setTimeout(done, ms);
  function done(): void { clearTimeout(t); signal?.removeEventListener('abort', done); resolve(); }
  signal?.addEventListener('abort', done, { once: true });
});

// ---------------------------------------------------------------------------------------------
// temp dir, cleanup

const dir = mkdtempSync(path.join(os.tmpdir(), 'lvsd-soak-'));
const stateDir = path.join(dir, 'state');
const execDir = path.join(dir, 'exec-state');
mkdirSync(execDir);
const configPath = path.join(dir, 'lvsd.yaml');
const tokenPath = path.join(dir, 'api-token');
const TOKEN = `soak-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
writeFileSync(tokenPath, `${TOKEN}\n`, { mode: 0o600 });
const scriptPath = path.join(dir, 'exec-check.sh');
writeFileSync(scriptPath, [
  '#!/bin/sh',
  '# soak exec check: the state file of this port says up, down or slow',
  `case "$(cat '${execDir}'/"$1" 2>/dev/null)" in`,
  '  up) exit 0 ;;',
  `  slow) sleep ${SLEEP_ARG}; exit 0 ;;`,
  '  *) exit 1 ;;',
  'esac',
  '',
].join('\n'), { mode: 0o755 });

let daemon: ChildProcess | undefined;
let cleanedUp = false;
/** last resort (an exception, process.exit): the daemon by PID, and the temp dir */
process.on('exit', () => {
  if (daemon?.pid !== undefined && daemon.exitCode === null && daemon.signalCode === null) {
    try { process.kill(daemon.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  if (!cleanedUp) rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// realservers

type Kind = 'http' | 'tcp' | 'banner' | 'exec';
type Mode = 'healthy' | 'fail' | 'slow' | 'refused';
const FAILING: Record<Kind, readonly Mode[]> = {
  http: ['fail', 'slow', 'refused'],
  tcp: ['refused'],
  banner: ['fail', 'slow', 'refused'],
  exec: ['fail', 'slow'],
};

const [portLo] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
/** listen ports below the ephemeral range: no outgoing connection takes one while it is closed */
const PORT_MIN = 20_000;
const PORT_MAX = Math.max(PORT_MIN + 5000, (portLo ?? 32768) - 1);
const usedPorts = new Set<number>();
let reopenFailures = 0;
let modeChanges = 0;

class Target {
  mode: Mode = 'healthy';
  port = 0;
  weight: number;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private flapTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private reopening = false;

  readonly kind: Kind;
  readonly service: string;
  readonly index: number;

  constructor(kind: Kind, service: string, index: number) {
    this.kind = kind;
    this.service = service;
    this.index = index;
    this.weight = 1 + Math.floor(random() * 5);
  }

  get address(): string { return `127.0.0.1:${this.port}`; }

  async start(): Promise<void> {
    if (this.kind === 'exec') {
      this.port = 10_000 + this.index; // never connected to: the exec check reads its state file
      this.writeState();
    } else {
      for (let attempt = 0; ; attempt++) {
        const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN));
        if (usedPorts.has(port)) continue;
        try {
          await this.listen(port);
          this.port = port;
          usedPorts.add(port);
          break;
        } catch (e) {
          if (attempt > 50) throw e;
        }
      }
    }
    this.flapTimer = setTimeout(() => this.flap(), between(5_000, 120_000));
  }

  private handleHttp = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    req.resume();
    switch (this.mode) {
      case 'healthy':
        res.end('ok');
        break;
      case 'slow': {
        const t = setTimeout(() => { this.timers.delete(t); if (!res.destroyed) res.end('ok'); }, SLOW_MS);
        this.timers.add(t);
        res.once('close', () => { clearTimeout(t); this.timers.delete(t); });
        break;
      }
      default:
        res.statusCode = 503;
        res.end('unavailable');
    }
  };

  private handleBanner = (sock: net.Socket): void => {
    if (this.mode === 'healthy') sock.end('220 soak.test ESMTP ready\r\n');
    else if (this.mode === 'fail') sock.end('554 soak.test no service here\r\n');
    // slow: say nothing; the probe gives up at its deadline and hangs up
  };

  private listen(port: number): Promise<void> {
    const server = this.kind === 'http' ? http.createServer(this.handleHttp)
      : this.kind === 'banner' ? net.createServer(this.handleBanner)
        : net.createServer(() => {}); // tcp: accept, wait for the probe to close
    server.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.on('error', () => {});
      s.once('close', () => this.sockets.delete(s));
    });
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        server.on('error', () => {});
        this.server = server;
        resolve();
      });
    });
  }

  private closeListener(): void {
    this.server?.close();
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private wantsListener(): boolean {
    return !this.stopped && this.mode !== 'refused';
  }

  /** listen on the port again (retrying while something else holds it), unless refused again meanwhile */
  private async reopen(): Promise<void> {
    if (this.reopening) return;
    this.reopening = true;
    try {
      while (this.wantsListener() && this.server === undefined) {
        try {
          await this.listen(this.port);
        } catch {
          reopenFailures++;
          await sleep(500);
        }
      }
      if (!this.wantsListener()) this.closeListener();
    } finally {
      this.reopening = false;
    }
  }

  private writeState(): void {
    const file = path.join(execDir, String(this.port));
    writeFileSync(`${file}.tmp`, this.mode === 'healthy' ? 'up' : this.mode === 'slow' ? 'slow' : 'down');
    renameSync(`${file}.tmp`, file);
  }

  private flap(): void {
    if (this.stopped) return;
    const from = this.mode;
    const to: Mode = from !== 'healthy' && random() < 0.7 ? 'healthy' : pick(FAILING[this.kind]);
    this.setMode(to);
    // healthy for 10 s .. 3 min, failing for 3 s .. 1 min: a steady stream of transitions, and
    // some failures too short to reach `fall`
    const hold = to === 'healthy' ? between(10_000, 180_000) : between(3_000, 60_000);
    this.flapTimer = setTimeout(() => this.flap(), hold);
  }

  private setMode(to: Mode): void {
    const from = this.mode;
    if (from === to) return;
    modeChanges++;
    this.mode = to;
    if (this.kind === 'exec') return this.writeState();
    if (to === 'refused') this.closeListener();
    else if (from === 'refused') void this.reopen();
    else {
      // a mode change reaches a kept-alive connection at its next request; pending slow answers go
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
    }
  }

  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.flapTimer);
    const server = this.server;
    this.closeListener();
    return server ? new Promise((resolve) => server.close(() => resolve())) : Promise.resolve();
  }
}

function planTargets(n: number): Target[] {
  const exec = Math.max(2, Math.min(10, Math.round(n * 0.05)));
  const banner = Math.round(n * 0.1);
  const tcp = Math.round(n * 0.25);
  const api = Math.round(n * 0.2);
  const web = n - exec - banner - tcp - api;
  const out: Target[] = [];
  const add = (count: number, kind: Kind, service: string): void => {
    for (let i = 0; i < count; i++) out.push(new Target(kind, service, out.length));
  };
  add(web, 'http', 'web');
  add(api, 'http', 'api');
  add(tcp, 'tcp', 'db');
  add(banner, 'banner', 'smtp');
  add(exec, 'exec', 'dns');
  return out;
}

// ---------------------------------------------------------------------------------------------
// webhook receiver

const alerts = { posts: 0, ids: new Set<string>(), byType: new Map<string, number>() };
const receiver = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => { if (body.length < 65_536) body += d; });
  req.on('end', () => {
    alerts.posts++;
    const id = req.headers['idempotency-key'];
    if (typeof id === 'string') alerts.ids.add(id);
    try {
      const type = (JSON.parse(body) as { type?: string }).type ?? '?';
      alerts.byType.set(type, (alerts.byType.get(type) ?? 0) + 1);
    } catch { /* counted all the same */ }
    res.end('ok');
  });
});
const receiverSockets = new Set<net.Socket>();
receiver.on('connection', (s: net.Socket) => { receiverSockets.add(s); s.once('close', () => receiverSockets.delete(s)); });

// ---------------------------------------------------------------------------------------------
// config

function configText(targets: readonly Target[], receiverPort: number): string {
  const interval = `${opt.intervalMs}ms`;
  const lines = [
    '# written by test/soak/soak.ts',
    'node: { name: soak }',
    `api: { listen: "127.0.0.1:0", socket: false, token_file: "${tokenPath}" }`,
    'ipvs: { driver: memory, resync_interval: 30s }',
    `state_dir: "${stateDir}"`,
    `defaults: { interval: ${interval}, timeout: ${TIMEOUT_MS}ms, rise: 2, fall: 2 }`,
    'alerts:',
    '  - name: soak',
    `    webhook: { url: "http://127.0.0.1:${receiverPort}/alerts" }`,
    '    retry_initial: 200ms',
    '    retry_max: 5s',
    'services:',
  ];
  const svc: Record<string, string[]> = {
    web: ['address: 192.0.2.10:80', 'scheduler: wlc', 'slow_start: 10s', 'check: { type: http, path: /healthz, expect_status: [200], expect_body: "ok" }'],
    api: ['address: 192.0.2.11:80', 'scheduler: wrr', 'check: { type: http, path: /ready, expect_status: [200, 204] }'],
    db: ['address: 192.0.2.12:5432', 'scheduler: lc', 'check: { type: tcp }'],
    smtp: ['address: 192.0.2.25:25', 'scheduler: rr', 'check: { type: banner, expect: "^220 " }'],
    dns: ['address: 192.0.2.53:53', 'scheduler: rr', 'sorry_server: 198.51.100.99:53', `check: { type: exec, command: ["${scriptPath}", "{port}"] }`],
  };
  for (const [name, keys] of Object.entries(svc)) {
    lines.push(`  - name: ${name}`, ...keys.map((k) => `    ${k}`), '    realservers:');
    for (const t of targets) if (t.service === name) lines.push(`      - { address: "${t.address}", weight: ${t.weight} }`);
  }
  return `${lines.join('\n')}\n`;
}

function writeConfig(text: string): void {
  writeFileSync(`${configPath}.tmp`, text);
  renameSync(`${configPath}.tmp`, configPath);
}

// ---------------------------------------------------------------------------------------------
// the daemon's process, from /proc

function rssMB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** CPU seconds (user + system) the process has used; clock ticks of 1/100 s (USER_HZ on Linux) */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // after "pid (comm) ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** children of the daemon, and processes of the exec check that outlived their parent (strays) */
function processes(pid: number): { children: number; strays: number } {
  const ppid = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ppid.set(Number(name), Number(rest[1]));
    } catch { /* gone meanwhile */ }
  }
  let children = 0;
  let strays = 0;
  for (const [p, parent] of ppid) {
    if (parent === pid) children++;
    if (parent === pid || p === pid) continue;
    let cmd: string;
    try { cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8'); } catch { continue; }
    if (cmd !== `sleep\0${SLEEP_ARG}\0` && !cmd.includes(scriptPath)) continue;
    // the script's own sleep is fine while the script runs under the daemon
    let up = parent;
    for (let hops = 0; hops < 4 && up > 1 && up !== pid; hops++) up = ppid.get(up) ?? 0;
    if (up !== pid) strays++;
  }
  return { children, strays };
}

// ---------------------------------------------------------------------------------------------
// /metrics

type Series = { name: string; labels: string; value: number };

function parseMetrics(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (m) out.push({ name: m[1]!, labels: m[2] ?? '', value: Number(m[3]) });
  }
  return out;
}

const sum = (s: readonly Series[], name: string, labelPart = ''): number =>
  s.filter((x) => x.name === name && x.labels.includes(labelPart)).reduce((a, x) => a + x.value, 0);

/** cumulative counts per `le` of a histogram, summed over its label sets */
function buckets(s: readonly Series[], name: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const x of s) {
    if (x.name !== `${name}_bucket`) continue;
    const le = /le="([^"]+)"/.exec(x.labels)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + x.value);
  }
  return out;
}

/** p99 (linear within the bucket) and the share above `lateSec`, from bucket deltas */
function histogramWindow(prev: Map<number, number>, cur: Map<number, number>, lateSec: number): { count: number; p99: number; late: number } {
  const bounds = [...cur.keys()].sort((a, b) => a - b);
  const delta = bounds.map((b) => (cur.get(b) ?? 0) - (prev.get(b) ?? 0));
  const count = delta.at(-1) ?? 0;
  if (count <= 0) return { count: 0, p99: Number.NaN, late: Number.NaN };
  const target = 0.99 * count;
  let p99 = Number.NaN;
  for (let i = 0; i < bounds.length; i++) {
    if (delta[i]! >= target) {
      const hi = bounds[i]!;
      const lo = i === 0 ? 0 : bounds[i - 1]!;
      const below = i === 0 ? 0 : delta[i - 1]!;
      p99 = hi === Infinity ? lo : lo + ((hi - lo) * (target - below)) / Math.max(1, delta[i]! - below);
      break;
    }
  }
  const within = cur.has(lateSec) ? (cur.get(lateSec) ?? 0) - (prev.get(lateSec) ?? 0) : Number.NaN;
  return { count, p99, late: (count - within) / count };
}

// ---------------------------------------------------------------------------------------------
// the run

interface Sample {
  t: number; rssMB: number; fds: number; children: number; strays: number; cpuSec: number; load1: number;
  heapMB: number; loopLagP99Ms: number; schedP99Ms: number; schedLate: number; schedCount: number;
  checks: number; transitions: number; alerts: number;
}

const samples: Sample[] = [];
const logCounts = { lines: 0, transitions: 0, warn: new Map<string, number>(), error: new Map<string, number>() };
const lastLines: string[] = [];
let apiPort = 0;
let reloadsSent = 0;
const drains = { drainOk: 0, readyOk: 0, failed: 0, errors: new Map<string, number>() };
let scrapeFailures = 0;
let lastScrape: Series[] = [];
let died: { code: number | null; signal: NodeJS.Signals | null } | undefined;
const soakLag = monitorEventLoopDelay({ resolution: 10 });
let soakLagMaxP99 = 0;

const stop = new AbortController();
let interrupted: NodeJS.Signals | undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) {
      // a second signal: no summary, just stop what runs (the exit handler kills the daemon)
      process.exit(130);
    }
    interrupted = sig;
    log(`${sig}: stopping early, summary follows`);
    stop.abort();
  });
}

async function api(pathname: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${apiPort}${pathname}`, {
    method: 'POST', body: '{}',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  return res.status;
}

async function drainCycle(targets: readonly Target[]): Promise<void> {
  const t = pick(targets.filter((x) => x.service !== 'dns'));
  const where = `/api/v1/services/${t.service}/realservers/${encodeURIComponent(t.address)}`;
  const note = (what: string, status: number | string): void => {
    drains.failed++;
    const key = `${what} ${status}`;
    drains.errors.set(key, (drains.errors.get(key) ?? 0) + 1);
  };
  try {
    const s = await api(`${where}/drain`);
    if (s === 200) drains.drainOk++;
    else note('drain', s);
  } catch (e) { note('drain', (e as Error).message); }
  await sleep(Math.min(20_000, opt.drainEveryMs / 3), stop.signal);
  try {
    const s = await api(`${where}/ready`);
    if (s === 200) drains.readyOk++;
    else note('ready', s);
  } catch (e) { note('ready', (e as Error).message); }
}

function reload(targets: readonly Target[], receiverPort: number): void {
  if (!daemon?.pid) return;
  // about 10 % of the realservers get another weight
  for (const t of targets) if (random() < 0.1) t.weight = 1 + Math.floor(random() * 10);
  writeConfig(configText(targets, receiverPort));
  daemon.kill('SIGHUP'); // by PID
  reloadsSent++;
}

async function sample(pid: number, t0: number): Promise<void> {
  let rss: number;
  let fds: number;
  let procs: { children: number; strays: number };
  let cpu: number;
  try {
    cpu = cpuSeconds(pid);
    rss = rssMB(pid);
    fds = fdCount(pid);
    procs = processes(pid);
  } catch {
    return; // the daemon is gone; its exit is handled elsewhere
  }
  let metrics: Series[];
  try {
    const res = await fetch(`http://127.0.0.1:${apiPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    metrics = parseMetrics(await res.text());
  } catch {
    scrapeFailures++;
    return;
  }
  const prev = lastScrape;
  lastScrape = metrics;
  const sched = histogramWindow(buckets(prev, 'lvsd_probe_schedule_lag_seconds'), buckets(metrics, 'lvsd_probe_schedule_lag_seconds'), 0.05);
  soakLagMaxP99 = Math.max(soakLagMaxP99, soakLag.percentile(99) / 1e6);
  soakLag.reset();
  samples.push({
    t: (performance.now() - t0) / 1000,
    rssMB: rss, fds, children: procs.children, strays: procs.strays, cpuSec: cpu, load1: os.loadavg()[0]!,
    heapMB: sum(metrics, 'lvsd_nodejs_heap_size_used_bytes') / 2 ** 20,
    loopLagP99Ms: sum(metrics, 'lvsd_nodejs_eventloop_lag_p99_seconds') * 1000,
    schedP99Ms: sched.p99 * 1000, schedLate: sched.late, schedCount: sched.count,
    checks: sum(metrics, 'lvsd_probes_total'),
    transitions: sum(metrics, 'lvsd_realserver_transitions_total'),
    alerts: alerts.posts,
  });
}

function onLine(line: string): void {
  logCounts.lines++;
  lastLines.push(line);
  if (lastLines.length > 40) lastLines.shift();
  if (!line.startsWith('{')) return;
  let e: { level?: number; msg?: string; err?: { message?: string }; error?: string };
  try { e = JSON.parse(line) as typeof e; } catch { return; }
  if (e.msg === 'realserver transition') logCounts.transitions++;
  if ((e.level ?? 0) >= 40) {
    const m = (e.level ?? 0) >= 50 ? logCounts.error : logCounts.warn;
    const key = (e.msg ?? '?').slice(0, 80);
    m.set(key, (m.get(key) ?? 0) + 1);
  }
}

async function main(): Promise<number> {
  const targets = planTargets(opt.realservers);
  await Promise.all(targets.map((t) => t.start()));
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const receiverPort = (receiver.address() as net.AddressInfo).port;
  writeConfig(configText(targets, receiverPort));
  log(`${targets.length} realservers (${['web', 'api', 'db', 'smtp', 'dns'].map((s) => `${s} ${targets.filter((t) => t.service === s).length}`).join(', ')}), `
    + `interval ${opt.intervalMs} ms, timeout ${TIMEOUT_MS} ms, seed ${opt.seed}, for ${opt.durationMs / 1000} s; temp dir ${dir}`);

  daemon = spawn(process.execPath, ['--max-semi-space-size=4', '--import', 'tsx', MAIN, 'run', '-c', configPath], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' },
  });
  const pid = daemon.pid!;
  let stopping = false;
  const exited = new Promise<void>((resolve) => daemon!.once('exit', (code, signal) => {
    if (!stopping) died = { code, signal };
    resolve();
  }));
  const listening = new Promise<number>((resolve, reject) => {
    createInterface({ input: daemon!.stdout! }).on('line', (line) => {
      onLine(line);
      if (apiPort === 0 && line.includes('"msg":"api listening"')) {
        resolve((JSON.parse(line) as { listen: { port: number } }).listen.port);
      }
    });
    void exited.then(() => reject(new Error('lvsd exited before "api listening"')));
    setTimeout(() => reject(new Error('no "api listening" within 60 s')), 60_000).unref();
  });
  createInterface({ input: daemon.stderr! }).on('line', (line) => {
    lastLines.push(`stderr: ${line}`);
    if (lastLines.length > 40) lastLines.shift();
  });
  const tStart = performance.now();
  try {
    apiPort = await listening;
  } catch (e) {
    log(`${(e as Error).message}; last output:\n${lastLines.join('\n')}`);
    await shutdown(targets, exited);
    return 2;
  }
  log(`lvsd pid ${pid} up in ${((performance.now() - tStart) / 1000).toFixed(1)} s, API on 127.0.0.1:${apiPort}`);
  soakLag.enable();

  const t0 = performance.now();
  const timers: NodeJS.Timeout[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>): void => { inFlight.add(p); void p.finally(() => inFlight.delete(p)); };
  await sample(pid, t0);
  timers.push(setInterval(() => track(sample(pid, t0)), opt.sampleEveryMs));
  timers.push(setInterval(() => track(drainCycle(targets)), opt.drainEveryMs));
  timers.push(setInterval(() => reload(targets, receiverPort), opt.reloadEveryMs));
  timers.push(setInterval(() => {
    const s = samples.at(-1);
    if (s) log(`t=${s.t.toFixed(0)}s rss=${s.rssMB.toFixed(1)}MB heap=${s.heapMB.toFixed(1)}MB fds=${s.fds} children=${s.children} loop p99=${s.loopLagP99Ms.toFixed(1)}ms `
      + `sched p99=${s.schedP99Ms.toFixed(0)}ms late=${(100 * s.schedLate).toFixed(1)}% checks=${s.checks} transitions=${s.transitions} alerts=${s.alerts} reloads=${reloadsSent} drains=${drains.drainOk}`);
  }, 60_000));

  await Promise.race([sleep(opt.durationMs, stop.signal), exited]);
  for (const t of timers) clearInterval(t);
  stop.abort(); // a drain cycle waiting to undrain goes on at once
  await Promise.allSettled([...inFlight]);
  if (!died) await sample(pid, t0); // the final figures
  const elapsedSec = (performance.now() - t0) / 1000;
  stopping = true;
  const shutdownMs = await shutdown(targets, exited);
  report(elapsedSec, shutdownMs, targets.length);
  return died ? 1 : interrupted ? 130 : 0;

  async function shutdown(ts: readonly Target[], gone: Promise<void>): Promise<number> {
    stopping = true;
    const t = performance.now();
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM'); // by PID
      const killer = setTimeout(() => daemon?.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(killer);
    }
    const ms = performance.now() - t;
    await Promise.all(ts.map((x) => x.stop()));
    for (const s of receiverSockets) s.destroy();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
    cleanedUp = true;
    return ms;
  }
}

// ---------------------------------------------------------------------------------------------
// summary

const median = (xs: readonly number[]): number => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};
const finite = (xs: readonly number[]): number[] => xs.filter((x) => Number.isFinite(x));
const max = (xs: readonly number[]): number => (finite(xs).length ? Math.max(...finite(xs)) : Number.NaN);
const min = (xs: readonly number[]): number => (finite(xs).length ? Math.min(...finite(xs)) : Number.NaN);
const round = (x: number, digits = 1): number => (Number.isFinite(x) ? Number(x.toFixed(digits)) : Number.NaN);

/** least-squares slope of y over x */
function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 3) return Number.NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

function report(elapsedSec: number, shutdownMs: number, realservers: number): void {
  const first = samples[0];
  const last = samples.at(-1);
  const end = last?.t ?? 0;
  const firstWin = samples.filter((s) => s.t <= 600);
  const lastWin = samples.filter((s) => s.t >= end - 600);
  // growth after the warm-up; a run too short for that fits its last two thirds
  const fitFrom = end - WARMUP_SEC >= 600 ? WARMUP_SEC : end / 3;
  const fit = samples.filter((s) => s.t >= fitFrom).map((s) => ({ x: s.t / 3600, y: s.rssMB }));
  const heapFit = samples.filter((s) => s.t >= fitFrom).map((s) => ({ x: s.t / 3600, y: s.heapMB }));
  const metric = (name: string, labelPart = ''): number => sum(lastScrape, name, labelPart);
  const schedLate = samples.reduce((a, s) => a + (Number.isFinite(s.schedLate) ? s.schedLate * s.schedCount : 0), 0)
    / Math.max(1, samples.reduce((a, s) => a + (Number.isFinite(s.schedLate) ? s.schedCount : 0), 0));
  const topOf = (m: Map<string, number>): Record<string, number> => Object.fromEntries([...m].sort((a, b) => b[1] - a[1]).slice(0, 5));
  const summary = {
    durationSec: round(elapsedSec, 0),
    realservers, intervalMs: opt.intervalMs, timeoutMs: TIMEOUT_MS, seed: opt.seed,
    daemon: { died: died !== undefined, exitCode: died?.code ?? null, signal: died?.signal ?? null, shutdownMs: died ? null : round(shutdownMs, 0) },
    interrupted: interrupted ?? null,
    checks: metric('lvsd_probes_total'),
    checksPerSec: round(metric('lvsd_probes_total') / elapsedSec, 1),
    probeResults: Object.fromEntries(['ok', 'fail', 'timeout', 'error'].map((r) => [r, metric('lvsd_probes_total', `result="${r}"`)])),
    flapsInjected: modeChanges,
    transitions: metric('lvsd_realserver_transitions_total'),
    transitionsLogged: logCounts.transitions,
    reloads: { sent: reloadsSent, ok: metric('lvsd_config_reloads_total', 'result="success"'), failed: metric('lvsd_config_reloads_total', 'result="failure"') },
    drains: { drained: drains.drainOk, readied: drains.readyOk, failed: drains.failed, errors: topOf(drains.errors) },
    alerts: {
      delivered: alerts.posts, distinct: alerts.ids.size, byType: Object.fromEntries(alerts.byType),
      sentMetric: metric('lvsd_alerts_sent_total', 'result="sent"'), failedMetric: metric('lvsd_alerts_sent_total', 'result="failed"'),
      queueDepthAtEnd: metric('lvsd_alerts_queue_depth'),
    },
    rssMB: {
      first10minMedian: round(median(firstWin.map((s) => s.rssMB))), last10minMedian: round(median(lastWin.map((s) => s.rssMB))),
      max: round(max(samples.map((s) => s.rssMB))), growthMBPerHour: round(slope(fit), 2), fitFromSec: round(fitFrom, 0), samples: samples.length,
    },
    heapUsedMB: {
      first10minMedian: round(median(firstWin.map((s) => s.heapMB))), last10minMedian: round(median(lastWin.map((s) => s.heapMB))),
      max: round(max(samples.map((s) => s.heapMB))), growthMBPerHour: round(slope(heapFit), 2),
    },
    fds: { min: min(samples.map((s) => s.fds)), max: max(samples.map((s) => s.fds)), first: first?.fds ?? Number.NaN, last: last?.fds ?? Number.NaN },
    children: { max: max(samples.map((s) => s.children)), last: last?.children ?? Number.NaN, straysMax: max(samples.map((s) => s.strays)) },
    eventLoopLagP99Ms: { max: round(max(samples.map((s) => s.loopLagP99Ms))), median: round(median(samples.map((s) => s.loopLagP99Ms))) },
    scheduleLag: {
      p99MaxMs: round(max(samples.map((s) => s.schedP99Ms)), 0), p99MedianMs: round(median(samples.map((s) => s.schedP99Ms)), 0),
      lateOver50msPct: round(100 * schedLate, 2), lateOver50msPctMax: round(100 * max(samples.map((s) => s.schedLate)), 2),
    },
    daemonCpuCores: first && last && last.t > first.t ? round((last.cpuSec - first.cpuSec) / (last.t - first.t), 2) : Number.NaN,
    machine: { cpus: os.cpus().length, load1Median: round(median(samples.map((s) => s.load1))), load1Max: round(max(samples.map((s) => s.load1))) },
    soakProcessLoopLagP99MaxMs: round(soakLagMaxP99),
    realserverReopenRetries: reopenFailures,
    scrapeFailures,
    logs: { lines: logCounts.lines, warnings: topOf(logCounts.warn), errors: topOf(logCounts.error) },
  };
  if (opt.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    const f = (x: number, unit = ''): string => (Number.isFinite(x) ? `${x}${unit}` : '-');
    const kv = (o: Record<string, number>): string => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ') || '-';
    const rows: [string, string][] = [
      ['duration', `${f(summary.durationSec, ' s')} (${realservers} realservers, interval ${opt.intervalMs} ms, timeout ${TIMEOUT_MS} ms, seed ${opt.seed})`],
      ['daemon', died ? `DIED (code ${died.code}, signal ${died.signal})` : `ran throughout; SIGTERM to exit ${f(round(shutdownMs, 0), ' ms')}`],
      ['checks run', `${summary.checks} (${f(summary.checksPerSec, '/s')}; ${kv(summary.probeResults)})`],
      ['flaps injected', `${summary.flapsInjected}`],
      ['transitions', `${summary.transitions} (${summary.transitionsLogged} logged)`],
      ['reloads (SIGHUP)', `${summary.reloads.sent} sent, ${summary.reloads.ok} ok, ${summary.reloads.failed} failed`],
      ['drains via API', `${summary.drains.drained} drained, ${summary.drains.readied} made ready, ${summary.drains.failed} failed ${kv(summary.drains.errors)}`],
      ['alerts delivered', `${summary.alerts.delivered} POSTs, ${summary.alerts.distinct} distinct ids (lvsd: ${summary.alerts.sentMetric} sent, ${summary.alerts.failedMetric} failed attempts, ${summary.alerts.queueDepthAtEnd} queued at end)`],
      ['alert types', kv(summary.alerts.byType)],
      ['RSS first 10 min', f(summary.rssMB.first10minMedian, ' MB (median)')],
      ['RSS last 10 min', f(summary.rssMB.last10minMedian, ' MB (median)')],
      ['RSS max', f(summary.rssMB.max, ' MB')],
      ['RSS growth', `${f(summary.rssMB.growthMBPerHour, ' MB/hour')} (least squares, samples after ${summary.rssMB.fitFromSec} s)`],
      ['heap used', `${f(summary.heapUsedMB.first10minMedian)} -> ${f(summary.heapUsedMB.last10minMedian)} MB (medians), max ${f(summary.heapUsedMB.max)} MB, ${f(summary.heapUsedMB.growthMBPerHour, ' MB/hour')}`],
      ['fds', `min ${f(summary.fds.min)}, max ${f(summary.fds.max)}, first ${f(summary.fds.first)}, last ${f(summary.fds.last)}`],
      ['child processes', `max ${f(summary.children.max)}, last ${f(summary.children.last)}; stray exec processes max ${f(summary.children.straysMax)}`],
      ['event-loop lag p99', `max ${f(summary.eventLoopLagP99Ms.max, ' ms')}, median ${f(summary.eventLoopLagP99Ms.median, ' ms')}`],
      ['schedule lag p99', `max ${f(summary.scheduleLag.p99MaxMs, ' ms')}, median ${f(summary.scheduleLag.p99MedianMs, ' ms')} (per ${opt.sampleEveryMs / 1000} s window)`],
      ['probes > 50 ms late', `${f(summary.scheduleLag.lateOver50msPct, ' %')} overall, worst window ${f(summary.scheduleLag.lateOver50msPctMax, ' %')}`],
      ['daemon CPU', `${f(summary.daemonCpuCores, ' cores')} on average (machine: ${summary.machine.cpus} CPUs, load average median ${f(summary.machine.load1Median)}, max ${f(summary.machine.load1Max)})`],
      ['soak loop lag p99', `max ${f(summary.soakProcessLoopLagP99MaxMs, ' ms')} (this script's own: the realservers' responsiveness)`],
      ['log lines', `${summary.logs.lines}; warnings: ${kv(summary.logs.warnings)}; errors: ${kv(summary.logs.errors)}`],
      ['other', `${samples.length} samples, ${scrapeFailures} failed scrapes, ${reopenFailures} listener reopen retries`],
    ];
    const w = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(`\nlvsd soak summary\n${rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n')}\n`);
  }
  if (died) process.stderr.write(`lvsd died; its last output:\n${lastLines.join('\n')}\n`);
}

process.exitCode = await main();
