import { describe, expect, it } from 'vitest';
import { planOps } from '../../src/ipvs/diff.js';
import { opCommand } from '../../src/ipvs/ipvsadm-format.js';
import { MemoryIpvsDriver } from '../../src/ipvs/memory-driver.js';
import {
  endpointKey, serviceKey, type ActualDestination, type IpvsTable, type ServiceEntry, type VirtualService,
  type WantedDestination, type WantedTable,
} from '../../src/ipvs/types.js';

const web: VirtualService = { protocol: 'tcp', endpoint: { host: '192.0.2.10', port: 80 }, scheduler: 'wlc' };
const mail: VirtualService = { protocol: 'tcp', endpoint: { host: '192.0.2.11', port: 25 }, scheduler: 'rr' };
const fwm: VirtualService = { protocol: 'fwmark', fwmark: 7, scheduler: 'sh', persistenceSec: 360 };

function dest(host: string, weight: number, extra: Partial<WantedDestination> = {}): WantedDestination {
  return { endpoint: { host, port: 80 }, forward: 'masq', weight, upperThreshold: 0, lowerThreshold: 0, ...extra };
}
function actual(host: string, weight: number, extra: Partial<ActualDestination> = {}): ActualDestination {
  return {
    ...dest(host, weight), ...extra,
    activeConns: 0, inactiveConns: 0,
  };
}
function table<D extends WantedDestination | ActualDestination>(...entries: [VirtualService, D[]][]): { services: Map<string, ServiceEntry<D>> } {
  return {
    services: new Map(entries.map(([s, ds]) => [serviceKey(s), { service: s, destinations: new Map(ds.map((d) => [endpointKey(d.endpoint), d])) }])),
  };
}
const cmds = (w: WantedTable, a: IpvsTable) => planOps(w, a).map(opCommand);

describe('planOps', () => {
  it('builds everything into an empty table, services first', () => {
    expect(cmds(table([web, [dest('198.51.100.2', 3), dest('198.51.100.3', 1, { forward: 'route' })]]), table())).toEqual([
      'ipvsadm -A -t 192.0.2.10:80 -s wlc',
      'ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 3',
      'ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.3:80 -g -w 1',
    ]);
  });

  it('does nothing when the tables match', () => {
    expect(cmds(table([web, [dest('198.51.100.2', 3)]]), table([web, [actual('198.51.100.2', 3)]]))).toEqual([]);
  });

  it('edits a changed weight, forwarding method or threshold', () => {
    expect(cmds(
      table([web, [dest('198.51.100.2', 0), dest('198.51.100.3', 1, { forward: 'tunnel' }), dest('198.51.100.4', 1, { upperThreshold: 100, lowerThreshold: 10 })]]),
      table([web, [actual('198.51.100.2', 3), actual('198.51.100.3', 1), actual('198.51.100.4', 1)]]),
    )).toEqual([
      'ipvsadm -e -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 0',
      'ipvsadm -e -t 192.0.2.10:80 -r 198.51.100.3:80 -i -w 1',
      'ipvsadm -e -t 192.0.2.10:80 -r 198.51.100.4:80 -m -w 1 -x 100 -y 10',
    ]);
  });

  it('removes destinations it does not want, after adding the new ones (no empty moment)', () => {
    expect(cmds(table([web, [dest('198.51.100.99', 1)]]), table([web, [actual('198.51.100.2', 3)]]))).toEqual([
      'ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.99:80 -m -w 1',
      'ipvsadm -d -t 192.0.2.10:80 -r 198.51.100.2:80',
    ]);
  });

  it('leaves services it does not manage alone', () => {
    expect(cmds(table([web, [dest('198.51.100.2', 3)]]), table([web, [actual('198.51.100.2', 3)]], [mail, [actual('198.51.100.7', 1)]]))).toEqual([]);
  });

  it('edits a changed scheduler or persistence', () => {
    expect(cmds(table([{ ...web, scheduler: 'rr', persistenceSec: 60, persistenceNetmask: '255.255.255.0' }, []]), table([web, []]))).toEqual([
      'ipvsadm -E -t 192.0.2.10:80 -s rr -p 60 -M 255.255.255.0',
    ]);
  });

  it('keep: leaves an existing weight, adds nothing for a missing one', () => {
    expect(cmds(table([web, [dest('198.51.100.2', 3, { keep: true }), dest('198.51.100.3', 3, { keep: true })]]), table([web, [actual('198.51.100.2', 1)]]))).toEqual([]);
    expect(cmds(table([web, [dest('198.51.100.2', 3, { keep: true, forward: 'route' })]]), table([web, [actual('198.51.100.2', 1)]]))).toEqual([
      'ipvsadm -e -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w 1',
    ]);
  });

  it('handles fwmark services', () => {
    expect(cmds(table([fwm, [dest('198.51.100.2', 1, { endpoint: { host: '198.51.100.2', port: 0 } })]]), table())).toEqual([
      'ipvsadm -A -f 7 -s sh -p 360',
      'ipvsadm -a -f 7 -r 198.51.100.2:0 -m -w 1',
    ]);
  });
  it('with a scope, compares only the named destinations; a scoped service missing from the kernel is planned whole', () => {
    const want = table([web, [dest('198.51.100.2', 5), dest('198.51.100.3', 9)]], [mail, [dest('198.51.100.4', 1)]]);
    const have = table([web, [actual('198.51.100.2', 3), actual('198.51.100.3', 1), actual('198.51.100.9', 1)]]);
    // only .2 changed as far as the scope says: .3 and the stray .9 are left to a full pass
    const scope = new Map([[serviceKey(web), new Set([endpointKey(dest('198.51.100.2', 0).endpoint)])]]);
    expect(planOps(want, have, scope).map(opCommand)).toEqual(['ipvsadm -e -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 5']);
    // a named destination the wanted side no longer has is deleted
    const gone = new Map([[serviceKey(web), new Set([endpointKey(dest('198.51.100.9', 0).endpoint)])]]);
    expect(planOps(want, have, gone).map(opCommand)).toEqual(['ipvsadm -d -t 192.0.2.10:80 -r 198.51.100.9:80']);
    // mail is not in the kernel at all: the service and all of it, whatever the scope names
    const mailScope = new Map([[serviceKey(mail), new Set<string>()]]);
    expect(planOps(want, have, mailScope).map(opCommand)).toEqual([
      'ipvsadm -A -t 192.0.2.11:25 -s rr', 'ipvsadm -a -t 192.0.2.11:25 -r 198.51.100.4:80 -m -w 1',
    ]);
  });
});

describe('memory driver', () => {
  it('applies a plan so that a second plan is empty, and logs ipvsadm commands', async () => {
    const log: string[] = [];
    const d = new MemoryIpvsDriver({ onChange: (c) => log.push(c) });
    const want = table([web, [dest('198.51.100.2', 3), dest('198.51.100.3', 0)]], [fwm, []]);
    const r = await d.apply(planOps(want, await d.read()));
    expect(r.failures).toEqual([]);
    expect(planOps(want, await d.read())).toEqual([]);
    expect(log).toHaveLength(4);
  });

  it.each([
    [{ op: 'add-service', service: web }, 'Service already exists'],
    [{ op: 'edit-service', service: mail }, 'No such service'],
    [{ op: 'delete-service', service: mail }, 'No such service'],
    [{ op: 'add-service', service: { ...mail, scheduler: 'bogus' } }, 'Scheduler not found'],
    [{ op: 'add-dest', service: mail, dest: dest('198.51.100.2', 1) }, 'Service not defined'],
    [{ op: 'add-dest', service: web, dest: dest('198.51.100.2', 1) }, 'Destination already exists'],
    [{ op: 'edit-dest', service: web, dest: dest('198.51.100.9', 1) }, 'No such destination'],
    [{ op: 'delete-dest', service: web, dest: dest('198.51.100.9', 1) }, 'No such destination'],
    [{ op: 'add-dest', service: web, dest: dest('198.51.100.9', 70000) }, 'Weight out of range (0-65535)'],
    [{ op: 'add-dest', service: web, dest: dest('198.51.100.9', 1, { upperThreshold: 5, lowerThreshold: 10 }) }, 'Lower threshold exceeds upper threshold'],
    [{ op: 'add-dest', service: web, dest: dest('198.51.100.9', 1, { forward: 'route', endpoint: { host: '198.51.100.9', port: 8080 } }) }, 'Forwarding route needs the service port 80'],
  ] as const)('refuses %o as the kernel would: %s', async (op, message) => {
    const d = new MemoryIpvsDriver();
    await d.apply([{ op: 'add-service', service: web }, { op: 'add-dest', service: web, dest: dest('198.51.100.2', 1) }]);
    const before = JSON.stringify([...(await d.read()).services.values()].map((s) => [s.service, [...s.destinations.values()]]));
    const r = await d.apply([op]);
    expect(r.failures.map((f) => f.message)).toEqual([message]);
    expect(JSON.stringify([...(await d.read()).services.values()].map((s) => [s.service, [...s.destinations.values()]]))).toBe(before);
  });

  it('read() returns a copy the caller cannot use to change the table', async () => {
    const d = new MemoryIpvsDriver();
    await d.apply([{ op: 'add-service', service: web }]);
    const t = await d.read();
    (t.services as Map<string, unknown>).clear();
    expect((await d.read()).services.size).toBe(1);
    await d.apply([{ op: 'add-dest', service: web, dest: dest('198.51.100.2', 3) }]);
    const dests = (await d.read()).services.get(serviceKey(web))!.destinations;
    expect(() => (dests as Map<string, unknown>).clear()).toThrow(TypeError);
    expect(() => (dests as Map<string, unknown>).set('x', 1)).toThrow(TypeError);
    const one = (await d.read()).services.get(serviceKey(web))!.destinations.values().next().value!;
    expect(() => { (one as { weight: number }).weight = 9; }).toThrow(TypeError);
    expect((await d.read()).services.get(serviceKey(web))!.destinations.get('198.51.100.2:80')!.weight).toBe(3);
  });

  it('a read is a snapshot: later changes (copied on write) do not reach it, a new read sees them', async () => {
    const d = new MemoryIpvsDriver();
    await d.apply([{ op: 'add-service', service: web }, { op: 'add-dest', service: web, dest: dest('198.51.100.2', 3) }]);
    const view = (t: IpvsTable): string[] => [...t.services.get(serviceKey(web))!.destinations.values()].map((x) => `${endpointKey(x.endpoint)}=${x.weight}`);
    const first = await d.read();
    const again = await d.read();
    await d.apply([
      { op: 'edit-dest', service: web, dest: dest('198.51.100.2', 5) },
      { op: 'add-dest', service: web, dest: dest('198.51.100.3', 1) },
    ]);
    const second = await d.read();
    await d.apply([{ op: 'delete-dest', service: web, dest: dest('198.51.100.2', 5) }]);
    d.setConns(web, dest('198.51.100.3', 1), { activeConns: 4 });
    expect(view(first)).toEqual(['198.51.100.2:80=3']);
    expect(view(again)).toEqual(['198.51.100.2:80=3']);
    expect(view(second)).toEqual(['198.51.100.2:80=5', '198.51.100.3:80=1']);
    expect(view(await d.read())).toEqual(['198.51.100.3:80=1']);
    expect(second.services.get(serviceKey(web))!.destinations.get('198.51.100.3:80')!.activeConns).toBe(0);
    expect((await d.read()).services.get(serviceKey(web))!.destinations.get('198.51.100.3:80')!.activeConns).toBe(4);
  });
});
