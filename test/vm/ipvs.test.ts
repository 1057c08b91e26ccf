/**
 * Real IPVS: lvsd with the ipvsadm driver inside a VM whose kernel has IPVS, realservers in
 * network namespaces, a client namespace sending real HTTP through the virtual IPs.
 * One VM boot runs every scenario (test/vm/guest/scenarios.ts) in order; each test here
 * asserts on what one scenario observed.
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULERS } from '../../src/config/types.js';
import { integrationRequired, skipUnless } from '../support/env.js';
import { ROOT, runGuestScript, vmAvailability, type VmRun } from './vm.js';

interface Outcome { ok: boolean; data?: any; error?: string; ms: number }
type Results = Record<string, Outcome>;

const availability = vmAvailability();
const UNMANAGED = '-A -t 192.0.2.200:80 -s rr\n-a -t 192.0.2.200:80 -r 198.51.100.99:80 -m -w 7\n';

describe.skipIf(skipUnless(availability.ok, availability.ok ? '' : `IPVS VM: ${availability.reason}`))('real IPVS in the VM', () => {
  let results: Results = {};
  let run: VmRun | undefined;

  beforeAll(async () => {
    // the guest runs the compiled code: build it from the sources under test
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
    const r = await runGuestScript<Results>('dist/test/vm/guest/scenarios.js', [], 900);
    run = r.run;
    results = r.result ?? {};
    if (!r.result) throw new Error(`the VM run produced no results (exit ${r.run.code}):\n${r.run.stderr.slice(-4000)}`);
  }, 20 * 60_000);

  /** a scenario's data, or the failure it reported (with the kernel table and lvsd's log) */
  function data(name: string): any {
    const o = results.setup ?? results[name];
    if (!o) throw new Error(`scenario ${name} did not run; VM exit ${run?.code}\n${run?.stderr.slice(-3000) ?? ''}`);
    if (!o.ok) throw new Error(`scenario ${results.setup ? 'setup' : name} failed:\n${o.error}`);
    return o.data;
  }

  it('creates what the config describes: every scheduler, tcp/udp/fwmark, persistence with netmask, NAT/DR/TUN, thresholds', () => {
    const { table, thresholds, schedulers } = data('start');
    // what the LVS article and keepalived use; twos only where the kernel has it (6.2+)
    expect(schedulers).toEqual(expect.arrayContaining(['rr', 'wrr', 'lc', 'wlc', 'sh', 'mh', 'sed', 'nq', 'lblc', 'lblcr', 'dh', 'fo', 'ovf']));
    for (const name of schedulers as string[]) expect(table).toContain(`-A -t 192.0.2.${150 + SCHEDULERS.indexOf(name as never)}:80 -s ${name}\n`);
    expect(table).toContain('-A -u 192.0.2.107:53 -s wlc\n-a -u 192.0.2.107:53 -r 198.51.100.11:53 -m -w 1\n');
    expect(table).toContain('-A -f 7 -s rr\n');
    expect(table).toContain('-A -t 192.0.2.101:80 -s rr -p 60 -M 255.255.255.0\n');
    expect(table).toContain('-a -t 192.0.2.106:80 -r 198.51.100.14:80 -i -w 1');
    expect(table).toContain('-a -t 192.0.2.106:80 -r 198.51.100.11:80 -g -w 1');
    expect(table).toContain('-a -t 192.0.2.103:80 -r 198.51.100.11:80 -g -w 1');
    expect(thresholds).toEqual([1000, 500]);
  });

  it('spreads NAT traffic by weight (3:2:1)', () => {
    expect(data('start').table).toContain('-A -t 192.0.2.100:80 -s wrr\n-a -t 192.0.2.100:80 -r 198.51.100.11:8080 -m -w 3\n');
    const c = data('nat-weights');
    expect(c.fail).toBeUndefined();
    expect(c.rs1 + c.rs2 + c.rs3).toBe(60);
    // wrr: 30/20/10 in steady state; the first round may shift one or two
    expect(Math.abs(c.rs1 - 30)).toBeLessThanOrEqual(3);
    expect(Math.abs(c.rs2 - 20)).toBeLessThanOrEqual(3);
    expect(Math.abs(c.rs3 - 10)).toBeLessThanOrEqual(3);
  });

  it('keeps one client on one realserver with persistence (and spreads it without)', () => {
    const { sticky, spread } = data('persistence');
    expect(Object.keys(sticky)).toHaveLength(1);
    expect(Object.values(sticky)).toEqual([20]);
    expect(spread).toEqual({ rs1: 10, rs2: 10 });
  });

  it('carries traffic through a fwmark service', () => {
    expect(data('fwmark')).toEqual({ rs1: 4, rs3: 4, rs4: 4 });
  });

  it('carries traffic in DR mode (VIP on the realservers\' lo, arp_ignore=1, arp_announce=2)', () => {
    const { answers, forward } = data('dr');
    expect(answers).toEqual({ rs1: 5, rs4: 5 });
    expect(forward).toEqual(['route', 'route']);
  });

  it('quiesces a failing realserver, removes a dead one (on_down: remove), swaps in the sorry server: no failed request after the change', () => {
    const d = data('fail-and-sorry');
    expect(d.web).toEqual({ '198.51.100.11:8080': 3, '198.51.100.13:8080': 0 });
    expect(d.after).toEqual({ rs1: 30 });
    expect(d.sorry).toEqual({ rs4: 10 });
    // while the change was on its way only the dead realserver's requests could fail
    expect(Object.values(d.during as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(40);
    expect(d.msToKernel).toBeLessThan(15_000);
  });

  it('restores recovered realservers and takes the sorry server out', () => {
    const d = data('recovery');
    expect(d.answers.fail).toBeUndefined();
    expect(d.answers.rs2).toBeGreaterThan(0);
    expect(d.answers.rs3).toBeGreaterThan(0);
    expect(d.sorryVip).toEqual({ rs3: 6 });
  });

  it('repairs hand-made changes (edit, delete, add) within resync_interval', () => {
    const d = data('drift');
    expect(d.tampered).toEqual({ '198.51.100.11:8080': 9, '198.51.100.13:8080': 1, '198.51.100.77:8080': 5 });
    expect(d.repairedInMs).toBeLessThan(d.resyncIntervalMs + 5000);
  });

  it('exports the kernel\'s statistics with node_exporter\'s label names', () => {
    const { lines, promtool } = data('metrics') as { lines: string[]; promtool: { code: number | null; output: string } };
    if (promtool.code !== null || integrationRequired()) expect(promtool).toEqual({ code: 0, output: '' });
    expect(lines).toContain('lvsd_ipvs_stats_up 1');
    const total = lines.find((l) => l.startsWith('lvsd_ipvs_service_connections_total{service="web"'));
    expect(total).toMatch(/proto="TCP",local_address="192\.0\.2\.100",local_port="80",local_mark=""\} \d+$/);
    expect(Number(total!.split(' ').at(-1))).toBeGreaterThanOrEqual(160);
    expect(lines.some((l) => /^lvsd_ipvs_connections\{service="web",.*remote_address="198\.51\.100\.11",remote_port="8080",state="inactive"\} [1-9]/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith('lvsd_ipvs_backend_bytes_total{service="web"') && l.includes('direction="in"'))).toBe(true);
    expect(lines.some((l) => l.startsWith('lvsd_ipvs_service_packet_rate{service="web"'))).toBe(true);
  });

  it('drain --wait waits for the last active connection, and times out while it lasts (control API over TCP with the token)', () => {
    const d = data('drain-wait');
    expect(d.timedOut.status).toBe(504);
    expect(d.timedOut.active).toBeGreaterThanOrEqual(1);
    expect(d.timedOut.ms).toBeGreaterThanOrEqual(3000);
    expect(d.weightWhileDraining).toBe(0);
    expect(d.drained).toMatchObject({ status: 200, active: 0 });
    // the kernel ends the connection's active state when nc dies: well before the 60 s timeout
    expect(d.drained.ms).toBeGreaterThanOrEqual(3000);
    expect(d.drained.ms).toBeLessThan(30_000);
    expect(d.readyStatus).toBe(200);
    expect(d.weightAfter).toBeGreaterThan(0);
    expect(d.unauthorized).toBe(401);
  });

  it('survives kill -9: the table stays, and a restarted lvsd adopts it without a duplicate or a flap', () => {
    const d = data('crash-and-adopt');
    expect(d.sameAfterKill).toBe(true);
    expect(d.tablesSeen).toEqual([d.before]);
    for (const line of d.changes as string[]) expect(line).toMatch(/ 0$/);
  });

  it('leaves services it does not manage alone', () => {
    expect(data('crash-and-adopt').before).toContain(UNMANAGED);
    expect(data('cleanup-on-exit').after).toBe(UNMANAGED);
  });

  it('drains a realserver removed from the config: weight 0 while connections are active, then removed', () => {
    const d = data('leaving-drains');
    expect(d.stopCode).toBe(0);
    expect(d.afterStop).toContain(`-r ${d.busy} -m -w 1`); // a plain stop leaves the table
    expect(d.whileActive[d.busy]).toBe(0);
    expect(d.status).toEqual([expect.objectContaining({ address: d.busy, active_conns: 1 })]);
    expect(d.final[d.busy]).toBeUndefined();
    expect(d.removedMsAfterClose).toBeLessThan(10_000);
  });

  it('removes its own services on stop with cleanup_on_exit', () => {
    const d = data('cleanup-on-exit');
    expect(d.code).toBe(0);
    expect(d.beforeStop).toContain('-A -t 192.0.2.100:80 -s wrr');
    expect(d.after).toBe(UNMANAGED);
  });

  it('runs the connection sync daemon by VRRP role: a connection made through the master survives its death', () => {
    const d = data('sync-daemon');
    expect(d.daemonsBefore.d1).toMatch(/^master sync daemon \(mcast=eth0, syncid=61/);
    expect(d.daemonsBefore.d2).toMatch(/^backup sync daemon \(mcast=eth0, syncid=61/);
    expect(d.syncedOnBackup).toMatch(/ESTABLISHED 203\.0\.113\.50:\d+ +203\.0\.113\.100:80 +203\.0\.113\.20:80/);
    expect(d.daemonsAfter).toMatch(/^master sync daemon/);
    expect(d.answered).toBe(true);
  });
});
