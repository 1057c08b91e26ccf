/**
 * The daemon's wiring under a fake clock, with scripted probe verdicts (the real probes are
 * covered on loopback in test/integration): dedup, sorry server, slow start, quiescent vs
 * remove, and what reaches the memory IPVS table.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CheckSpec, Probe, ProbeKit, ProbeResult } from '../../checks/types.js';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/log.js';
import { Daemon, type DaemonEvent } from '../../src/daemon/daemon.js';
import { MemoryOverrideStore } from '../../src/daemon/overrides.js';
import { MemoryIpvsDriver } from '../../src/ipvs/memory-driver.js';
import { endpointKey } from '../../src/ipvs/types.js';
import { FakeClock } from '../support/fake-clock.js';

/** probes whose verdict per address:port the test sets; counts calls per target */
class ScriptedKit implements ProbeKit {
  readonly healthy = new Map<string, boolean>();
  readonly calls = new Map<string, number>();
  probeFor(spec: CheckSpec): Probe {
    return {
      type: spec.type,
      check: async (target) => {
        const key = `${target.address}:${target.port}`;
        this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
        const ok = this.healthy.get(key) ?? true;
        const r: ProbeResult = { ok, outcome: ok ? 'ok' : 'fail', durationMs: 1, detail: ok ? 'fine' : 'scripted failure' };
        return r;
      },
    };
  }
  async close(): Promise<void> {}
}

let daemon: Daemon | undefined;
afterEach(async () => { await daemon?.close(); daemon = undefined; });

/** a test's config: no API, the memory driver unless the test says otherwise */
function wiringConfig(yaml: string, file = 'wiring.yaml') {
  const ipvs = /^ipvs:/m.test(yaml) ? '' : 'ipvs: { driver: memory, resync_interval: 60s }\n';
  return parseConfig(`api: { listen: false, socket: false }\n${ipvs}${yaml}`, file);
}

function start(yaml: string, overrides?: MemoryOverrideStore) {
  const clock = new FakeClock(0);
  const kit = new ScriptedKit();
  const commands: string[] = [];
  const driver = new MemoryIpvsDriver({ onChange: (c) => commands.push(c) });
  const config = wiringConfig(yaml);
  daemon = new Daemon({ config, clock, random: () => 0, log: silentLogger(), probes: kit, driver, defaultMetrics: false, ...(overrides ? { overrides } : {}) });
  const weights = async (vip: string) => {
    const t = await driver.read();
    const s = [...t.services.values()].find((e) => e.service.endpoint && endpointKey(e.service.endpoint) === vip);
    return Object.fromEntries([...(s?.destinations.values() ?? [])].map((d) => [endpointKey(d.endpoint), d.weight]));
  };
  return { clock, kit, driver, commands, weights, daemon };
}

describe('daemon wiring', () => {
  it('restores a drain from the last run without announcing it again, and drops an expired entry from the file', async () => {
    const store = new MemoryOverrideStore();
    await store.save(new Map([
      ['web|198.51.100.2:80', { admin: 'drain' as const, reason: 'operator', since: 0 }],
      // a maintenance window that ended while lvsd was down; its weight stays
      ['web|198.51.100.3:80', { admin: 'maint' as const, until: 5_000, weight: 7, since: 0 }],
    ]));
    const { clock, daemon: d, weights } = start(`
defaults: { interval: 1s, timeout: 500ms, rise: 1, fall: 1 }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: tcp }
    realservers: [{ address: 198.51.100.2:80 }, { address: 198.51.100.3:80 }]
`, store);
    await clock.advance(10_000); // the clock is past the window's end before lvsd starts
    const events: DaemonEvent[] = [];
    d.onEvent((e) => events.push(e));
    await d.start();
    await clock.advance(2_000);
    expect(events.filter((e) => e.type === 'admin')).toEqual([]);
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 0, '198.51.100.3:80': 7 });
    const saved = await store.load();
    expect(saved.get('web|198.51.100.2:80')).toMatchObject({ admin: 'drain', reason: 'operator' });
    expect(saved.get('web|198.51.100.3:80')).toMatchObject({ weight: 7 });
    expect(saved.get('web|198.51.100.3:80')?.admin).toBeUndefined();
  });

  it('check now: probes at once, outside the schedule; an unknown realserver is an error', async () => {
    const { clock, kit, daemon: d } = start(`
defaults: { interval: 60s, timeout: 500ms, rise: 1, fall: 1 }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: tcp }
    realservers: [{ address: 198.51.100.2:80 }]
`);
    await d.start();
    await clock.advance(60_000); // the first scheduled probe is somewhere in the first interval
    const before = kit.calls.get('198.51.100.2:80') ?? 0;
    d.checkNow('web', '198.51.100.2:80');
    await clock.advance(0); // no time passes
    expect(kit.calls.get('198.51.100.2:80')).toBe(before + 1);
    expect(() => d.checkNow('web', '198.51.100.9:80')).toThrow(/service web has no realserver 198.51.100.9:80/);
  });

  it('probes a realserver shared by two services once per interval and feeds both', async () => {
    const { clock, kit, daemon: d, weights } = start(`
defaults: { interval: 1s, timeout: 500ms, rise: 1, fall: 1 }
services:
  - name: a
    address: 192.0.2.10:80
    check: { type: tcp }
    realservers: [{ address: 198.51.100.2:80 }]
  - name: b
    address: 192.0.2.11:80
    check: { type: tcp }
    realservers: [{ address: 198.51.100.2:80 }]
`);
    await d.start();
    await clock.advance(10_000);
    expect(kit.calls.get('198.51.100.2:80')).toBe(11);
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 1 });
    expect(await weights('192.0.2.11:80')).toEqual({ '198.51.100.2:80': 1 });
  });

  it('leaves UNKNOWN realservers out until the first verdict, then applies rise', async () => {
    const { clock, daemon: d, weights } = start(`
defaults: { interval: 1s, timeout: 500ms, rise: 3, fall: 2 }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: tcp }
    realservers: [{ address: 198.51.100.2:80, weight: 4 }]
`);
    await d.start();
    expect(await weights('192.0.2.10:80')).toEqual({});
    await clock.advance(1000); // 2 results
    expect(await weights('192.0.2.10:80')).toEqual({});
    await clock.advance(1000); // 3rd result: UP
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 4 });
  });

  it('quiesces or removes a failed realserver, and swaps in the sorry server when none is up', async () => {
    const { clock, kit, daemon: d, weights, commands } = start(`
defaults: { interval: 1s, timeout: 500ms, rise: 1, fall: 2 }
services:
  - name: web
    address: 192.0.2.10:80
    sorry_server: 203.0.113.9:80
    check: { type: tcp }
    realservers:
      - { address: 198.51.100.2:80, weight: 3 }
      - { address: 198.51.100.3:80, weight: 2, on_down: remove }
`);
    await d.start();
    await clock.advance(100);
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 3, '198.51.100.3:80': 2 });
    kit.healthy.set('198.51.100.3:80', false);
    await clock.advance(2000);
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 3 });
    kit.healthy.set('198.51.100.2:80', false);
    await clock.advance(2000);
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 0, '203.0.113.9:80': 1 });
    expect(d.status().services[0]).toMatchObject({ sorry_active: true, up: 0 });
    commands.length = 0;
    kit.healthy.set('198.51.100.3:80', true);
    await clock.advance(1000);
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 0, '198.51.100.3:80': 2 });
    // the realserver is added before the sorry server leaves: no empty moment
    expect(commands).toEqual([
      'ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.3:80 -m -w 2',
      'ipvsadm -d -t 192.0.2.10:80 -r 203.0.113.9:80',
    ]);
  });

  it('ramps the weight over slow_start after a realserver comes back', async () => {
    const { clock, kit, daemon: d, weights } = start(`
defaults: { interval: 1s, timeout: 500ms, rise: 1, fall: 1 }
services:
  - name: web
    address: 192.0.2.10:80
    slow_start: 10s
    check: { type: tcp }
    realservers: [{ address: 198.51.100.2:80, weight: 10 }]
`);
    kit.healthy.set('198.51.100.2:80', false);
    await d.start();
    await clock.advance(500);
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 0 });
    kit.healthy.set('198.51.100.2:80', true);
    await clock.advance(1000); // UP at t=1000
    const seen: number[] = [];
    for (let i = 0; i < 11; i++) {
      seen.push((await weights('192.0.2.10:80'))['198.51.100.2:80']!);
      await clock.advance(1000);
    }
    expect(seen).toEqual([1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('gives full weight at once to a realserver first seen UP (no ramp at start-up)', async () => {
    const { clock, daemon: d, weights } = start(`
defaults: { interval: 1s, timeout: 500ms, rise: 1, fall: 1 }
services:
  - name: web
    address: 192.0.2.10:80
    slow_start: 10s
    check: { type: tcp }
    realservers: [{ address: 198.51.100.2:80, weight: 10 }]
`);
    await d.start();
    await clock.advance(500);
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 10 });
  });

  it('checks faster between states (fast_interval) and slower while down (down_interval)', async () => {
    const { clock, kit, daemon: d } = start(`
defaults: { interval: 1s, fast_interval: 200ms, down_interval: 5s, timeout: 100ms, rise: 2, fall: 3 }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: tcp }
    realservers: [{ address: 198.51.100.2:80 }]
`);
    await d.start();
    await clock.advance(5000); // UP after 2 fast checks, then 1 s steps
    const before = kit.calls.get('198.51.100.2:80')!;
    kit.healthy.set('198.51.100.2:80', false);
    await clock.advance(1000); // one steady check fails, then 200 ms re-checks until DOWN
    expect(d.status().services[0]!.realservers[0]!.state).toBe('DOWN');
    const atDown = kit.calls.get('198.51.100.2:80')!;
    expect(atDown - before).toBe(3);
    await clock.advance(10_000);
    expect(kit.calls.get('198.51.100.2:80')! - atDown).toBe(2);
  });

  it('drains a realserver the config no longer names: weight 0, removed when its connections end', async () => {
    const { clock, driver, daemon: d, weights } = start(`
ipvs: { driver: memory, drain_before_remove: 1m }
defaults: { interval: 1s, timeout: 500ms, rise: 1, fall: 1 }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: tcp }
    realservers: [{ address: 198.51.100.2:80 }]
`);
    const web = { protocol: 'tcp', endpoint: { host: '192.0.2.10', port: 80 }, scheduler: 'wlc' } as const;
    const old = { endpoint: { host: '198.51.100.9', port: 80 }, forward: 'masq', weight: 5, upperThreshold: 0, lowerThreshold: 0 } as const;
    const idle = { ...old, endpoint: { host: '198.51.100.8', port: 80 } };
    await driver.apply([{ op: 'add-service', service: web }, { op: 'add-dest', service: web, dest: old }, { op: 'add-dest', service: web, dest: idle }]);
    driver.setConns(web, old, { activeConns: 3 });
    await d.start();
    // the idle one goes at once; the busy one stays at weight 0 while connections remain
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.9:80': 0 });
    await clock.advance(500);
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 1, '198.51.100.9:80': 0 });
    expect(d.status().services[0]!.leaving).toEqual([{ address: '198.51.100.9:80', since: new Date(0).toISOString(), active_conns: 3 }]);
    await clock.advance(10_000);
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 1, '198.51.100.9:80': 0 });
    driver.setConns(web, old, { activeConns: 0, inactiveConns: 4 });
    await clock.advance(2000); // looked at again within LEAVING_POLL_MS
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 1 });
    expect(d.status().services[0]!.leaving).toEqual([]);
  });

  it('removes a draining realserver when drain_before_remove has passed, connections or not', async () => {
    const { clock, driver, daemon: d, weights } = start(`
ipvs: { driver: memory, drain_before_remove: 30s }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: tcp, interval: 1s, timeout: 500ms }
    realservers: []
`);
    const web = { protocol: 'tcp', endpoint: { host: '192.0.2.10', port: 80 }, scheduler: 'wlc' } as const;
    const old = { endpoint: { host: '198.51.100.9', port: 80 }, forward: 'masq', weight: 5, upperThreshold: 0, lowerThreshold: 0 } as const;
    await driver.apply([{ op: 'add-service', service: web }, { op: 'add-dest', service: web, dest: old }]);
    driver.setConns(web, old, { activeConns: 7 });
    await d.start();
    await clock.advance(29_000);
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.9:80': 0 });
    await clock.advance(2000);
    expect(await weights('192.0.2.10:80')).toEqual({});
  });

  it('leaves the table on stop, or removes its own services with cleanup_on_exit (never the others)', async () => {
    const yaml = (cleanup: boolean) => `
ipvs: { driver: memory, cleanup_on_exit: ${cleanup} }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: tcp, interval: 1s, timeout: 500ms, rise: 1 }
    realservers: [{ address: 198.51.100.2:80 }]
`;
    const other = { protocol: 'udp', endpoint: { host: '192.0.2.53', port: 53 }, scheduler: 'rr' } as const;
    for (const cleanup of [false, true]) {
      const { clock, driver, daemon: d } = start(yaml(cleanup));
      await driver.apply([{ op: 'add-service', service: other }]);
      await d.start();
      await clock.advance(1500);
      expect([...(await driver.read()).services.keys()].sort()).toEqual(['tcp 192.0.2.10:80', 'udp 192.0.2.53:53']);
      await d.close();
      expect([...(await driver.read()).services.keys()].sort()).toEqual(cleanup ? ['udp 192.0.2.53:53'] : ['tcp 192.0.2.10:80', 'udp 192.0.2.53:53']);
    }
  });

  it('exports the kernel table as lvsd_ipvs_* metrics with node_exporter label names, managed or not', async () => {
    const { clock, driver, daemon: d } = start(`
defaults: { interval: 1s, timeout: 500ms, rise: 1, fall: 1 }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: tcp }
    realservers: [{ address: 198.51.100.2:80, weight: 3 }]
`);
    const other = { protocol: 'fwmark', fwmark: 5, scheduler: 'rr' } as const;
    await driver.apply([{ op: 'add-service', service: other }, { op: 'add-dest', service: other, dest: { endpoint: { host: '198.51.100.9', port: 0 }, forward: 'route', weight: 2, upperThreshold: 0, lowerThreshold: 0 } }]);
    await d.start();
    await clock.advance(100);
    driver.setConns({ protocol: 'tcp', endpoint: { host: '192.0.2.10', port: 80 }, scheduler: 'wlc' }, { endpoint: { host: '198.51.100.2', port: 80 } }, { activeConns: 4, inactiveConns: 9 });
    const text = await d.metrics.text();
    const web = 'service="web",proto="TCP",local_address="192.0.2.10",local_port="80",local_mark=""';
    expect(text).toContain(`lvsd_ipvs_connections{${web},realserver="198.51.100.2:80",remote_address="198.51.100.2",remote_port="80",state="active"} 4`);
    expect(text).toContain(`lvsd_ipvs_connections{${web},realserver="198.51.100.2:80",remote_address="198.51.100.2",remote_port="80",state="inactive"} 9`);
    expect(text).toContain(`lvsd_ipvs_backend_weight{${web},realserver="198.51.100.2:80",remote_address="198.51.100.2",remote_port="80"} 3`);
    expect(text).toContain(`lvsd_ipvs_service_connections_total{${web}} 0`);
    expect(text).toContain(`lvsd_ipvs_service_bytes_total{${web},direction="in"} 0`);
    expect(text).toContain('lvsd_ipvs_backend_weight{service="",proto="FWM",local_address="",local_port="0",local_mark="5",realserver="198.51.100.9:0",remote_address="198.51.100.9",remote_port="0"} 2');
    expect(text).toContain('lvsd_ipvs_stats_up 1');
  });
});

describe('daemon metrics', () => {
  it('exports state, last probe, streaks, weights, service counts, sync state, build and config info', async () => {
    const { clock, kit, daemon: d } = start(`
node: { name: dir1 }
defaults: { interval: 1s, timeout: 500ms, rise: 1, fall: 2 }
services:
  - name: web
    address: 192.0.2.10:80
    sorry_server: 198.51.100.99:80
    check: { type: tcp }
    realservers:
      - { address: 198.51.100.2:80, weight: 5 }
      - { address: 198.51.100.3:80, weight: 3 }
`);
    kit.healthy.set('198.51.100.3:80', false);
    await d.start();
    await clock.advance(3500);
    await d.reconcileNow();
    const a = 'service="web",realserver="198.51.100.2:80",check="tcp"';
    const b = 'service="web",realserver="198.51.100.3:80",check="tcp"';
    let text = await d.metrics.text();
    const has = (line: string): void => expect(text.split('\n')).toContain(line);
    has(`lvsd_realserver_state{${a},state="up"} 1`);
    has(`lvsd_realserver_state{${a},state="down"} 0`);
    has(`lvsd_realserver_state{${b},state="down"} 1`);
    has(`lvsd_realserver_state{${b},state="unknown"} 0`);
    has(`lvsd_realserver_consecutive_failures{${b}} 4`);
    has(`lvsd_realserver_consecutive_successes{${a}} 4`);
    has(`lvsd_realserver_last_probe_success{${b}} 0`);
    has(`lvsd_realserver_last_probe_timestamp_seconds{${a}} 3`);
    has(`lvsd_realserver_last_probe_duration_seconds{${a}} 0.001`);
    has(`lvsd_realserver_state_since_timestamp_seconds{${b}} 1`);
    has(`lvsd_realserver_weight{${a}} 5`);
    has(`lvsd_realserver_weight{${b}} 0`);
    has(`lvsd_realserver_wanted_weight{${b}} 0`);
    has(`lvsd_realserver_configured_weight{${b}} 3`);
    has('lvsd_service_realservers{service="web",state="up"} 1');
    has('lvsd_service_realservers{service="web",state="down"} 1');
    has('lvsd_service_realservers{service="web",state="draining"} 0');
    has('lvsd_service_sorry_active{service="web"} 0');
    has('lvsd_ipvs_in_sync 1');
    has(`lvsd_build_info{version="0.0.0",nodejs="${process.versions.node}",node="dir1"} 1`);
    has('lvsd_config_last_reload_successful 1');
    has('lvsd_config_reloads_total{result="failure"} 0');
    has('lvsd_config_last_reload_success_timestamp_seconds 0');

    // every realserver down: the sorry server takes over
    kit.healthy.set('198.51.100.2:80', false);
    await clock.advance(2000);
    await d.reconcileNow();
    text = await d.metrics.text();
    has('lvsd_service_sorry_active{service="web"} 1');
    has('lvsd_service_realservers{service="web",state="down"} 2');

  });

  it('service down/up, failed probes while down (per realserver and per round), drains with an end', async () => {
    const { clock, kit, daemon: d, weights } = start(`
defaults: { interval: 1s, timeout: 500ms, rise: 1, fall: 2 }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: tcp }
    realservers:
      - { address: 198.51.100.2:80, weight: 5 }
      - { address: 198.51.100.3:80, weight: 3 }
`);
    const events: string[] = [];
    d.onEvent((e) => {
      if (e.type === 'transition') events.push(`${e.realserver} ${e.from}->${e.to} f${e.failures}`);
      if (e.type === 'still_down') events.push(`still ${e.scope} ${e.realserver ?? e.service} f${e.failures}`);
      if (e.type === 'service') events.push(`service ${e.service} ${e.to}`);
      if (e.type === 'admin') events.push(`${e.action} ${e.realserver}: ${e.detail}`);
    });
    await d.start();
    await clock.advance(500);
    expect(events).toEqual(['198.51.100.2:80 unknown->up f0', '198.51.100.3:80 unknown->up f0']);
    events.length = 0;
    kit.healthy.set('198.51.100.2:80', false);
    kit.healthy.set('198.51.100.3:80', false);
    await clock.advance(4000);
    expect(events).toEqual([
      '198.51.100.2:80 up->down f2', '198.51.100.3:80 up->down f2', 'service web down',
      'still realserver 198.51.100.2:80 f3', 'still realserver 198.51.100.3:80 f3', 'still service web f2',
      'still realserver 198.51.100.2:80 f4', 'still realserver 198.51.100.3:80 f4', 'still service web f3',
    ]);
    events.length = 0;
    kit.healthy.set('198.51.100.3:80', true);
    await clock.advance(1000);
    expect(events).toEqual(['still realserver 198.51.100.2:80 f5', '198.51.100.3:80 down->up f0', 'service web up']);
    events.length = 0;

    d.drain('web', '198.51.100.3:80', { forMs: 5000, reason: 'backup window' });
    await d.reconcileNow();
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 0, '198.51.100.3:80': 0 });
    expect(d.status().services[0]!.realservers[1]!.state).toBe('DRAINING');
    await clock.advance(5000);
    await d.reconcileNow();
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 0, '198.51.100.3:80': 3 });
    expect(events.filter((e) => !e.startsWith('still'))).toEqual([
      'drain_started 198.51.100.3:80: backup window', 'service web down',
      'drain_finished 198.51.100.3:80: drain for 5s ended', 'service web up',
    ]);
    expect(() => d.drain('web', '198.51.100.9:80', { reason: 'x' })).toThrow(/service web has no realserver 198\.51\.100\.9:80/);
    expect(() => d.drain('nosuch', '198.51.100.2:80', { reason: 'x' })).toThrow(/no service named nosuch/);
  });
});

describe('daemon reload', () => {
  it('keeps unchanged realservers as they are, adds, re-weights, removes, deletes a removed service', async () => {
    const { clock, kit, driver, daemon: d, weights } = start(`
defaults: { interval: 1s, timeout: 500ms, rise: 1, fall: 1 }
ipvs: { driver: memory, resync_interval: 60s, drain_before_remove: 0s }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: tcp }
    realservers:
      - { address: 198.51.100.2:80, weight: 5 }
      - { address: 198.51.100.3:80, weight: 3 }
      - { address: 198.51.100.4:80, weight: 1 }
  - name: old
    address: 192.0.2.11:80
    check: { type: tcp }
    realservers: [{ address: 198.51.100.2:80 }]
`);
    const transitions: string[] = [];
    d.onEvent((e) => { if (e.type === 'transition') transitions.push(`${e.service} ${e.realserver} ${e.to}`); });
    await d.start();
    await clock.advance(1500);
    d.drain('web', '198.51.100.3:80', { reason: 'kept across the reload' });
    transitions.length = 0;
    const calls = kit.calls.get('198.51.100.2:80');
    const next = wiringConfig(`ipvs: { driver: memory, resync_interval: 60s, drain_before_remove: 0s }
defaults: { interval: 1s, timeout: 500ms, rise: 1, fall: 1 }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: tcp }
    realservers:
      - { address: 198.51.100.2:80, weight: 5 }
      - { address: 198.51.100.3:80, weight: 7 }
      - { address: 198.51.100.5:80, weight: 2 }
`, 'next.yaml');
    const dry = d.reload(next, { dryRun: true });
    expect(dry.realservers).toMatchObject({
      added: [{ service: 'web', realserver: '198.51.100.5:80' }],
      removed: [{ service: 'web', realserver: '198.51.100.4:80' }, { service: 'old', realserver: '198.51.100.2:80' }],
      weightChanged: [{ service: 'web', realserver: '198.51.100.3:80', from: 3, to: 7 }],
      unchanged: 1,
    });
    expect(dry.services.removed).toEqual(['old']);
    expect(d.status().services).toHaveLength(2); // a dry run changes nothing
    d.reload(next);
    await d.reconcileNow();
    await clock.advance(1000);
    await d.reconcileNow();
    expect([...(await driver.read()).services.keys()]).toEqual(['tcp 192.0.2.10:80']);
    expect(await weights('192.0.2.10:80')).toEqual({ '198.51.100.2:80': 5, '198.51.100.3:80': 0, '198.51.100.5:80': 2 });
    // the unchanged realserver kept its state and probe: no transition, no extra probe
    expect(transitions).toEqual(['web 198.51.100.5:80 up']);
    expect(kit.calls.get('198.51.100.2:80')).toBe(calls! + 1);
    const st = d.status().services[0]!.realservers;
    expect(st.map((r) => [r.id, r.state, r.transitions])).toEqual([
      ['198.51.100.2:80', 'UP', 1], ['198.51.100.3:80', 'DRAINING', 1], ['198.51.100.5:80', 'UP', 1],
    ]);

    // realservers that left take their event series with them; those that stay keep theirs
    const series = async (): Promise<string[]> => (await d.metrics.text()).split('\n')
      .filter((l) => /^lvsd_(probes_total|probe_duration_seconds|realserver_transitions_total)/.test(l));
    let lines = await series();
    expect(lines.filter((l) => l.includes('198.51.100.4:80') || l.includes('service="old"'))).toEqual([]);
    expect(lines.some((l) => l.startsWith('lvsd_probes_total{service="web",realserver="198.51.100.2:80",check="tcp"'))).toBe(true);
    // a new check type starts new probe series; the transitions stay
    d.reload(wiringConfig(`ipvs: { driver: memory, resync_interval: 60s, drain_before_remove: 0s }
defaults: { interval: 1s, timeout: 500ms, rise: 1, fall: 1 }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: http }
    realservers:
      - { address: 198.51.100.2:80, weight: 5 }
`, 'next2.yaml'));
    await clock.advance(1000);
    lines = await series();
    expect(lines.filter((l) => l.includes('check="tcp"'))).toEqual([]);
    expect(lines.some((l) => l.startsWith('lvsd_probes_total{service="web",realserver="198.51.100.2:80",check="http"'))).toBe(true);
    expect(lines.filter((l) => l.startsWith('lvsd_realserver_transitions_total'))).toEqual([
      'lvsd_realserver_transitions_total{service="web",realserver="198.51.100.2:80",from="unknown",to="up"} 1',
    ]);
  });
});
