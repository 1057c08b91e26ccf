/**
 * Config loading: YAML text → validated, inherited, defaulted `Config`, or a ConfigError that
 * holds every problem as FILE:LINE:COL. Services and realservers are validated one at a time
 * so that one bad entry does not hide the rule violations of the others.
 */
import { flatString } from '../core/flat-string.js';
import { BIG_CONFIG_CHARS, collectParseGarbage } from '../core/heap.js';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { KEEPALIVE_IDLE_MS } from '../../checks/http-connections.js';
import type { CheckSpec, CheckType } from '../../checks/types.js';
import { ConfigError, errorMessage, type ConfigProblem } from '../core/errors.js';
import { formatDuration } from './duration.js';
import { checkReferences, collectReferences, type ConfigReference, type ReferenceIo } from './references.js';
import {
  CHECK_TYPE_KEYS, CHECK_TYPES, COMMON_CHECK_KEYS, defaultsSchema, issueMessage, parseEndpoint,
  realserverSchema, serviceHeadSchema, show, topSchema,
  type ParsedEndpoint, type RawCheck, type RawDefaults, type RawServiceHead, type RawTop,
} from './schema.js';
import { ALERT_EVENT_TYPES } from './types.js';
import type {
  AlertConfig, ApiConfig, Config, Endpoint, FailoverConfig, ScheduleConfig, Forward, RealserverConfig, TrackConfig, ResolvedCheck, ServiceConfig, ServiceProtocol,
} from './types.js';

type Seg = string | number;
type Path = readonly Seg[];

/** Built-in defaults; the example config documents the same values. */
export const DEFAULTS = {
  apiListen: { host: '127.0.0.1', port: 9410 },
  apiSocket: '/run/lvsd/lvsd.sock',
  ipvsDriver: 'ipvsadm',
  resyncIntervalMs: 30_000,
  drainBeforeRemoveMs: 300_000,
  commandTimeoutMs: 10_000,
  stateDir: '/var/lib/lvsd',
  maxConcurrentProbes: 256,
  intervalMs: 5000,
  timeoutMs: 2000,
  rise: 2,
  fall: 3,
  onDown: 'quiescent',
  initialState: 'unknown',
  scheduler: 'wlc',
  forward: 'masq',
  weight: 1,
} as const;

/** `services[0].realservers[1].address` */
export function formatPath(path: Path): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

// ---------------------------------------------------------------------------------------------
// Locating paths in the YAML document

const keyText = (key: unknown): string => String(isScalar(key) ? key.value : key);
const startOf = (n: unknown): number | undefined => (isNode(n) && n.range ? n.range[0] : undefined);

/** Offset of the node at `path` (its key when `atKey`), or of the nearest ancestor that exists. */
function locate(doc: Document, path: Path, atKey: boolean): number {
  let node: unknown = doc.contents;
  let offset = startOf(node) ?? 0;
  for (const [i, seg] of path.entries()) {
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(seg));
      if (!pair) break;
      // Empty values (`check:`) have no useful position of their own: point at the key.
      const empty = !isNode(pair.value) || (isScalar(pair.value) && pair.value.value === null);
      if ((last && atKey) || empty) return startOf(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
    } else {
      break;
    }
    const start = startOf(node);
    if (start === undefined) break;
    offset = start;
  }
  return offset;
}

class Problems {
  private readonly list: ConfigProblem[] = [];
  private readonly seen = new Set<string>();
  private readonly file: string;
  private readonly lines: LineCounter;
  private readonly doc: Document;
  constructor(file: string, lines: LineCounter, doc: Document) {
    this.file = file;
    this.lines = lines;
    this.doc = doc;
  }

  get count(): number {
    return this.list.length;
  }

  /** Inherited values make the same problem come up once per realserver: keep the first. */
  add(offset: number, message: string): void {
    const { line, col } = this.lines.linePos(offset);
    this.addAt(line, col, message);
  }

  addAt(line: number, col: number, message: string): void {
    const key = `${line}:${col}:${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.list.push({ file: this.file, line, col, message });
  }

  /** A problem about the value at `path` (or about the key itself when `atKey`). */
  at(path: Path, message: string, atKey = false): void {
    this.add(locate(this.doc, path, atKey), path.length > 0 ? `${formatPath(path)}: ${message}` : message);
  }

  sorted(): ConfigProblem[] {
    return [...this.list].sort((a, b) => a.line - b.line || a.col - b.col);
  }
}

// ---------------------------------------------------------------------------------------------
// YAML

/** Duplicate keys with their path (yaml's own DUPLICATE_KEY error carries none). */
function findDuplicateKeys(node: unknown, path: Path, problems: Problems, lines: LineCounter): void {
  if (isMap(node)) {
    const first = new Map<string, number>();
    for (const pair of node.items) {
      const name = keyText(pair.key);
      const at = startOf(pair.key) ?? 0;
      const prev = first.get(name);
      if (prev === undefined) first.set(name, at);
      else problems.add(at, `${formatPath([...path, name])}: duplicate key (first at line ${lines.linePos(prev).line})`);
      findDuplicateKeys(pair.value, [...path, name], problems, lines);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => findDuplicateKeys(item, [...path, i], problems, lines));
  }
}

/** Reports YAML errors and warnings; false when the text is too broken to validate further. */
function yamlUsable(doc: Document, problems: Problems, lines: LineCounter): boolean {
  findDuplicateKeys(doc.contents, [], problems, lines);
  const dups = new Set(problems.sorted().map((p) => `${p.line}:${p.col}`));
  const strip = (m: string): string => m.replace(/ at line \d+, column \d+:[\s\S]*$/, '');
  let usable = true;
  for (const e of [...doc.errors, ...doc.warnings]) {
    const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
    if (e.code === 'DUPLICATE_KEY' && dups.has(`${pos.line}:${pos.col}`)) continue;
    // A duplicate key leaves a well-formed document (the last value wins), so validation goes on.
    if (e.code !== 'DUPLICATE_KEY') usable = false;
    problems.addAt(pos.line, pos.col, `YAML: ${strip(e.message)}`);
  }
  return usable;
}

// ---------------------------------------------------------------------------------------------
// Schema parts

/** Known keys of the object schema at `path` inside `schema`, for "did you mean". */
function keysAt(schema: z.ZodType, path: Path): string[] {
  let s: z.ZodType = schema;
  for (const seg of [...path, undefined]) {
    while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
    if (seg === undefined) break;
    if (s instanceof z.ZodObject && typeof seg === 'string') {
      const next = (s.shape as Record<string, z.ZodType | undefined>)[seg];
      if (!next) return [];
      s = next;
    } else if (s instanceof z.ZodArray && typeof seg === 'number') {
      s = s.element as z.ZodType;
    } else {
      return [];
    }
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

function unknownKey(key: string, known: readonly string[]): string {
  const best = known
    .map((k) => ({ k, d: editDistance(key.toLowerCase(), k) }))
    .sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(1, Math.floor(key.length / 3)) ? `unknown key (did you mean "${best.k}"?)` : 'unknown key';
}

/**
 * A parsed part of the file. `broken` names its keys that had problems; they are left out of
 * `data`, which is why even required keys may be missing from it.
 */
interface Part<T> {
  readonly data: Partial<T>;
  readonly broken: ReadonlySet<string>;
}

/**
 * safeParse one part of the file, reporting its issues at their YAML location (unless
 * `problems` is undefined). When only some keys are wrong, the part is parsed again without
 * them (and with every key optional), so the rules across fields still run on the rest and
 * every problem shows at once.
 */
function parsePart<S extends z.ZodObject>(
  schema: S, value: unknown, path: Path, problems: Problems | undefined, alsoKnown: readonly string[] = [],
): Part<z.output<S>> | undefined {
  const r = schema.safeParse(value, { error: issueMessage });
  if (r.success) return { data: r.data, broken: new Set() };
  const broken = new Set<string>();
  for (const issue of r.error.issues) {
    const sub = issue.path.filter((s): s is Seg => typeof s === 'string' || typeof s === 'number');
    if (issue.code === 'unrecognized_keys') {
      const known = [...keysAt(schema, sub), ...(sub.length === 0 ? alsoKnown : [])];
      for (const k of issue.keys) problems?.at([...path, ...sub, k], unknownKey(k, known), true);
      for (const k of sub.length === 0 ? issue.keys : [String(sub[0])]) broken.add(k);
    } else {
      problems?.at([...path, ...sub], issue.message);
      if (sub[0] !== undefined) broken.add(String(sub[0]));
    }
  }
  if (!isRecord(value)) return undefined;
  const retry = schema.partial().safeParse(without(value, [...broken]));
  return retry.success ? { data: retry.data as Partial<z.output<S>>, broken } : undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function without(obj: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => !keys.includes(k)));
}

// ---------------------------------------------------------------------------------------------
// Checks: inheritance and resolution

/** One level of check keys and where it sits in the file. Rank: defaults 0, service 1, realserver 2. */
interface Layer {
  readonly check: RawCheck;
  readonly path: Path;
  readonly rank: number;
}

const defaultCheckType = (protocol: ServiceProtocol): CheckType => (protocol === 'tcp' ? 'tcp' : 'icmp');
const NEEDS_PORT: ReadonlySet<CheckType> = new Set(['tcp', 'http', 'https', 'banner']);

function checkKeysFit(layer: Layer, type: CheckType, problems: Problems): void {
  const own = CHECK_TYPE_KEYS[type];
  for (const key of Object.keys(layer.check)) {
    if ((COMMON_CHECK_KEYS as readonly string[]).includes(key) || own.includes(key)) continue;
    const takers = CHECK_TYPES.filter((t) => CHECK_TYPE_KEYS[t].includes(key));
    problems.at([...layer.path, key], `does not apply to check type ${type} (only to ${takers.join(', ')})`, true);
  }
}

function specFor(type: CheckType, v: RawCheck, freshByDefault: boolean): CheckSpec {
  switch (type) {
    case 'icmp':
      return { type, count: v.count ?? 1 };
    case 'tcp':
      return { type };
    case 'http':
    case 'https':
      return {
        type,
        path: v.path ?? '/',
        method: v.method ?? 'GET',
        expectStatus: v.expect_status ?? [200],
        tlsVerify: v.tls_verify ?? true,
        freshConnection: v.fresh_connection ?? freshByDefault,
        ...(v.host !== undefined ? { host: v.host } : {}),
        ...(v.expect_body !== undefined ? { expectBody: v.expect_body } : {}),
        ...(v.sni !== undefined ? { sni: v.sni } : {}),
      };
    case 'banner':
      return {
        type,
        ...(v.send !== undefined ? { send: v.send } : {}),
        ...(v.expect !== undefined ? { expect: v.expect } : {}),
      };
    case 'exec':
      return { type, command: v.command ?? [] };
  }
}

/**
 * Merges the layers (later wins), applies `defaults` and the built-in values, and reports the
 * rules that need the merged view. `port` is the realserver's port (0 when it has none).
 */
function resolveCheck(type: CheckType, layers: readonly Layer[], defaults: Part<RawDefaults>, port: number, problems: Problems): ResolvedCheck {
  const v: RawCheck = Object.assign({}, ...layers.map((l) => l.check)) as RawCheck;
  const d = defaults.data;
  /** where a timing value came from: the most specific layer that set it, else defaults */
  const origin = (key: 'interval' | 'timeout'): { path: Path; rank: number } => {
    const layer = [...layers].reverse().find((l) => l.check[key] !== undefined);
    if (layer) return { path: [...layer.path, key], rank: layer.rank };
    return { path: ['defaults', key], rank: d[key] !== undefined ? 0 : -1 };
  };
  const intervalMs = v.interval ?? d.interval ?? DEFAULTS.intervalMs;
  const timeoutMs = v.timeout ?? d.timeout ?? DEFAULTS.timeoutMs;
  // A broken default is already reported; comparing against the built-in instead would mislead.
  const timingKnown = (['interval', 'timeout'] as const).every((k) => v[k] !== undefined || !defaults.broken.has(k));
  // The rule only binds interval scheduling; a cron schedule has no interval to exceed.
  if (timingKnown && v.schedule === undefined && timeoutMs > intervalMs) {
    const t = origin('timeout');
    const i = origin('interval');
    problems.at(t.rank >= i.rank ? t.path : i.path,
      `timeout (${formatDuration(timeoutMs)}) must not exceed interval (${formatDuration(intervalMs)})`);
  }
  if (type === 'exec' && v.command === undefined) {
    const typed = [...layers].reverse().find((l) => l.check.type !== undefined);
    if (typed) problems.at([...typed.path, 'type'], 'check type exec needs "command"');
  }
  // keep-alive only pays when the next check comes before an idle connection would be closed;
  // further apart, a kept connection would just hold a descriptor (50k realservers: 50k of them)
  const freshByDefault = v.schedule !== undefined || intervalMs > KEEPALIVE_IDLE_MS;
  return {
    ...specFor(type, v, freshByDefault),
    intervalMs,
    timeoutMs,
    rise: v.rise ?? d.rise ?? DEFAULTS.rise,
    fall: v.fall ?? d.fall ?? DEFAULTS.fall,
    fastIntervalMs: v.fast_interval ?? d.fast_interval ?? intervalMs,
    downIntervalMs: v.down_interval ?? d.down_interval ?? intervalMs,
    ...(v.schedule !== undefined ? { schedule: v.schedule.trim() } : {}),
    port: v.port ?? port,
  };
}

// ---------------------------------------------------------------------------------------------
// Services and realservers

const endpointOf = (e: ParsedEndpoint, port: number): Endpoint => ({ host: e.host, port: e.port ?? port });
/** flat: realserver ids live as long as the config (core/flat-string.ts) */
const idOf = (e: Endpoint): string => flatString(e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`);

/** The service's check as realservers inherit it. */
interface ServiceCheck {
  readonly type: CheckType;
  readonly layers: readonly Layer[];
  readonly defaults: Part<RawDefaults>;
  /** resolved checks of realservers without one of their own, per port: shared, immutable */
  readonly inherited: Map<number, ResolvedCheck>;
}

function serviceRules(head: Part<RawServiceHead>, path: Path, problems: Problems): void {
  const h = head.data;
  const known = (...keys: string[]): boolean => keys.every((k) => !head.broken.has(k));
  const protocol = h.protocol ?? 'tcp';
  if (known('protocol', 'address', 'fwmark')) {
    if (protocol === 'fwmark') {
      if (h.address !== undefined) problems.at([...path, 'address'], 'not allowed with protocol fwmark (the mark selects the traffic)', true);
      if (h.fwmark === undefined) problems.at([...path, 'fwmark'], 'missing required key (protocol is fwmark)');
    } else {
      if (h.address === undefined) problems.at([...path, 'address'], `missing required key (protocol is ${protocol})`);
      if (h.fwmark !== undefined) problems.at([...path, 'fwmark'], 'only allowed with protocol fwmark', true);
    }
  }
  if (h.persistence_netmask !== undefined && known('persistence', 'address')) {
    if (h.persistence === undefined) problems.at([...path, 'persistence_netmask'], 'needs persistence', true);
    else if (h.address?.family === 6) problems.at([...path, 'persistence_netmask'], 'only applies to IPv4 services', true);
  }
}

interface FamilySeen {
  first?: { readonly family: 4 | 6; readonly where: string };
}

/**
 * What the kernel would silently change or refuse: DR and TUN send to the service's own port
 * (ipvsadm rewrites any other), NAT and DR cannot cross address families (only TUN can), and a
 * fwmark service has one family for all its realservers.
 */
function forwardRules(
  rs: ParsedEndpoint, forward: Forward, protocol: ServiceProtocol, vip: ParsedEndpoint | undefined, families: FamilySeen,
  path: Path, problems: Problems,
): void {
  const name = forward === 'route' ? 'route (DR)' : forward === 'tunnel' ? 'tunnel (TUN)' : 'masq (NAT)';
  if (protocol !== 'fwmark' && vip !== undefined) {
    if (forward !== 'masq' && rs.port !== undefined && vip.port !== undefined && rs.port !== vip.port) {
      problems.at(path, `forward ${name} keeps the service port ${vip.port}: the kernel would ignore port ${rs.port}; omit the port or use forward: masq`);
    }
    if (forward !== 'tunnel' && rs.family !== vip.family) {
      problems.at(path, `an IPv${rs.family} realserver in an IPv${vip.family} service needs forward: tunnel (${name} cannot cross address families)`);
    }
    return;
  }
  if (protocol === 'fwmark') {
    const where = formatPath(path);
    if (!families.first) families.first = { family: rs.family, where };
    else if (families.first.family !== rs.family) {
      problems.at(path, `IPv${rs.family} here but IPv${families.first.family} at ${families.first.where}: a fwmark service has one address family`);
    }
  }
}

/**
 * A realserver's check: merged over the service's, or fresh when it names another type.
 * `port` is undefined when the address was invalid (already reported).
 */
function realserverCheck(svc: ServiceCheck, own: RawCheck | undefined, path: Path, port: number | undefined, problems: Problems): ResolvedCheck {
  let type = svc.type;
  let layers = svc.layers;
  if (own !== undefined) {
    const layer: Layer = { check: own, path: [...path, 'check'], rank: 2 };
    // A different type starts over from defaults: the service's http keys mean nothing to icmp.
    if (own.type !== undefined && own.type !== svc.type) {
      type = own.type;
      layers = [layer];
    } else {
      layers = [...svc.layers, layer];
    }
    checkKeysFit(layer, type, problems);
  }
  let check: ResolvedCheck;
  if (own === undefined) {
    // realservers that inherit the service's check share one resolved (immutable) object per
    // port: at 50,000 realservers this is most of the parse time and memory a check costs
    const cached = svc.inherited.get(port ?? 0);
    check = cached ?? resolveCheck(type, layers, svc.defaults, port ?? 0, problems);
    if (!cached) svc.inherited.set(port ?? 0, check);
  } else {
    check = resolveCheck(type, layers, svc.defaults, port ?? 0, problems);
  }
  if (port !== undefined && check.port === 0 && NEEDS_PORT.has(type)) {
    problems.at([...path, 'address'], `check type ${type} needs a port: give the realserver one ("ip:port") or set check.port`);
  }
  return check;
}

/** Validates one service entry; returns its resolved form when it had no problem of its own. */
function resolveService(raw: unknown, path: Path, defaults: Part<RawDefaults> | undefined, problems: Problems): ServiceConfig | undefined {
  if (!isRecord(raw)) {
    problems.at(path, `expected a mapping, got ${show(raw)}`);
    return undefined;
  }
  const before = problems.count;
  const head = parsePart(serviceHeadSchema, without(raw, ['realservers']), path, problems, ['realservers']);
  const rawList = raw.realservers ?? [];
  if (!Array.isArray(rawList)) problems.at([...path, 'realservers'], `expected a list, got ${show(rawList)}`);
  const list: unknown[] = Array.isArray(rawList) ? rawList : [];
  const parts = list.map((rs, j) => parsePart(realserverSchema, rs, [...path, 'realservers', j], problems));
  if (!head || !defaults) return undefined;

  const h = head.data;
  const known = (...keys: string[]): boolean => keys.every((k) => !head.broken.has(k));
  serviceRules(head, path, problems);
  const protocol = h.protocol ?? 'tcp';
  // Without a valid address the realservers' ports (and so their ids) are unknown.
  const port = !known('protocol', 'address') ? undefined : protocol === 'fwmark' ? 0 : h.address?.port ?? 0;
  let svcCheck: ServiceCheck | undefined;
  if (known('protocol', 'check')) {
    const layer: Layer | undefined = h.check && { check: h.check, path: [...path, 'check'], rank: 1 };
    svcCheck = { type: h.check?.type ?? defaultCheckType(protocol), layers: layer ? [layer] : [], defaults, inherited: new Map() };
    if (layer) checkKeysFit(layer, svcCheck.type, problems);
    // Resolved once on its own so its problems show even with no realservers.
    resolveCheck(svcCheck.type, svcCheck.layers, defaults, port ?? 0, problems);
  }

  const seen = new Map<string, number>();
  const realservers: RealserverConfig[] = [];
  /** fwmark services: the address family of the first realserver (or sorry server) seen, and where */
  const families: FamilySeen = {};
  if (h.sorry_server !== undefined && known('sorry_server', 'address', 'forward')) {
    forwardRules(h.sorry_server, h.forward ?? DEFAULTS.forward, protocol, h.address, families, [...path, 'sorry_server'], problems);
  }
  parts.forEach((part, j) => {
    if (!part) return;
    const rs = part.data;
    const rsPath = [...path, 'realservers', j];
    if (rs.upper_threshold !== undefined && rs.lower_threshold !== undefined && rs.lower_threshold > rs.upper_threshold) {
      problems.at([...rsPath, 'lower_threshold'], `lower_threshold (${rs.lower_threshold}) must not exceed upper_threshold (${rs.upper_threshold})`);
    }
    const endpoint = port !== undefined && rs.address !== undefined ? endpointOf(rs.address, port) : undefined;
    const id = endpoint && idOf(endpoint);
    if (rs.address !== undefined && known('address', 'forward') && !part.broken.has('forward')) {
      forwardRules(rs.address, rs.forward ?? h.forward ?? DEFAULTS.forward, protocol, h.address, families, [...rsPath, 'address'], problems);
    }
    if (id !== undefined) {
      const prev = seen.get(id);
      if (prev !== undefined) problems.at([...rsPath, 'address'], `duplicate realserver ${id} (also realservers[${prev}])`);
      else seen.set(id, j);
    }
    if (!svcCheck || part.broken.has('check')) return;
    const check = realserverCheck(svcCheck, rs.check, rsPath, endpoint?.port, problems);
    if (!endpoint || id === undefined) return;
    realservers.push({
      endpoint,
      id,
      weight: rs.weight ?? DEFAULTS.weight,
      forward: rs.forward ?? h.forward ?? DEFAULTS.forward,
      ...(rs.upper_threshold !== undefined ? { upperThreshold: rs.upper_threshold } : {}),
      ...(rs.lower_threshold !== undefined ? { lowerThreshold: rs.lower_threshold } : {}),
      onDown: rs.on_down ?? h.on_down ?? defaults.data.on_down ?? DEFAULTS.onDown,
      initialState: rs.initial_state ?? h.initial_state ?? defaults.data.initial_state ?? DEFAULTS.initialState,
      check,
    });
  });
  if (problems.count !== before || port === undefined || h.name === undefined) return undefined;
  return {
    name: h.name,
    protocol,
    ...(h.address !== undefined && protocol !== 'fwmark' ? { endpoint: endpointOf(h.address, 0) } : {}),
    ...(h.fwmark !== undefined && protocol === 'fwmark' ? { fwmark: h.fwmark } : {}),
    scheduler: h.scheduler ?? DEFAULTS.scheduler,
    ...(h.persistence !== undefined ? { persistenceMs: h.persistence } : {}),
    ...(h.persistence_netmask !== undefined ? { persistenceNetmask: h.persistence_netmask } : {}),
    forward: h.forward ?? DEFAULTS.forward,
    ...(h.sorry_server !== undefined ? { sorryServer: endpointOf(h.sorry_server, port) } : {}),
    slowStartMs: h.slow_start ?? 0,
    realservers,
  };
}

/**
 * Two services may not share a name, nor a virtual address (or fwmark). Read from the raw
 * entries, so a service with some other mistake still takes part.
 */
function crossServiceRules(raws: readonly unknown[], problems: Problems): void {
  const names = new Map<string, number>();
  const vips = new Map<string, number>();
  raws.forEach((raw, i) => {
    if (!isRecord(raw)) return;
    if (typeof raw.name === 'string') {
      const prev = names.get(raw.name);
      if (prev !== undefined) problems.at(['services', i, 'name'], `duplicate service name "${raw.name}" (also services[${prev}])`);
      else names.set(raw.name, i);
    }
    const protocol = raw.protocol === 'udp' || raw.protocol === 'fwmark' ? raw.protocol : 'tcp';
    let vip: { key: string; text: string } | undefined;
    if (protocol === 'fwmark') {
      if (typeof raw.fwmark === 'number') vip = { key: 'fwmark', text: `fwmark ${raw.fwmark}` };
    } else if (typeof raw.address === 'string') {
      const e = parseEndpoint(raw.address, true);
      if (!('error' in e)) vip = { key: 'address', text: `${protocol} ${idOf(endpointOf(e, 0))}` };
    }
    if (!vip) return;
    const prev = vips.get(vip.text);
    if (prev !== undefined) problems.at(['services', i, vip.key], `${vip.text} is already used by services[${prev}]`);
    else vips.set(vip.text, i);
  });
}

// ---------------------------------------------------------------------------------------------
// Entry points

function apiConfig(api: NonNullable<RawTop['api']>): ApiConfig {
  return {
    listen: api.listen === false ? null : api.listen !== undefined ? endpointOf(api.listen, 0) : DEFAULTS.apiListen,
    socket: api.socket === false ? null : api.socket ?? DEFAULTS.apiSocket,
    ...(api.token_file !== undefined ? { tokenFile: api.token_file } : {}),
  };
}

/**
 * Validates and resolves a config text. `file` is only used in messages.
 * Throws ConfigError listing every problem found, sorted by position.
 */
export function parseConfig(text: string, file: string): Config {
  return parseConfigText(text, file).config;
}

/** A reference to a file or program with where the config names it. */
export interface LocatedReference extends ConfigReference {
  readonly line: number;
  readonly col: number;
}

/** parseConfig, and the files and programs the config names (for checkConfigReferences) */
export function parseConfigText(text: string, file: string): { config: Config; references: LocatedReference[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true, strict: true, merge: true });
  if (text.length >= BIG_CONFIG_CHARS) collectParseGarbage();
  const problems = new Problems(file, lines, doc);
  if (!yamlUsable(doc, problems, lines)) throw new ConfigError(problems.sorted());

  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (e) {
    // yaml refuses alias bombs ("Excessive alias count") here rather than while parsing.
    problems.addAt(1, 1, `YAML: ${errorMessage(e)}`);
    throw new ConfigError(problems.sorted());
  }
  if (!isRecord(raw)) {
    problems.at([], `the config must be a mapping, got ${show(raw)}`);
    throw new ConfigError(problems.sorted());
  }
  const top = parsePart(topSchema, without(raw, ['services']), [], problems, ['services']);
  // Parsed again quietly (topSchema reported its problems) to hand the services what is valid.
  const defaults = parsePart(defaultsSchema, raw.defaults ?? {}, ['defaults'], undefined);

  const services: ServiceConfig[] = [];
  if (raw.services === undefined) problems.at(['services'], 'missing required key');
  else if (!Array.isArray(raw.services)) problems.at(['services'], `expected a list, got ${show(raw.services)}`);
  else {
    raw.services.forEach((s: unknown, i) => {
      const svc = resolveService(s, ['services', i], defaults, problems);
      if (svc) services.push(svc);
    });
    crossServiceRules(raw.services, problems);
  }
  const failover = top?.data.failover && failoverConfig(top.data.failover, services, problems);
  const alerts = alertsConfig(top?.data.alerts ?? [], services, problems);
  const schedules = schedulesConfig(top?.data.schedules ?? [], services, problems);
  if (problems.count > 0 || !top) throw new ConfigError(problems.sorted());
  const t = top.data;
  const references = collectReferences(raw).map((r) => ({ ...r, ...lines.linePos(locate(doc, r.path, false)) }));
  const config: Config = {
    file,
    node: { name: t.node?.name ?? hostname() },
    api: apiConfig(t.api ?? {}),
    ipvs: {
      driver: t.ipvs?.driver ?? DEFAULTS.ipvsDriver,
      resyncIntervalMs: t.ipvs?.resync_interval ?? DEFAULTS.resyncIntervalMs,
      drainBeforeRemoveMs: t.ipvs?.drain_before_remove ?? DEFAULTS.drainBeforeRemoveMs,
      cleanupOnExit: t.ipvs?.cleanup_on_exit ?? false,
      commandTimeoutMs: t.ipvs?.command_timeout ?? DEFAULTS.commandTimeoutMs,
    },
    stateDir: t.state_dir ?? DEFAULTS.stateDir,
    maxConcurrentProbes: t.max_concurrent_probes ?? DEFAULTS.maxConcurrentProbes,
    services,
    ...(failover ? { failover } : {}),
    alerts,
    schedules,
  };
  return { config, references };
}

/** alerts: one target each, unique names, selectors that name what the config has. */
function alertsConfig(list: NonNullable<RawTop['alerts']>, services: readonly ServiceConfig[], problems: Problems): AlertConfig[] {
  const out: AlertConfig[] = [];
  const seen = new Set<string>();
  const serviceNames = new Set(services.map((s) => s.name));
  const realserverIds = new Set(services.flatMap((s) => s.realservers.map((r) => r.id)));
  list.forEach((a, i) => {
    const at = (key?: string): Path => (key ? ['alerts', i, key] : ['alerts', i]);
    const before = problems.count;
    if (seen.has(a.name)) problems.at(at('name'), `duplicate alert name ${JSON.stringify(a.name)}`);
    seen.add(a.name);
    if ((a.webhook === undefined) === (a.exec === undefined)) problems.at(at(), 'give exactly one of webhook or exec');
    if (a.format !== undefined && a.webhook === undefined) problems.at(at('format'), 'only applies to webhook');
    if (a.webhook?.secret_file !== undefined && (a.format ?? 'generic') !== 'generic') problems.at(['alerts', i, 'webhook', 'secret_file'], 'only the generic format is signed');
    (a.services ?? []).forEach((name, j) => {
      if (!serviceNames.has(name)) problems.at(['alerts', i, 'services', j], `no service named ${JSON.stringify(name)}`);
    });
    (a.realservers ?? []).forEach((id, j) => {
      if (!realserverIds.has(id)) problems.at(['alerts', i, 'realservers', j], `no realserver ${JSON.stringify(id)} in any service`);
    });
    const retryInitialMs = a.retry_initial ?? 1000;
    const retryMaxMs = a.retry_max ?? 300_000;
    if (retryMaxMs < retryInitialMs) problems.at(at('retry_max'), `must not be shorter than retry_initial (${formatDuration(retryInitialMs)})`);
    if (problems.count !== before) return;
    out.push({
      name: a.name,
      target: a.webhook
        ? { kind: 'webhook', url: a.webhook.url, format: a.format ?? 'generic', ...(a.webhook.secret_file ? { secretFile: a.webhook.secret_file } : {}) }
        : { kind: 'exec', command: a.exec! },
      on: new Set(a.on ?? ALERT_EVENT_TYPES),
      ...(a.services ? { services: new Set(a.services) } : {}),
      ...(a.realservers ? { realservers: new Set(a.realservers) } : {}),
      after: a.after ?? 1,
      everyMs: a.every ?? 0,
      ...(a.period ? { period: a.period } : {}),
      outsidePeriod: a.outside_period ?? 'wait',
      queueMax: a.queue_max ?? 1000,
      timeoutMs: a.timeout ?? 10_000,
      retryInitialMs,
      retryMaxMs,
    });
  });
  return out;
}

/** schedules: a drain names a realserver of the service it names. */
function schedulesConfig(list: NonNullable<RawTop['schedules']>, services: readonly ServiceConfig[], problems: Problems): ScheduleConfig[] {
  const out: ScheduleConfig[] = [];
  list.forEach((sc, i) => {
    const svc = services.find((s) => s.name === sc.drain.service);
    if (!svc) {
      problems.at(['schedules', i, 'drain', 'service'], `no service named ${JSON.stringify(sc.drain.service)}`);
      return;
    }
    if (!svc.realservers.some((r) => r.id === sc.drain.realserver)) {
      problems.at(['schedules', i, 'drain', 'realserver'], `service ${svc.name} has no realserver ${JSON.stringify(sc.drain.realserver)}`);
      return;
    }
    out.push({ cron: sc.cron, drain: { service: sc.drain.service, realserver: sc.drain.realserver, forMs: sc.drain.for } });
  });
  return out;
}

/** failover: the rules that need more than one key (interval per version, tracked services). */
function failoverConfig(f: NonNullable<RawTop['failover']>, services: readonly ServiceConfig[], problems: Problems): FailoverConfig | undefined {
  const before = problems.count;
  const version = f.version ?? 3;
  const interval = f.advert_interval ?? 1000;
  if (version === 2 && (interval % 1000 !== 0 || interval > 255_000)) {
    problems.at(['failover', 'advert_interval'], `VRRP version 2 carries whole seconds (1s..255s), got ${formatDuration(interval)}`);
  }
  if (version === 3 && (interval % 10 !== 0 || interval > 40_950)) {
    problems.at(['failover', 'advert_interval'], `VRRP version 3 carries 10 ms steps (10ms..40.95s), got ${formatDuration(interval)}`);
  }
  const names = new Set(services.map((s) => s.name));
  const track: TrackConfig[] = [];
  (f.track ?? []).forEach((t, i) => {
    const kinds = (['service', 'interface', 'exec'] as const).filter((k) => t[k] !== undefined);
    if (kinds.length !== 1) {
      problems.at(['failover', 'track', i], `give exactly one of service, interface or exec${kinds.length > 1 ? ` (got ${kinds.join(' and ')})` : ''}`);
      return;
    }
    if ((t.interval !== undefined || t.timeout !== undefined) && t.exec === undefined) {
      problems.at(['failover', 'track', i, t.interval !== undefined ? 'interval' : 'timeout'], 'only applies to exec');
      return;
    }
    if (t.service !== undefined) {
      if (!names.has(t.service)) problems.at(['failover', 'track', i, 'service'], `no service named ${JSON.stringify(t.service)}`);
      else track.push({ kind: 'service', service: t.service, weight: t.weight });
    } else if (t.interface !== undefined) {
      track.push({ kind: 'interface', interface: t.interface, weight: t.weight });
    } else if (t.exec !== undefined) {
      const intervalMs = t.interval ?? 2000;
      const timeoutMs = t.timeout ?? 1000;
      if (timeoutMs > intervalMs) problems.at(['failover', 'track', i, 'timeout'], `timeout (${formatDuration(timeoutMs)}) must not exceed interval (${formatDuration(intervalMs)})`);
      else track.push({ kind: 'exec', command: t.exec, intervalMs, timeoutMs, weight: t.weight });
    }
  });
  if (problems.count !== before) return undefined;
  return {
    interface: f.interface,
    vrid: f.virtual_router_id,
    priority: f.priority ?? 100,
    advertIntervalMs: interval,
    version,
    preempt: f.preempt ?? true,
    preemptDelayMs: f.preempt_delay ?? 0,
    unicastPeers: f.unicast_peers ?? [],
    virtualAddresses: f.virtual_addresses,
    garpRepeatDelayMs: f.garp_repeat_delay ?? 5000,
    track,
    ...(f.sync_daemon ? { syncDaemon: { interface: f.sync_daemon.interface, syncId: f.sync_daemon.syncid ?? f.virtual_router_id } } : {}),
    notify: {
      ...(f.notify?.master ? { master: f.notify.master } : {}),
      ...(f.notify?.backup ? { backup: f.notify.backup } : {}),
      ...(f.notify?.fault ? { fault: f.notify.fault } : {}),
      ...(f.notify?.stop ? { stop: f.notify.stop } : {}),
      ...(f.notify?.all ? { all: f.notify.all } : {}),
      timeoutMs: f.notify?.timeout ?? 10_000,
    },
  };
}

/** The problems of the files and programs a parsed config names, at FILE:LINE:COL. */
export async function checkConfigReferences(file: string, references: readonly LocatedReference[], io: ReferenceIo): Promise<ConfigProblem[]> {
  const found = await checkReferences(references, io);
  return found
    .map(({ ref, message }) => ({ file, line: ref.line, col: ref.col, message: `${formatPath(ref.path)}: ${message}` }))
    .sort((a, b) => a.line - b.line || a.col - b.col);
}

export interface LoadOptions {
  /** check the files and programs the config names (default true; `lvsd validate --no-files` turns it off) */
  readonly checkFiles?: boolean;
  readonly io?: ReferenceIo;
}

/**
 * Reads, parses and checks a config file: the one path of `lvsd validate`, `lvsd run` and every
 * reload. An unreadable file is a ConfigError at FILE:1:1.
 */
export async function loadConfigFile(path: string, options: LoadOptions = {}): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError([{ file: path, line: 1, col: 1, message: `cannot read: ${errorMessage(e)}` }]);
  }
  const { config, references } = parseConfigText(text, path);
  if (options.checkFiles === false) return config;
  const problems = await checkConfigReferences(path, references, options.io ?? { env: process.env });
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
