/**
 * `lvsd demo`: the embedded default. Starts four HTTP realservers on loopback (one flapping),
 * runs the daemon on them with the in-memory IPVS driver (no root needed), serves the status
 * page, and prints the table as ipvsadm would list it whenever it changes.
 */
import type { Writable } from 'node:stream';
import { parseConfig } from '../config/load.js';
import type { Logger } from '../core/log.js';
import { formatListing } from '../ipvs/ipvsadm-format.js';
import { MemoryIpvsDriver } from '../ipvs/memory-driver.js';
import { startRuntime, type Runtime } from '../cli/runtime.js';
import { startDemoRealservers, type DemoRealserver } from './realservers.js';

export interface DemoOptions {
  readonly listen: string;
  readonly realserverPort: number;
  readonly flapMs: number;
  readonly out: Writable;
  readonly log: Logger;
}

export interface Demo {
  readonly runtime: Runtime;
  readonly realservers: readonly DemoRealserver[];
  readonly configText: string;
  close(): Promise<void>;
}

export function demoConfigText(listen: string, rs: readonly DemoRealserver[]): string {
  return `# lvsd demo: generated at start-up (lvsd demo --print-config shows it)
node:
  name: demo
api:
  listen: ${listen}
  socket: false
ipvs:
  driver: memory
  resync_interval: 10s
state_dir: /tmp/lvsd-demo
defaults:
  interval: 1s
  timeout: 500ms
  rise: 2
  fall: 2
services:
  - name: web
    protocol: tcp
    address: 192.0.2.10:80
    scheduler: wlc
    forward: masq
    slow_start: 10s
    check:
      type: http
      path: /healthz
      expect_status: [200]
      expect_body: "^ok"
    realservers:
${rs.map((r, i) => `      - address: ${r.host}:${r.port}\n        weight: ${[3, 2, 2, 1][i] ?? 1}`).join('\n')}
  - name: web-tcp
    protocol: tcp
    address: 192.0.2.10:8080
    scheduler: rr
    forward: masq
    check:
      type: tcp
    realservers:
${rs.slice(0, 2).map((r) => `      - address: ${r.host}:${r.port}`).join('\n')}
`;
}

export async function startDemo(o: DemoOptions): Promise<Demo> {
  const realservers = await startDemoRealservers(18080, o.flapMs);
  const configText = demoConfigText(o.listen, realservers);
  const config = parseConfig(configText, '<demo>');
  const changes: string[] = [];
  const driver = new MemoryIpvsDriver({ onChange: (command) => changes.push(command) });
  let runtime: Runtime;
  try {
    runtime = await startRuntime(config, { log: o.log, driver });
  } catch (e) {
    await Promise.all(realservers.map((r) => r.close()));
    throw e;
  }
  const say = (s: string): void => { o.out.write(`${s}\n`); };
  const stamp = (): string => new Date().toISOString().slice(11, 19);
  const addr = runtime.api.address;
  const url = addr ? `http://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}/` : '(api disabled)';
  say(`lvsd demo: ${realservers.length} realservers on loopback (${realservers.find((r) => r.flapping)?.host ?? '-'} flaps every ${Math.round(o.flapMs / 1000)}s)`);
  say(`status page: ${url}   metrics: ${url}metrics   status JSON: ${url}status`);
  say('Ctrl-C to stop.\n');
  // changes come in bursts (start-up, slow-start steps): print the table once a burst settles
  let pending: ReturnType<typeof setTimeout> | undefined;
  const printTable = (): void => {
    pending = undefined;
    for (const c of changes.splice(0)) say(`${stamp()}  ${c}`);
    say(`\n${formatListing(driver.snapshot())}\n`);
  };
  runtime.daemon.onEvent((e) => {
    if (e.type === 'transition') {
      say(`${stamp()}  ${e.service} ${e.realserver}: ${e.from.toUpperCase()} -> ${e.to.toUpperCase()} (${e.detail})`);
      return;
    }
    if (pending) clearTimeout(pending);
    pending = setTimeout(printTable, 300);
  });
  return {
    runtime, realservers, configText,
    async close() {
      if (pending) clearTimeout(pending);
      await runtime.close();
      await Promise.all(realservers.map((r) => r.close()));
    },
  };
}
