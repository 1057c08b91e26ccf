/**
 * lvsd against keepalived 2.2.7 as the VRRP peer, in network namespaces: lvsd master with a
 * keepalived backup and the reverse, VRRPv3 multicast and VRRPv2 unicast, failover both ways.
 * keepalived runs VRRP only (-P), in the foreground, with private pid files, stopped by PID.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';
import { skipUnless, which, vrrpReady } from '../support/env.js';
import { Lan, waitFor, type Host } from '../support/netns.js';

const VIP = '198.51.100.100';
const ready = vrrpReady() && which('keepalived') !== null;

interface Mode { readonly name: string; readonly version: 2 | 3; readonly unicast: boolean }
const MODES: readonly Mode[] = [
  { name: 'VRRPv3 multicast', version: 3, unicast: false },
  { name: 'VRRPv2 unicast', version: 2, unicast: true },
];

describe.skipIf(skipUnless(ready, 'root, ip, arping, keepalived and the raw-socket package'))('VRRP against keepalived 2.2.7', () => {
  const lan = new Lan('ka');
  let lv: Host; // lvsd
  let ka: Host; // keepalived
  let dir: string;
  const logs: string[] = [];
  const running = new Set<ChildProcess>();

  const holds = async (h: Host): Promise<boolean> => (await lan.addresses(h)).includes(VIP);

  function startLvsd(mode: Mode, priority: number): ChildProcess {
    const file = path.join(dir, 'lvsd.yaml');
    writeFileSync(file, `node: { name: lv }
api: { listen: false, socket: false }
ipvs: { driver: memory }
state_dir: ${dir}
failover:
  interface: eth0
  virtual_router_id: 51
  priority: ${priority}
  version: ${mode.version}
  advert_interval: 1s
${mode.unicast ? `  unicast_peers: [${ka.address}]\n` : ''}  virtual_addresses: [${VIP}/24]
services: []
`);
    const p = lan.spawn(lv, [process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'run', '-c', file], { cwd: ROOT, onOutput: (l) => logs.push(`lvsd: ${l}`) });
    running.add(p);
    return p;
  }

  function startKeepalived(mode: Mode, priority: number): ChildProcess {
    const conf = path.join(dir, 'keepalived.conf');
    writeFileSync(conf, [
      'global_defs {', '  router_id ka', '  script_user root', '}',
      'vrrp_instance VI_1 {', '  state BACKUP', '  interface eth0', '  virtual_router_id 51', `  priority ${priority}`,
      '  advert_int 1', `  version ${mode.version}`,
      ...(mode.unicast ? [`  unicast_src_ip ${ka.address}`, '  unicast_peer {', `    ${lv.address}`, '  }'] : []),
      '  virtual_ipaddress {', `    ${VIP}/24 dev eth0`, '  }', '}', '',
    ].join('\n'));
    const p = lan.spawn(ka, ['keepalived', '-n', '-l', '-D', '-G', '-P', '-f', conf, '-p', path.join(dir, 'ka.pid'), '-r', path.join(dir, 'ka-vrrp.pid')],
      { onOutput: (l) => logs.push(`keepalived: ${l}`) });
    running.add(p);
    return p;
  }

  /** keepalived forks its VRRP child: stop the parent with TERM (it stops the child), then make sure of the child by PID */
  async function stopKeepalived(p: ChildProcess): Promise<void> {
    let child: number | undefined;
    try {
      child = Number(readFileSync(path.join(dir, 'ka-vrrp.pid'), 'utf8'));
    } catch {
      child = undefined;
    }
    await lan.kill(p, 'SIGTERM');
    running.delete(p);
    if (child) {
      try {
        process.kill(child, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  const explain = (e: unknown): never => {
    throw new Error(`${String(e)}\n${logs.slice(-40).join('\n')}`);
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lvsd-ka-'));
    await lan.up();
    lv = await lan.host('lv', '198.51.100.2');
    ka = await lan.host('ka', '198.51.100.3');
  }, 60_000);

  afterEach(async () => {
    for (const p of [...running]) {
      if (p.spawnargs.includes('keepalived')) await stopKeepalived(p);
      else await lan.kill(p, 'SIGKILL');
    }
    running.clear();
    // what a killed lvsd left behind, so the next case starts clean
    await lan.spawn(lv, ['ip', 'addr', 'del', `${VIP}/24`, 'dev', 'eth0']);
    await new Promise((r) => setTimeout(r, 300));
  });

  afterAll(async () => {
    await lan.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const mode of MODES) {
    it(`${mode.name}: lvsd MASTER, keepalived BACKUP; lvsd killed -> keepalived takes over; lvsd back -> preempts`, async () => {
      logs.length = 0;
      const k = startKeepalived(mode, 100);
      let l = startLvsd(mode, 150);
      await waitFor(async () => (await holds(lv)) && !(await holds(ka)), 20_000, 'lvsd MASTER').catch(explain);
      await new Promise((r) => setTimeout(r, 4500)); // past keepalived's master-down: it accepted our adverts
      expect(await holds(ka)).toBe(false);
      expect(logs.some((x) => /Entering BACKUP STATE/i.test(x))).toBe(true);
      await lan.kill(l, 'SIGKILL');
      running.delete(l);
      await waitFor(() => holds(ka), 10_000, 'keepalived MASTER after lvsd was killed').catch(explain);
      l = startLvsd(mode, 150);
      await waitFor(async () => (await holds(lv)) && !(await holds(ka)), 20_000, 'lvsd preempting keepalived').catch(explain);
      void k;
    }, 60_000);

    it(`${mode.name}: keepalived MASTER, lvsd BACKUP; keepalived stopped -> lvsd takes over in about the skew time`, async () => {
      logs.length = 0;
      const k = startKeepalived(mode, 150);
      startLvsd(mode, 100);
      await waitFor(async () => (await holds(ka)) && !(await holds(lv)), 20_000, 'keepalived MASTER').catch(explain);
      await new Promise((r) => setTimeout(r, 4500)); // past lvsd's master-down: it accepts keepalived's adverts
      expect(await holds(lv)).toBe(false);
      const t0 = performance.now();
      await stopKeepalived(k); // keepalived sends priority 0 on the way out
      await waitFor(() => holds(lv), 10_000, 'lvsd MASTER after keepalived stopped').catch(explain);
      expect(performance.now() - t0).toBeLessThan(3000);
    }, 60_000);
  }
});
