/**
 * Reading ipvsadm's output: pure text → table. Two sources, because neither says everything:
 *
 * - `ipvsadm -S -n` (rules, the -R input format): services with scheduler, persistence and
 *   netmask, the fwmark family; destinations with forwarding method and weight. It omits the
 *   connection thresholds (-x/-y) even when they are set (ipvsadm 1.31).
 * - `ipvsadm -Ln --exact --thresholds`: per destination Uthreshold, Lthreshold, ActiveConn,
 *   InActConn. `--stats` and `--rate` share the layout with five other numbers.
 *
 * Lines for protocols lvsd does not model (SCTP) are skipped with their destinations; options
 * it does not model (-b sched flags, --pe, --tun-type...) are ignored.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Endpoint, Forward } from '../config/types.js';
import {
  endpointKey, serviceKey,
  type ActualDestination, type DestinationStats, type IpvsProtocol, type IpvsStats, type IpvsTable, type ServiceEntry,
  type ServiceId, type ServiceStats, type TrafficCounters, type VirtualService,
} from './types.js';

export class IpvsadmParseError extends Error {
  readonly line: number;
  readonly text: string;
  constructor(message: string, line: number, text: string) {
    super(`line ${line}: ${message}: ${JSON.stringify(text)}`);
    this.name = 'IpvsadmParseError';
    this.line = line;
    this.text = text;
  }
}

/** "198.51.100.2:80", "[2001:db8::2]:80" → endpoint with a canonical host, or undefined */
export function parseEndpoint(text: string): Endpoint | undefined {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']:');
    if (end < 0) return undefined;
    host = text.slice(1, end);
    portText = text.slice(end + 2);
    if (!isIPv6(host)) return undefined;
    host = new URL(`http://[${host}]/`).hostname.slice(1, -1);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return undefined;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (!isIPv4(host)) return undefined;
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  return port <= 65535 ? { host, port } : undefined;
}

const FORWARD_OF: Record<string, Forward> = { '-m': 'masq', '-g': 'route', '-i': 'tunnel' };
const FORWARD_LONG: Record<string, Forward> = { '--masquerading': 'masq', '--gatewaying': 'route', '--ipip': 'tunnel' };
/** options of a rule line that take a value; everything else is a flag */
const WITH_VALUE = new Set([
  '-t', '-u', '-f', '--sctp-service', '-s', '-p', '-M', '-r', '-w', '-x', '-y', '-b', '--pe', '--tun-type', '--tun-port',
]);

interface RuleLine {
  readonly command: string;
  readonly opts: ReadonlyMap<string, string>;
  readonly flags: ReadonlySet<string>;
}

function tokenizeRule(text: string, lineNo: number): RuleLine {
  const words = text.trim().split(/\s+/);
  const command = words[0] ?? '';
  const opts = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (WITH_VALUE.has(w)) {
      const v = words[i + 1];
      if (v === undefined) throw new IpvsadmParseError(`option ${w} without a value`, lineNo, text);
      opts.set(w, v);
      i++;
    } else {
      flags.add(w);
    }
  }
  return { command, opts, flags };
}

function int(text: string | undefined, what: string, lineNo: number, line: string): number {
  if (text === undefined || !/^\d+$/.test(text)) throw new IpvsadmParseError(`bad ${what}`, lineNo, line);
  return Number(text);
}

/** The service a rule or listing line names; undefined for protocols lvsd does not model. */
function ruleService(r: RuleLine, lineNo: number, text: string): ServiceId | undefined {
  const tcp = r.opts.get('-t');
  const udp = r.opts.get('-u');
  const mark = r.opts.get('-f');
  if (tcp !== undefined || udp !== undefined) {
    const endpoint = parseEndpoint((tcp ?? udp)!);
    if (!endpoint) throw new IpvsadmParseError('bad service address', lineNo, text);
    return { protocol: tcp !== undefined ? 'tcp' : 'udp', endpoint };
  }
  if (mark !== undefined) {
    return { protocol: 'fwmark', fwmark: int(mark, 'fwmark', lineNo, text), ...(r.flags.has('-6') ? { ipv6: true } : {}) };
  }
  if (r.opts.has('--sctp-service')) return undefined;
  throw new IpvsadmParseError('no service (-t, -u or -f)', lineNo, text);
}

interface MutableEntry {
  service: VirtualService;
  destinations: Map<string, ActualDestination>;
}

/** `ipvsadm -S -n` → services and destinations (thresholds 0, connection counts 0). */
export function parseRules(text: string): Map<string, MutableEntry> {
  const services = new Map<string, MutableEntry>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const lineNo = i + 1;
    const r = tokenizeRule(line, lineNo);
    const svc = ruleService(r, lineNo, line);
    if (!svc) return;
    const key = serviceKey(svc);
    if (r.command === '-A') {
      const persistence = r.opts.get('-p');
      const netmask = r.opts.get('-M');
      const service: VirtualService = {
        ...svc,
        scheduler: r.opts.get('-s') ?? 'wlc',
        ...(persistence !== undefined ? { persistenceSec: int(persistence, 'persistence', lineNo, line) } : {}),
        ...(persistence !== undefined && netmask !== undefined ? { persistenceNetmask: netmask } : {}),
      };
      services.set(key, { service, destinations: new Map() });
      return;
    }
    if (r.command === '-a') {
      const entry = services.get(key);
      if (!entry) throw new IpvsadmParseError('destination before its service', lineNo, line);
      const endpoint = parseEndpoint(r.opts.get('-r') ?? '');
      if (!endpoint) throw new IpvsadmParseError('bad destination address', lineNo, line);
      let forward: Forward | undefined;
      for (const f of r.flags) forward ??= FORWARD_OF[f] ?? FORWARD_LONG[f];
      entry.destinations.set(endpointKey(endpoint), {
        endpoint, forward: forward ?? 'route', weight: int(r.opts.get('-w') ?? '1', 'weight', lineNo, line),
        upperThreshold: 0, lowerThreshold: 0, activeConns: 0, inactiveConns: 0,
      });
      return;
    }
    throw new IpvsadmParseError(`unexpected command ${r.command}`, lineNo, line);
  });
  return services;
}

/** One service or destination row of an `-Ln` listing, its trailing columns as numbers. */
export interface ListingRow {
  readonly service: ServiceId;
  readonly serviceKey: string;
  /** the destination's endpointKey; undefined on the service's own row */
  readonly dest?: string;
  readonly endpoint?: Endpoint;
  readonly numbers: readonly number[];
}

const PROTOCOLS: Record<string, IpvsProtocol | undefined> = { TCP: 'tcp', UDP: 'udp', FWM: 'fwmark', SCTP: undefined };

/**
 * `ipvsadm -Ln --exact [--thresholds|--stats|--rate]` → rows. `columns` is how many numbers
 * end each row that carries them (4 for --thresholds, 5 for --stats and --rate); service rows of
 * --thresholds carry none (they show scheduler and flags instead).
 */
export function parseListing(text: string, columns: number): ListingRow[] {
  const rows: ListingRow[] = [];
  let current: { service: ServiceId; key: string } | undefined;
  let skipping = false;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const lineNo = i + 1;
    if (line === '' || line.startsWith('IP Virtual Server') || line.startsWith('Prot ') || line === '-> RemoteAddress:Port'
      || line.startsWith('-> RemoteAddress:Port ')) return;
    const words = line.split(/\s+/);
    if (words[0] === '->') {
      if (skipping) return;
      if (current === undefined) throw new IpvsadmParseError('destination before its service', lineNo, line);
      const endpoint = parseEndpoint(words[1] ?? '');
      if (!endpoint) throw new IpvsadmParseError('bad destination address', lineNo, line);
      rows.push({
        service: current.service, serviceKey: current.key, dest: endpointKey(endpoint), endpoint,
        numbers: tailNumbers(words.slice(2), columns, lineNo, line),
      });
      return;
    }
    if (!((words[0] ?? '') in PROTOCOLS)) throw new IpvsadmParseError('unknown line', lineNo, line);
    const protocol = PROTOCOLS[words[0]!];
    skipping = protocol === undefined;
    if (!protocol) return;
    let service: ServiceId;
    let rest: string[];
    if (protocol === 'fwmark') {
      const ipv6 = words[2] === 'IPv6';
      service = { protocol, fwmark: int(words[1], 'fwmark', lineNo, line), ...(ipv6 ? { ipv6 } : {}) };
      rest = words.slice(ipv6 ? 3 : 2);
    } else {
      const endpoint = parseEndpoint(words[1] ?? '');
      if (!endpoint) throw new IpvsadmParseError('bad service address', lineNo, line);
      service = { protocol, endpoint };
      rest = words.slice(2);
    }
    current = { service, key: serviceKey(service) };
    const numeric = rest.length === columns && rest.every((w) => /^\d+$/.test(w));
    rows.push({ service, serviceKey: current.key, numbers: numeric ? rest.map(Number) : [] });
  });
  return rows;
}

function tailNumbers(words: readonly string[], columns: number, lineNo: number, line: string): number[] {
  const tail = words.slice(-columns);
  if (tail.length !== columns || !tail.every((w) => /^\d+$/.test(w))) throw new IpvsadmParseError(`expected ${columns} numbers`, lineNo, line);
  return tail.map(Number);
}

/** The table from `-S -n` and `-Ln --exact --thresholds` (read one after the other). */
export function parseTable(rulesText: string, thresholdsText: string): IpvsTable {
  const services = parseRules(rulesText);
  for (const row of parseListing(thresholdsText, 4)) {
    if (row.dest === undefined) continue;
    const entry = services.get(row.serviceKey);
    const d = entry?.destinations.get(row.dest);
    // changed by someone else between the two reads: the next pass sees it whole
    if (!entry || !d) continue;
    const [upper, lower, active, inactive] = row.numbers as [number, number, number, number];
    entry.destinations.set(row.dest, { ...d, upperThreshold: upper, lowerThreshold: lower, activeConns: active, inactiveConns: inactive });
  }
  return { services: services as ReadonlyMap<string, ServiceEntry> };
}

const counters = (n: readonly number[]): TrafficCounters => ({
  connections: n[0] ?? 0, packetsIn: n[1] ?? 0, packetsOut: n[2] ?? 0, bytesIn: n[3] ?? 0, bytesOut: n[4] ?? 0,
});

/** Traffic from `-Ln --exact --stats` and `-Ln --exact --rate` (read one after the other). */
export function parseStats(statsText: string, rateText: string): IpvsStats {
  const rates = new Map<string, readonly number[]>();
  for (const row of parseListing(rateText, 5)) rates.set(`${row.serviceKey}|${row.dest ?? ''}`, row.numbers);
  const out = new Map<string, ServiceStats & { destinations: Map<string, DestinationStats> }>();
  for (const row of parseListing(statsText, 5)) {
    // an entry added between the two reads has no rate yet: 0
    const rate = counters(rates.get(`${row.serviceKey}|${row.dest ?? ''}`) ?? []);
    if (row.dest === undefined) {
      out.set(row.serviceKey, { service: row.service, counters: counters(row.numbers), rates: rate, destinations: new Map() });
    } else if (row.endpoint) {
      out.get(row.serviceKey)?.destinations.set(row.dest, { endpoint: row.endpoint, counters: counters(row.numbers), rates: rate });
    }
  }
  return { services: out };
}
