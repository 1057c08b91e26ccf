/**
 * Decision → table: the time from the probe result that decides a transition to the change
 * applied by the (memory) IPVS driver. 200 realservers on one loopback server that turns
 * unhealthy on cue; one sample per realserver transition.
 */
import { createServer } from 'node:http';
import { createProbeKit } from '../../checks/index.js';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { MemoryIpvsDriver } from '../../src/ipvs/memory-driver.js';

export async function decisionLatency(n = 200): Promise<{ samples: number; p50Ms: number; p99Ms: number }> {
  let healthy = true;
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(healthy ? 200 : 503).end();
  });
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', () => r()));
  const port = (server.address() as { port: number }).port;
  const rs = Array.from({ length: n }, (_, i) => `      - address: "127.2.${Math.floor(i / 250)}.${(i % 250) + 1}:${port}"`);
  const config = parseConfig([
    'api: { listen: false, socket: false }',
    'ipvs: { driver: memory }',
    'defaults: { interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }',
    'services:',
    '  - name: web',
    '    address: 192.0.2.10:80',
    '    check: { type: http }',
    '    realservers:',
    ...rs,
  ].join('\n'), '<bench>');
  const decided = new Map<string, number>();
  const samples: number[] = [];
  const driver = new MemoryIpvsDriver({
    onChange: (_cmd, op) => {
      if (op.op !== 'edit-dest' || op.dest.weight !== 0) return;
      const id = `${op.dest.endpoint.host}:${op.dest.endpoint.port}`;
      const t = decided.get(id);
      if (t !== undefined) samples.push(performance.now() - t);
    },
  });
  const kit = createProbeKit();
  const daemon = new Daemon({ config, clock: systemClock, random: Math.random, log: silentLogger(), probes: kit, driver, defaultMetrics: false });
  daemon.onEvent((e) => {
    if (e.type === 'transition' && e.to === 'down') decided.set(e.realserver, performance.now());
  });
  await daemon.start();
  await new Promise((r) => setTimeout(r, 600));
  healthy = false;
  await new Promise((r) => setTimeout(r, 800));
  await daemon.close();
  await kit.close();
  server.closeAllConnections();
  server.close();
  samples.sort((a, b) => a - b);
  const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? NaN;
  return { samples: samples.length, p50Ms: pct(0.5), p99Ms: pct(0.99) };
}
