import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildWantedTable, WantedTableBuilder, type RealserverView, type WantedResult } from '../../src/daemon/wanted-table.js';
import { endpointKey, type WantedDestination } from '../../src/ipvs/types.js';
import { initialHealth, type Health } from '../../src/state/realserver.js';
import type { AdminState } from '../../src/state/weight.js';

/** two services: one with a sorry server and slow start, one removing DOWN realservers */
const config = parseConfig(`
api: { listen: false, socket: false }
ipvs: { driver: memory }
services:
  - name: web
    address: 192.0.2.10:80
    sorry_server: 198.51.100.200
    slow_start: 10s
    check: { type: tcp }
    realservers:
${Array.from({ length: 12 }, (_, i) => `      - { address: 198.51.100.${i + 1}, weight: ${1 + (i % 5) * 7} }`).join('\n')}
  - name: dns
    address: 192.0.2.11:53
    protocol: udp
    on_down: remove
    check: { type: tcp, port: 53 }
    realservers:
${Array.from({ length: 8 }, (_, i) => `      - { address: 203.0.113.${i + 1} }`).join('\n')}
`, 'wanted.yaml');

interface View { health: { health: Health } & ReturnType<typeof initialHealth>; upSince: number; admin: AdminState; weightOverride?: number | undefined }

/** a deterministic pseudo-random sequence (the same failures on every run) */
function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

const flat = (r: WantedResult) => ({
  services: [...r.table.services].map(([k, e]) => [k, [...e.destinations].sort(([a], [b]) => a.localeCompare(b))]),
  decisions: [...r.decisions].map(([k, d]) => [k, { realservers: [...d.realservers], sorry: d.sorry }]),
  nextChangeAt: r.nextChangeAt,
});

describe('wanted table, kept incrementally', () => {
  it('matches a table built from scratch after every one of 3,000 random changes, and names every destination that changed', () => {
    const views = config.services.map((svc) => ({
      config: svc,
      realservers: svc.realservers.map((): View => ({ health: initialHealth('unknown', 0), upSince: Number.NEGATIVE_INFINITY, admin: 'none' })),
    }));
    const builder = new WantedTableBuilder(views);
    const rnd = lcg(7);
    let now = 0;
    builder.update(now);
    expect(builder.takeChanges()).toBeUndefined(); // a new builder cannot say what changed
    let before = new Map([...builder.update(now).table.services].map(([k, e]) => [k, new Map(e.destinations)]));
    for (let step = 0; step < 3000; step++) {
      now += Math.floor(rnd() * 1500);
      const s = Math.floor(rnd() * views.length);
      const i = Math.floor(rnd() * views[s]!.realservers.length);
      const v = views[s]!.realservers[i]!;
      const what = rnd();
      if (what < 0.1) {
        // nothing changes but the time: slow-start ramps move by themselves
      } else if (what < 0.6) {
        const to: Health = (['up', 'down', 'unknown'] as const)[Math.floor(rnd() * 3)]!;
        if (to === 'up' && v.health.health === 'down') v.upSince = now;
        v.health = { ...v.health, health: to };
      } else if (what < 0.85) {
        v.admin = (['none', 'drain', 'maint'] as const)[Math.floor(rnd() * 3)]!;
      } else {
        v.weightOverride = rnd() < 0.3 ? undefined : Math.floor(rnd() * 50);
      }
      if (what >= 0.1) builder.markDirty(views[s]!.config, i);
      const got = builder.update(now);
      expect(flat(got)).toEqual(flat(buildWantedTable(views as readonly { config: typeof views[0]['config']; realservers: RealserverView[] }[], now)));
      const changed = builder.takeChanges()!;
      for (const [key, entry] of got.table.services) {
        const was = before.get(key)!;
        const keys = new Set([...was.keys(), ...entry.destinations.keys()]);
        for (const k of keys) {
          const a: WantedDestination | undefined = was.get(k);
          const b = entry.destinations.get(k);
          if (JSON.stringify(a) !== JSON.stringify(b)) expect(changed.get(key)?.has(k), `${key} ${k} changed but not named`).toBe(true);
        }
      }
      before = new Map([...got.table.services].map(([k, e]) => [k, new Map(e.destinations)]));
    }
  });

  it('keys destinations by realserver id, which the loader makes the endpoint key (IPv6 in brackets)', () => {
    const v6 = parseConfig(`
api: { listen: false, socket: false }
ipvs: { driver: memory }
services:
  - name: v6
    address: "[2001:db8::10]:80"
    check: { type: tcp }
    realservers: [{ address: "[2001:db8::1]:8080" }, { address: "2001:db8::2" }]
`, 'v6.yaml');
    for (const svc of [...config.services, ...v6.services]) {
      for (const rs of svc.realservers) expect(rs.id).toBe(endpointKey(rs.endpoint));
    }
    expect(v6.services[0]!.realservers.map((r) => r.id)).toEqual(['[2001:db8::1]:8080', '[2001:db8::2]:80']);
  });

  it('puts the sorry server in when the last usable realserver goes, and takes it out when one is UP again', () => {
    const svc = config.services[0]!;
    const views = [{ config: svc, realservers: svc.realservers.map((): View => ({ health: { ...initialHealth('unknown', 0), health: 'down' }, upSince: 0, admin: 'none' })) }];
    const builder = new WantedTableBuilder(views);
    const sorryKey = endpointKey(svc.sorryServer!);
    expect(builder.update(0).table.services.values().next().value!.destinations.get(sorryKey)?.weight).toBe(1);
    builder.takeChanges();
    views[0]!.realservers[3]!.health = { ...views[0]!.realservers[3]!.health, health: 'up' };
    builder.markDirty(svc, 3);
    const r = builder.update(1000);
    const dests = r.table.services.values().next().value!.destinations;
    expect(dests.has(sorryKey)).toBe(false);
    expect(r.decisions.get('web')!.sorry).toBe(false);
    const key = r.table.services.keys().next().value!;
    expect([...builder.takeChanges()!.get(key)!].sort()).toEqual([endpointKey(svc.realservers[3]!.endpoint), sorryKey].sort());
  });
});
