/**
 * Director failover with real VRRP between two lvsd in network namespaces around a bridge,
 * and a client that follows the VIP by ARP. TEST-NET-2 addresses on links these tests made.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiGet } from '../../src/cli/client.js';
import { ROOT } from '../support/cli.js';
import { skipUnless, vrrpReady, VRRP_NEEDS } from '../support/env.js';
import { Lan, ip, waitFor, type Host } from '../support/netns.js';

const VIP = '198.51.100.100';
const ready = vrrpReady();

describe.skipIf(skipUnless(ready, VRRP_NEEDS))('VRRP failover between two lvsd', () => {
  const lan = new Lan('vr');
  let a: Host;
  let b: Host;
  let client: Host;
  let dir: string;
  const logs: string[] = [];

  function config(name: string, priority: number, extra = '', services = 'services: []'): string {
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(file, `node: { name: ${name} }
api: { listen: false, socket: ${path.join(dir, `${name}.sock`)} }
ipvs: { driver: memory }
state_dir: ${dir}
failover:
  interface: eth0
  virtual_router_id: 51
  priority: ${priority}
  advert_interval: 1s
  virtual_addresses: [${VIP}/24]
${extra}
${services}
`);
    return file;
  }

  function start(host: Host, file: string): ChildProcess {
    return lan.spawn(host, [process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'run', '-c', file], {
      cwd: ROOT, onOutput: (l) => logs.push(`${host.ns}: ${l}`),
    });
  }

  const holds = async (h: Host): Promise<boolean> => (await lan.addresses(h)).includes(VIP);
  /** waitFor, with the directors' last log lines in the error: what they did instead */
  const waitOrDump = (cond: () => Promise<boolean>, ms: number, what: string): Promise<number> =>
    waitFor(cond, ms, what).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- lvsd logs ---\n${logs.slice(-40).join('\n')}`);
    });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lvsd-vrrp-'));
    await lan.up();
    a = await lan.host('a', '198.51.100.2');
    b = await lan.host('b', '198.51.100.3');
    client = await lan.host('c', '198.51.100.50');
  }, 60_000);

  afterAll(async () => {
    await lan.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  let procA: ChildProcess;
  let procB: ChildProcess;

  it('the higher priority holds the VIP, and the client reaches it there', async () => {
    procA = start(a, config('a', 150));
    procB = start(b, config('b', 100));
    await waitOrDump(async () => (await holds(a)) && !(await holds(b)), 20_000, 'a MASTER with the VIP').catch((e: unknown) => {
      throw new Error(`${String(e)}\n${logs.slice(-30).join('\n')}`);
    });
    await new Promise((r) => setTimeout(r, 4000)); // b has had its master-down time: still BACKUP
    expect(await holds(b)).toBe(false);
    const ping = lan.spawn(client, ['ping', '-c', '1', '-W', '1', VIP]);
    await new Promise((r) => ping.once('exit', r));
    await waitOrDump(async () => (await lan.neighbour(client, VIP)) === (await lan.mac(a)), 5000, 'client ARP entry for the VIP -> a');
  }, 60_000);

  it('SIGKILL of the master: the backup takes the VIP within 3 x advert + skew, and the client follows by GARP', async () => {
    const t0 = performance.now();
    await lan.kill(procA, 'SIGKILL');
    const took = await waitOrDump(() => holds(b), 15_000, 'b holding the VIP');
    // Master_Down_Interval at priority 100, 1 s adverts: 3.61 s (plus the time since a's last advert)
    expect(performance.now() - t0).toBeLessThan(3610 + 1000 + 2000);
    expect(took).toBeGreaterThan(2500);
    const macB = await lan.mac(b);
    await waitOrDump(async () => (await lan.neighbour(client, VIP)) === macB, 5000, 'client ARP entry for the VIP -> b (gratuitous ARP)');
  }, 30_000);

  it('a restarted director removes the VIP it left behind and preempts the lower priority', async () => {
    expect(await holds(a)).toBe(true); // killed: nobody removed it
    procA = start(a, config('a', 150));
    await waitOrDump(async () => !(await holds(b)) && (await holds(a)), 20_000, 'a MASTER again, b BACKUP');
    const macA = await lan.mac(a);
    await waitOrDump(async () => (await lan.neighbour(client, VIP)) === macA, 5000, 'client ARP entry -> a');
  }, 30_000);

  it('SIGTERM hands over in about the skew time (priority 0 advert)', async () => {
    const t0 = performance.now();
    await lan.kill(procA, 'SIGTERM');
    await waitOrDump(() => holds(b), 10_000, 'b holding the VIP');
    // skew at priority 100: 0.61 s; generous bound, far below the 3.6 s of a silent master
    expect(performance.now() - t0).toBeLessThan(2500);
    expect(await holds(a)).toBe(false); // a removed its VIP on the way out
  }, 20_000);

  it('without preempt, a returning higher priority stays BACKUP', async () => {
    procA = start(a, config('a', 150, '  preempt: false'));
    await new Promise((r) => setTimeout(r, 6000));
    expect(await holds(a)).toBe(false);
    expect(await holds(b)).toBe(true);
    await lan.kill(procA, 'SIGTERM');
    await lan.kill(procB, 'SIGTERM');
  }, 30_000);

  it('a partition makes two masters; when it heals one master remains and the client is told by GARP', async () => {
    procA = start(a, config('a', 150));
    procB = start(b, config('b', 100));
    await waitOrDump(async () => (await holds(a)) && !(await holds(b)), 20_000, 'a MASTER');
    // the directors' bridge ports can no longer reach each other (the client still reaches both)
    await lan.isolate(a, true);
    await lan.isolate(b, true);
    await waitOrDump(() => holds(b), 10_000, 'b MASTER too (split brain)');
    expect(await holds(a)).toBe(true);
    await lan.isolate(a, false);
    await lan.isolate(b, false);
    await waitOrDump(async () => (await holds(a)) && !(await holds(b)), 10_000, 'one master again');
    const macA = await lan.mac(a);
    await waitOrDump(async () => (await lan.neighbour(client, VIP)) === macA, 8000, 'client ARP entry -> a');
    // the first advert across the healed link reaches a master: one of them counted the split brain
    let dual = 0;
    for (const n of ['a', 'b']) {
      const body = (await apiGet({ socket: path.join(dir, `${n}.sock`) }, '/metrics')).body;
      dual += Number(/^lvsd_vrrp_dual_master_seen_total\{vrid="51"\} (\d+)$/m.exec(body)?.[1] ?? 0);
      if (n === 'a') expect(body).toMatch(/^lvsd_vrrp_state\{vrid="51",state="master"\} 1$/m);
    }
    expect(dual).toBeGreaterThanOrEqual(1);
    await lan.kill(procA, 'SIGTERM');
    await lan.kill(procB, 'SIGTERM');
  }, 60_000);

  it('tracking: a tracked service with no UP realserver lowers the priority and the peer takes over', async () => {
    // a's only realserver is a closed port in its own namespace
    const track = `  track:
    - { service: web, weight: -60 }`;
    const file = config('a', 150, track, `defaults: { interval: 300ms, timeout: 200ms, rise: 1, fall: 1 }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: tcp }
    realservers: [{ address: "127.0.0.1:1" }]`);
    procB = start(b, config('b', 100));
    procA = start(a, file);
    await waitOrDump(async () => (await holds(b)) && !(await holds(a)), 20_000, 'b MASTER: a advertises 150 - 60 = 90');
    const status = JSON.parse((await apiGet({ socket: path.join(dir, 'a.sock') }, '/status')).body) as { vrrp: { state: string; priority: number } };
    expect(status.vrrp).toMatchObject({ state: 'BACKUP', priority: 90 });
    await lan.kill(procA, 'SIGTERM');
    await lan.kill(procB, 'SIGTERM');
  }, 60_000);

  it('interface tracking and notify hooks: a tracked link going down hands over, coming back preempts, hooks see each change', async () => {
    // a veth pair inside a's namespace (this kernel has no dummy links): trk0 is the tracked link
    await ip('-n', a.ns, 'link', 'add', 'trk0', 'type', 'veth', 'peer', 'name', 'trk1');
    await ip('-n', a.ns, 'link', 'set', 'trk1', 'up');
    await ip('-n', a.ns, 'link', 'set', 'trk0', 'up');
    const hookLog = path.join(dir, 'notify.log');
    const file = config('a', 150, `  track:
    - { interface: trk0, weight: -60 }
  notify:
    all: [sh, -c, 'echo "$*" >> ${hookLog}', notify]`);
    procA = start(a, file);
    procB = start(b, config('b', 100));
    await waitOrDump(async () => (await holds(a)) && !(await holds(b)), 20_000, 'a MASTER');
    await ip('-n', a.ns, 'link', 'set', 'trk0', 'down');
    await waitOrDump(async () => (await holds(b)) && !(await holds(a)), 10_000, 'b MASTER while a\'s tracked link is down');
    await ip('-n', a.ns, 'link', 'set', 'trk0', 'up');
    await waitOrDump(async () => (await holds(a)) && !(await holds(b)), 10_000, 'a MASTER again');
    await lan.kill(procA, 'SIGTERM');
    await lan.kill(procB, 'SIGTERM');
    const lines = readFileSync(hookLog, 'utf8').trim().split('\n');
    expect(lines).toEqual([
      'INSTANCE VI_51 BACKUP 150', 'INSTANCE VI_51 MASTER 150', 'INSTANCE VI_51 BACKUP 90', 'INSTANCE VI_51 MASTER 150', 'INSTANCE VI_51 STOP 150',
    ]);
  }, 60_000);
});
