/**
 * VRRP faults in network namespaces: the VRRP interface itself (eth0 in the director's
 * namespace, not a tracked link) goes down and comes back up. Two lvsd around a bridge with a
 * client; TEST-NET-2 addresses on links these tests made. Every lvsd is started through Lan
 * (killed by PID in destroy(), also after a failure) and every namespace is removed by name.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiGet } from '../../src/cli/client.js';
import { ROOT } from '../support/cli.js';
import { skipUnless, vrrpReady, VRRP_NEEDS } from '../support/env.js';
import { Lan, ip, waitFor, type Host } from '../support/netns.js';

const VIP = '198.51.100.100';
const ready = vrrpReady();

describe.skipIf(skipUnless(ready, VRRP_NEEDS))('VRRP interface down and up', () => {
  const lan = new Lan('vf');
  let a: Host;
  let b: Host;
  let client: Host;
  let dir: string;
  const logs: string[] = [];
  const procs = new Set<ChildProcess>();

  function config(name: string, priority: number, extra = ''): string {
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(file, `node: { name: ${name} }
api: { listen: false, socket: ${path.join(dir, `${name}.sock`)} }
ipvs: { driver: memory }
state_dir: ${path.join(dir, name)}
failover:
  interface: eth0
  virtual_router_id: 52
  priority: ${priority}
  advert_interval: 1s
  virtual_addresses: [${VIP}/24]
${extra}
services: []
`);
    return file;
  }

  function start(host: Host, name: string, priority: number, extra = ''): ChildProcess {
    const p = lan.spawn(host, [process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'run', '-c', config(name, priority, extra)], {
      cwd: ROOT, onOutput: (l) => logs.push(`${name}: ${l}`),
    });
    procs.add(p);
    return p;
  }

  const holds = async (h: Host): Promise<boolean> => (await lan.addresses(h)).includes(VIP);
  const linkSet = (h: Host, up: boolean): Promise<string> => ip('-n', h.ns, 'link', 'set', 'dev', 'eth0', up ? 'up' : 'down');

  interface VrrpStatus { readonly state: string; readonly priority: number }
  /** the director's VRRP status from its API socket, or null while it does not answer */
  async function vrrp(name: string): Promise<VrrpStatus | null> {
    try {
      const r = await apiGet({ socket: path.join(dir, `${name}.sock`) }, '/status', 2000);
      return (JSON.parse(r.body) as { vrrp: VrrpStatus | null }).vrrp;
    } catch {
      return null;
    }
  }
  async function metric(name: string, re: RegExp): Promise<number> {
    const body = (await apiGet({ socket: path.join(dir, `${name}.sock`) }, '/metrics')).body;
    return Number(re.exec(body)?.[1] ?? Number.NaN);
  }
  const received = (name: string): Promise<number> => metric(name, /^lvsd_vrrp_adverts_received_total\{vrid="52"\} (\d+)$/m);
  const stateIs = async (name: string, state: string): Promise<boolean> => (await vrrp(name))?.state === state;

  /** waitFor, with the directors' last log lines in the error: what they did instead */
  const waitOrDump = (cond: () => Promise<boolean>, ms: number, what: string): Promise<number> =>
    waitFor(cond, ms, what, 100).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- lvsd logs ---\n${logs.slice(-40).join('\n')}`);
    });

  /** for `ms`, sampled: a is MASTER with the VIP, b BACKUP without it (exactly one master, no flapping) */
  async function steady(master: { host: Host; name: string }, backup: { host: Host; name: string }, ms: number): Promise<void> {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const [m, bk, mHolds, bHolds] = await Promise.all([vrrp(master.name), vrrp(backup.name), holds(master.host), holds(backup.host)]);
      expect({ master: m?.state, backup: bk?.state, masterHolds: mHolds, backupHolds: bHolds }, logs.slice(-20).join('\n'))
        .toEqual({ master: 'MASTER', backup: 'BACKUP', masterHolds: true, backupHolds: false });
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lvsd-vrrp-faults-'));
    await lan.up();
    a = await lan.host('a', '198.51.100.2');
    b = await lan.host('b', '198.51.100.3');
    client = await lan.host('c', '198.51.100.50');
  }, 60_000);

  afterEach(async () => {
    for (const p of procs) await lan.kill(p, 'SIGKILL');
    procs.clear();
    for (const h of [a, b]) {
      await linkSet(h, true);
      await ip('-n', h.ns, 'addr', 'del', `${VIP}/24`, 'dev', 'eth0').catch(() => ''); // what a killed lvsd left
    }
    logs.length = 0;
  });

  afterAll(async () => {
    await lan.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const A = (): { host: Host; name: string } => ({ host: a, name: 'a' });
  const B = (): { host: Host; name: string } => ({ host: b, name: 'b' });

  /** lvsd from source starts slowly on a busy 2-core machine (tsx): generous, the failover timings are measured after */
  const START_MS = 60_000;

  async function masterA(): Promise<void> {
    start(a, 'a', 150);
    start(b, 'b', 100);
    await waitOrDump(async () => (await holds(a)) && !(await holds(b)) && (await stateIs('b', 'BACKUP')), START_MS, 'a MASTER, b BACKUP');
  }

  it('the master\'s VRRP link goes down: it goes FAULT and drops the VIP, the peer takes over; link up: it preempts, one master', async () => {
    await masterA();
    await linkSet(a, false);
    await waitOrDump(() => stateIs('a', 'FAULT'), 10_000, 'a FAULT');
    expect(await holds(a)).toBe(false); // removed on the way into FAULT (the address stays listed on a down link otherwise)
    expect(await metric('a', /^lvsd_vrrp_state\{vrid="52",state="fault"\} (\d+)$/m)).toBe(1);
    await waitOrDump(async () => (await holds(b)) && (await stateIs('b', 'MASTER')), 15_000, 'b MASTER with the VIP');
    await new Promise((r) => setTimeout(r, 2000));
    expect(await stateIs('a', 'FAULT')).toBe(true); // silent and VIP-less while the link stays down
    expect(await holds(a)).toBe(false);

    await linkSet(a, true);
    await waitOrDump(async () => !(await stateIs('a', 'FAULT')), 10_000, 'a out of FAULT');
    await waitOrDump(async () => (await holds(a)) && !(await holds(b)) && (await stateIs('b', 'BACKUP')), 15_000, 'a MASTER again, b BACKUP');
    await steady(A(), B(), 5000); // longer than b's Master_Down_Interval (3.61 s): b hears a's adverts
    // the client is told by gratuitous ARP where the VIP went
    const macA = await lan.mac(a);
    const ping = lan.spawn(client, ['ping', '-c', '1', '-W', '1', VIP]);
    await new Promise((r) => ping.once('exit', r));
    await waitOrDump(async () => (await lan.neighbour(client, VIP)) === macA, 8000, 'client ARP entry for the VIP -> a');
  }, 180_000);

  it('the backup\'s VRRP link goes down and up: FAULT, then BACKUP again, hearing the master\'s multicast (no second master)', async () => {
    await masterA();
    const before = await received('b');
    await linkSet(b, false);
    await waitOrDump(() => stateIs('b', 'FAULT'), 10_000, 'b FAULT');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await holds(b)).toBe(false);
    expect(await holds(a)).toBe(true); // the master does not notice
    await linkSet(b, true);
    await waitOrDump(() => stateIs('b', 'BACKUP'), 10_000, 'b BACKUP');
    const upAt = await received('b');
    // past b's Master_Down_Interval with its link up: had it not rejoined 224.0.0.18 it would be MASTER by now
    await steady(A(), B(), 6000);
    expect(await received('b')).toBeGreaterThan(upAt);
    expect(upAt).toBeGreaterThanOrEqual(before);
  }, 180_000);

  it('a short flap of the master\'s link (back before the peer\'s master-down time): one master at the end, the higher priority', async () => {
    await masterA();
    await linkSet(a, false);
    await waitOrDump(() => stateIs('a', 'FAULT'), 10_000, 'a FAULT');
    await linkSet(a, true);
    await waitOrDump(async () => (await holds(a)) && !(await holds(b)) && (await stateIs('b', 'BACKUP')), 20_000, 'a MASTER, b BACKUP');
    await steady(A(), B(), 5000);
  }, 180_000);

  it('without preempt, the returning director stays BACKUP and the peer keeps the VIP', async () => {
    start(a, 'a', 150, '  preempt: false');
    start(b, 'b', 100, '  preempt: false');
    await waitOrDump(async () => (await holds(a)) !== (await holds(b)) && (await stateIs('a', 'MASTER') || await stateIs('b', 'MASTER')), START_MS, 'one master');
    const [m, bk] = (await holds(a)) ? [A(), B()] : [B(), A()];
    await linkSet(m.host, false);
    await waitOrDump(async () => (await stateIs(m.name, 'FAULT')) && (await holds(bk.host)), 15_000, `${m.name} FAULT, ${bk.name} holding the VIP`);
    await linkSet(m.host, true);
    await waitOrDump(() => stateIs(m.name, 'BACKUP'), 10_000, `${m.name} BACKUP`);
    await steady(bk, m, 5000);
  }, 180_000);

  it('a short split brain heals: the director that yields stops its gratuitous ARP, so the client stays with the master', async () => {
    await masterA();
    const macA = await lan.mac(a);
    const macB = await lan.mac(b);
    const ping = lan.spawn(client, ['ping', '-c', '1', '-W', '1', VIP]);
    await new Promise((r) => ping.once('exit', r));
    await waitOrDump(async () => (await lan.neighbour(client, VIP)) === macA, 5000, 'client ARP entry -> a');
    await lan.isolate(a, true);
    await lan.isolate(b, true);
    await waitOrDump(() => holds(b), 10_000, 'b MASTER too (split brain)');
    // heal within b's first seconds as master: its GARP burst is still running and its repeat burst is due in 5 s
    await lan.isolate(a, false);
    await lan.isolate(b, false);
    await waitOrDump(async () => !(await holds(b)) && (await stateIs('b', 'BACKUP')), 10_000, 'b BACKUP again');
    await waitOrDump(async () => (await lan.neighbour(client, VIP)) === macA, 10_000, 'client ARP entry -> a (re-asserted)');
    // past b's repeat burst (5 s after it became master, 3 GARPs a second apart): nothing from b moves the client
    const end = performance.now() + 9000;
    while (performance.now() < end) {
      expect(await lan.neighbour(client, VIP), 'client ARP entry for the VIP (b is BACKUP)').not.toBe(macB);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await holds(a)).toBe(true);
  }, 180_000);

  it('a director started while its VRRP link is down waits in FAULT and joins the election when the link comes up', async () => {
    start(b, 'b', 100);
    await waitOrDump(async () => (await holds(b)) && (await stateIs('b', 'MASTER')), START_MS, 'b MASTER alone');
    await linkSet(a, false);
    start(a, 'a', 150);
    await waitOrDump(() => stateIs('a', 'FAULT'), START_MS, 'a FAULT (started with its link down)');
    expect(await holds(a)).toBe(false);
    await linkSet(a, true);
    await waitOrDump(async () => (await holds(a)) && !(await holds(b)) && (await stateIs('b', 'BACKUP')), 20_000, 'a MASTER (preempting), b BACKUP');
    await steady(A(), B(), 4000);
  }, 180_000);
});
