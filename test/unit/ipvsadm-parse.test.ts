/**
 * ipvsadm's output → table, on text captured from ipvsadm 1.31 in the VM (fixtures/ipvsadm).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { opArgv } from '../../src/ipvs/ipvsadm-format.js';
import { IpvsadmParseError, parseEndpoint, parseListing, parseRules, parseStats, parseTable } from '../../src/ipvs/ipvsadm-parse.js';
import { serviceKey } from '../../src/ipvs/types.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/ipvsadm/${name}`, import.meta.url), 'utf8');

describe('ipvsadm -S -n and --thresholds → table', () => {
  const table = parseTable(fixture('mixed.rules.txt'), fixture('mixed.thresholds.txt'));

  it('reads every kind of service', () => {
    expect([...table.services.keys()]).toEqual([
      'tcp 192.0.2.100:80', 'tcp 192.0.2.101:443', 'tcp 192.0.2.102:80', 'tcp 192.0.2.103:80', 'udp 192.0.2.53:53',
      'tcp [2001:db8::10]:80', 'fwmark 1', 'fwmark 2 ipv6',
    ]);
    expect(table.services.get('tcp 192.0.2.101:443')!.service).toEqual({
      protocol: 'tcp', endpoint: { host: '192.0.2.101', port: 443 }, scheduler: 'sh', persistenceSec: 360, persistenceNetmask: '255.255.255.0',
    });
    expect(table.services.get('tcp 192.0.2.103:80')!.service).toMatchObject({ scheduler: 'lblcr', persistenceSec: 360 });
    expect(table.services.get('tcp 192.0.2.103:80')!.service.persistenceNetmask).toBeUndefined();
    expect(table.services.get('fwmark 1')!.service).toEqual({ protocol: 'fwmark', fwmark: 1, scheduler: 'mh', persistenceSec: 60 });
    expect(table.services.get('fwmark 2 ipv6')!.service).toEqual({ protocol: 'fwmark', fwmark: 2, ipv6: true, scheduler: 'wlc' });
  });

  it('reads destinations with forwarding, weight and the thresholds -S leaves out', () => {
    const web = table.services.get('tcp 192.0.2.100:80')!.destinations;
    expect(web.get('198.51.100.11:8080')).toEqual({
      endpoint: { host: '198.51.100.11', port: 8080 }, forward: 'masq', weight: 3,
      upperThreshold: 0, lowerThreshold: 0, activeConns: 0, inactiveConns: 0,
    });
    expect(web.get('198.51.100.12:8080')).toMatchObject({ weight: 0, upperThreshold: 100, lowerThreshold: 50 });
    expect(table.services.get('tcp 192.0.2.101:443')!.destinations.get('198.51.100.13:443')).toMatchObject({ forward: 'route' });
    expect(table.services.get('udp 192.0.2.53:53')!.destinations.get('198.51.100.53:53')).toMatchObject({ forward: 'tunnel', weight: 65535 });
    expect(table.services.get('tcp [2001:db8::10]:80')!.destinations.get('[2001:db8::11]:8080')).toMatchObject({
      endpoint: { host: '2001:db8::11', port: 8080 }, forward: 'masq',
    });
    expect(table.services.get('fwmark 1')!.destinations.get('198.51.100.40:0')).toMatchObject({ forward: 'route', weight: 2 });
  });

  it('writes back what it read: every -S line again from opArgv (ipvsadm -S adds --tun-type to TUN lines)', () => {
    const lines: string[] = [];
    for (const { service, destinations } of table.services.values()) {
      lines.push(opArgv({ op: 'add-service', service }).join(' '));
      for (const dest of destinations.values()) {
        lines.push(opArgv({ op: 'add-dest', service, dest: { ...dest, upperThreshold: 0, lowerThreshold: 0 } }).join(' '));
      }
    }
    const expected = fixture('mixed.rules.txt').trim().split('\n').map((l) => l.replace(' --tun-type ipip', ''));
    expect(lines.sort()).toEqual(expected.sort());
  });

  it('reads connection counts from a table carrying traffic', () => {
    const t = parseTable(fixture('traffic.rules.txt'), fixture('traffic.thresholds.txt'));
    const web = t.services.get('tcp 192.0.2.100:80')!.destinations;
    expect(web.get('198.51.100.11:8080')).toMatchObject({ activeConns: 0, inactiveConns: 15, weight: 3 });
    expect(web.get('198.51.100.12:8080')).toMatchObject({ inactiveConns: 5, upperThreshold: 50, lowerThreshold: 10 });
  });

  it('ignores an entry that changed between the two reads', () => {
    const t = parseTable(fixture('traffic.rules.txt'), fixture('mixed.thresholds.txt'));
    expect(t.services.get('tcp 192.0.2.100:80')!.destinations.get('198.51.100.12:8080')).toMatchObject({ upperThreshold: 100, inactiveConns: 0 });
    expect(t.services.get('tcp 192.0.2.100:80')!.destinations.get('198.51.100.11:8080')).toMatchObject({ inactiveConns: 0 });
  });

  it('reads an empty table', () => {
    expect(parseTable('', 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n').services.size).toBe(0);
  });
});

describe('ipvsadm --stats and --rate → traffic', () => {
  it('reads counters and rates per service and destination', () => {
    const s = parseStats(fixture('traffic.stats.txt'), fixture('traffic.rate.txt'));
    const web = s.services.get('tcp 192.0.2.100:80')!;
    expect(web.service).toEqual({ protocol: 'tcp', endpoint: { host: '192.0.2.100', port: 80 } });
    expect(web.counters).toEqual({ connections: 20, packetsIn: 127, packetsOut: 120, bytesIn: 8264, bytesOut: 10620 });
    expect(web.rates).toEqual({ connections: 2, packetsIn: 16, packetsOut: 15, bytesIn: 1033, bytesOut: 1327 });
    expect(web.destinations.get('198.51.100.12:8080')).toEqual({
      endpoint: { host: '198.51.100.12', port: 8080 },
      counters: { connections: 5, packetsIn: 32, packetsOut: 30, bytesIn: 2079, bytesOut: 2655 },
      rates: { connections: 1, packetsIn: 4, packetsOut: 4, bytesIn: 260, bytesOut: 332 },
    });
    expect(s.services.get('fwmark 7')!.destinations.get('198.51.100.11:0')!.counters.connections).toBe(0);
  });

  it('reads IPv6 and fwmark IPv6 rows', () => {
    const s = parseStats(fixture('mixed.stats.txt'), fixture('mixed.rate.txt'));
    expect([...s.services.keys()]).toContain('fwmark 2 ipv6');
    expect(s.services.get('tcp [2001:db8::10]:80')!.destinations.has('[2001:db8::11]:8080')).toBe(true);
  });
});

describe('bad input', () => {
  it('names the line of a rule it cannot read', () => {
    expect(() => parseRules('-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r nonsense -m -w 1\n')).toThrow(IpvsadmParseError);
    expect(() => parseRules('-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r nonsense -m -w 1\n')).toThrow(/line 2: bad destination address/);
    expect(() => parseRules('-a -t 192.0.2.1:80 -r 198.51.100.1:80 -m -w 1\n')).toThrow(/destination before its service/);
    expect(() => parseRules('-A -t 192.0.2.1:80 -s\n')).toThrow(/option -s without a value/);
  });

  it('names the line of a listing it cannot read', () => {
    expect(() => parseListing('TCP  192.0.2.1:80 rr\n  -> 198.51.100.1:80  1 2 x 4\n', 4)).toThrow(/line 2: expected 4 numbers/);
    expect(() => parseListing('XYZ 1 2 3\n', 4)).toThrow(/line 1: unknown line/);
  });

  it('skips SCTP services and their destinations', () => {
    const rows = parseListing('SCTP 192.0.2.1:80 rr\n  -> 198.51.100.1:80  0 0 0 0\nTCP  192.0.2.1:80 rr\n', 4);
    expect(rows.map((r) => r.serviceKey)).toEqual([serviceKey({ protocol: 'tcp', endpoint: { host: '192.0.2.1', port: 80 } })]);
    expect(parseRules('-A --sctp-service 192.0.2.1:80 -s rr\n').size).toBe(0);
  });

  it('parses endpoints strictly', () => {
    expect(parseEndpoint('[2001:DB8:0::1]:80')).toEqual({ host: '2001:db8::1', port: 80 });
    expect(parseEndpoint('192.0.2.1:65536')).toBeUndefined();
    expect(parseEndpoint('192.0.2.1')).toBeUndefined();
    expect(parseEndpoint('host:80')).toBeUndefined();
  });
});
