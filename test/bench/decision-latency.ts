/**
 * Decision → table: the time from the probe result that decides a transition (the daemon's
 * transition event) to the driver's report that the change is applied (for ipvsadm: the call
 * returned, so the kernel holds it). Realservers fail one at a time, each waiting for the
 * previous change to land: the latency of a lone change, not of a storm. One loopback HTTP
 * server answers for every 127.2.x.y realserver and fails the ones it is told to.
 */
import { createServer } from 'node:http';
import { createProbeKit } from '../../checks/index.js';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { ApplyResult, IpvsDriver, IpvsOp } from '../../src/ipvs/types.js';

export interface LatencyResult {
  readonly driver: string;
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** the driver, with a hook that sees every op once apply() has returned */
function observed(inner: IpvsDriver, onApplied: (ops: readonly IpvsOp[]) => void): IpvsDriver {
  return {
    name: inner.name,
    read: (s) => inner.read(s),
    stats: (s) => inner.stats(s),
    close: () => inner.close(),
    async apply(ops, s): Promise<ApplyResult> {
      const r = await inner.apply(ops, s);
      onApplied(ops);
      return r;
    },
  };
}

/**
 * `hosts(i)`: the realservers' addresses; all must be local so the one server answers them
 * (default 127.2.x.y; in the VM TEST-NET addresses on a dummy link: the kernel refuses
 * loopback realservers in a NAT service).
 */
export async function decisionLatency(
  driver: IpvsDriver, n = 30, hosts?: (i: number) => string, check = { interval: '200ms', timeout: '150ms' },
): Promise<LatencyResult> {
  const failing = new Set<string>();
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(failing.has(req.socket.localAddress ?? '') ? 503 : 200).end();
  });
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', () => r()));
  const port = (server.address() as { port: number }).port;
  const host = hosts ?? ((i: number): string => `127.2.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  const config = parseConfig([
    'api: { listen: false, socket: false }',
    `ipvs: { driver: ${driver.name === 'memory' ? 'memory' : 'ipvsadm'}, resync_interval: 60s }`,
    `defaults: { interval: ${check.interval}, timeout: ${check.timeout}, rise: 1, fall: 1 }`,
    'services:',
    '  - name: web',
    '    address: 192.0.2.10:80',
    '    forward: masq',
    '    check: { type: http }',
    '    realservers:',
    ...Array.from({ length: n }, (_, i) => `      - address: "${host(i)}:${port}"`),
  ].join('\n'), '<bench>');

  const decided = new Map<string, number>();
  const samples: number[] = [];
  let landed: ((id: string) => void) | undefined;
  const watched = observed(driver, (ops) => {
    const t = performance.now();
    for (const op of ops) {
      if (op.op !== 'edit-dest' || op.dest.weight !== 0) continue;
      const id = `${op.dest.endpoint.host}:${op.dest.endpoint.port}`;
      const t0 = decided.get(id);
      decided.delete(id);
      if (t0 !== undefined) samples.push(t - t0);
      if (process.env.LVSD_BENCH_TRACE) process.stderr.write(`applied ${id} after ${t0 === undefined ? '-' : (t - t0).toFixed(1)} ms in a batch of ${ops.length}\n`);
      landed?.(id);
    }
  });
  const kit = createProbeKit();
  const daemon = new Daemon({ config, clock: systemClock, random: Math.random, log: silentLogger(), probes: kit, driver: watched, defaultMetrics: false });
  // only the realserver being failed on purpose counts (under emulation a slow probe can flap one at start-up)
  let current: string | undefined;
  daemon.onEvent((e) => {
    if (e.type === 'transition' && e.to === 'down' && e.realserver === current) decided.set(e.realserver, performance.now());
  });
  try {
    await daemon.start();
    // everyone UP and in the table first (slow under emulation)
    for (let t0 = performance.now(); ;) {
      const t = await driver.read();
      const dests = [...(t.services.values().next().value?.destinations.values() ?? [])];
      if (dests.length === n && dests.every((d) => d.weight === 1)) break;
      if (performance.now() - t0 > 60_000) throw new Error('realservers not all UP within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; i < n; i++) {
      const id = `${host(i)}:${port}`;
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no change for ${id} within 10 s`)), 10_000);
        landed = (x) => { if (x === id) { clearTimeout(timer); resolve(); } };
      });
      current = id;
      failing.add(host(i));
      await done;
    }
  } finally {
    await daemon.close();
    await kit.close();
    server.closeAllConnections();
    server.close();
  }
  samples.sort((a, b) => a - b);
  const pct = (p: number): number => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? NaN;
  return { driver: driver.name, samples: samples.length, p50Ms: pct(0.5), p99Ms: pct(0.99), maxMs: samples.at(-1) ?? NaN };
}
