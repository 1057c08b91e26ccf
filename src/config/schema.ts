/**
 * The zod schema of the config file as written: snake_case keys, strict objects, durations and
 * addresses still text on the input side. It checks shape and single values only; inheritance,
 * defaults and rules across fields live in load.ts. The same schema feeds
 * config/lvsd.schema.json (emit-schema.ts), so every field carries a description.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { validate as cronValidate, validateDetailed as cronValidateDetailed } from 'node-cron';
import { z } from 'zod';
import type { CheckType } from '../../checks/types.js';
import { ALERT_EVENT_TYPES, SCHEDULERS } from './types.js';
import { DURATION_EXPECTED, DURATION_PATTERN, formatDuration, tryParseDuration } from './duration.js';

export const CHECK_TYPES = ['icmp', 'tcp', 'http', 'https', 'banner', 'exec'] as const satisfies readonly CheckType[];
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'OPTIONS'] as const;

/** Keys every check type takes. */
export const COMMON_CHECK_KEYS = [
  'type', 'interval', 'schedule', 'timeout', 'rise', 'fall', 'fast_interval', 'down_interval', 'port',
] as const;
const HTTP_KEYS = ['path', 'method', 'host', 'expect_status', 'expect_body', 'tls_verify', 'sni', 'fresh_connection'] as const;
/** Keys that only some check types take. */
export const CHECK_TYPE_KEYS: Readonly<Record<CheckType, readonly string[]>> = {
  icmp: ['count'],
  tcp: [],
  http: HTTP_KEYS,
  https: HTTP_KEYS,
  banner: ['send', 'expect'],
  exec: ['command'],
};

const quote = (v: unknown): string => JSON.stringify(v) ?? String(v);

// ---------------------------------------------------------------------------------------------
// Single values

export interface ParsedEndpoint {
  /** the IP literal; IPv6 canonical (lower case, zeros compressed), without brackets */
  readonly host: string;
  /** absent when the text was a bare IP */
  readonly port?: number;
  readonly family: 4 | 6;
}

function parsePort(text: string, allowZero: boolean): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= (allowZero ? 0 : 1) && n <= 65535 ? n : undefined;
}

function badHost(host: string): string {
  // A name is refused outright: probes and ipvsadm want literals, and DNS must not decide the pool.
  const looksLikeName = /[a-z]/i.test(host) && !host.includes(':');
  return looksLikeName
    ? `invalid IP address ${quote(host)} (host names are not allowed)`
    : `invalid IP address ${quote(host)}`;
}

/** "ip", "ip:port", "v6", "[v6]" or "[v6]:port"; IP literals only (no zone ids, no names). */
export function parseEndpoint(text: string, needPort: boolean, allowPortZero = false): ParsedEndpoint | { readonly error: string } {
  let host: string;
  let portText: string | undefined;
  const bracket = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracket) {
    host = bracket[1] ?? '';
    portText = bracket[2];
    if (!isIPv6(host) || host.includes('%')) return { error: `invalid IPv6 address ${quote(host)}` };
  } else if (isIPv6(text) || text.includes('::') || text.split(':').length > 2) {
    // Unbracketed IPv6 is always a bare address: "2001:db8::1:80" cannot carry a port.
    if (!isIPv6(text) || text.includes('%')) return { error: badHost(text) };
    host = text;
  } else {
    const i = text.indexOf(':');
    host = i < 0 ? text : text.slice(0, i);
    portText = i < 0 ? undefined : text.slice(i + 1);
    if (!isIPv4(host)) return { error: badHost(host) };
  }
  const family = isIPv4(host) ? 4 : 6;
  // WHATWG URL parsing gives RFC 5952 form, so "2001:DB8:0::1" and "2001:db8::1" are one realserver.
  if (family === 6) host = host.includes('.') ? host.toLowerCase() : new URL(`http://[${host}]/`).hostname.slice(1, -1);
  if (portText === undefined) {
    if (needPort) return { error: `missing port in ${quote(text)} (expected "ip:port"; IPv6 as "[ip]:port")` };
    return { host, family };
  }
  const port = parsePort(portText, allowPortZero);
  if (port === undefined) return { error: `invalid port ${quote(portText)} (expected ${allowPortZero ? 0 : 1}..65535)` };
  return { host, port, family };
}

function endpoint(needPort: boolean, description: string, allowPortZero = false) {
  const expected = needPort ? 'expected "ip:port"' : 'expected "ip:port" or "ip"';
  return z
    .string({ error: (iss) => (iss.code === 'invalid_type' && iss.input !== undefined ? `${expected}, got ${show(iss.input)}` : undefined) })
    .transform((text, ctx): ParsedEndpoint => {
      const r = parseEndpoint(text, needPort, allowPortZero);
      if ('error' in r) {
        ctx.addIssue({ code: 'custom', message: r.error, input: text });
        return z.NEVER;
      }
      return r;
    })
    .describe(description);
}

interface DurationOptions {
  readonly minMs?: number;
  readonly wholeSeconds?: boolean;
}

/** A duration string, parsed to milliseconds on the output side. */
function duration(description: string, opts: DurationOptions = {}) {
  const minMs = opts.minMs ?? 1;
  return z
    .string({ error: (iss) => (iss.code === 'invalid_type' && iss.input !== undefined ? DURATION_EXPECTED : undefined) })
    .regex(new RegExp(DURATION_PATTERN), { error: (iss) => `invalid duration ${quote(iss.input)}; ${DURATION_EXPECTED}` })
    .transform((text, ctx): number => {
      const r = tryParseDuration(text);
      const message =
        'error' in r ? r.error
        : r.ms < minMs ? (minMs <= 1 ? 'must be longer than 0s' : `must be at least ${formatDuration(minMs)}`)
        : opts.wholeSeconds === true && r.ms % 1000 !== 0 ? 'must be a whole number of seconds'
        : undefined;
      if (message === undefined && 'ms' in r) return r.ms;
      ctx.addIssue({ code: 'custom', message: message ?? 'invalid duration', input: text });
      return z.NEVER;
    })
    .describe(description);
}

function regexSource(description: string) {
  return z
    .string()
    .superRefine((src, ctx) => {
      try {
        new RegExp(src);
      } catch (e) {
        // V8 says "Invalid regular expression: /(/: Unterminated group"; keep only the reason.
        const reason = e instanceof Error ? e.message.replace(/^.*: /, '') : 'does not compile';
        ctx.addIssue({ code: 'custom', message: `invalid regular expression ${quote(src)}: ${reason}`, input: src });
      }
    })
    .describe(description);
}

const CRON_FIELDS: Readonly<Record<string, string>> = {
  second: 'second', minute: 'minute', hour: 'hour', dayOfMonth: 'day-of-month', month: 'month', dayOfWeek: 'day-of-week',
};

/**
 * A cron expression as node-cron accepts it: `six` fields (seconds first: check schedules,
 * whose rhythm is seconds) or `fiveOrSix` (alert periods, scheduled drains).
 */
export function cronProblem(expr: string, fields: 'six' | 'fiveOrSix' = 'six'): string | undefined {
  const n = expr.trim().split(/\s+/).filter((f) => f !== '').length;
  if (fields === 'six' && n !== 6) return `cron schedule ${quote(expr)} needs 6 fields (seconds first, e.g. "*/10 * * * * *"), got ${n}`;
  if (fields === 'fiveOrSix' && n !== 5 && n !== 6) return `cron expression ${quote(expr)} needs 5 fields (or 6 with seconds), got ${n}`;
  if (cronValidate(expr)) return undefined;
  const first = cronValidateDetailed(expr).errors[0];
  const where = first ? ` (bad ${CRON_FIELDS[first.field] ?? first.field} field ${quote(first.value)})` : '';
  return `invalid cron ${fields === 'six' ? 'schedule' : 'expression'} ${quote(expr)}${where}`;
}

/** a string that must be a cron expression (the problem becomes the issue at its position) */
const cronString = (fields: 'six' | 'fiveOrSix') => z.string().superRefine((s, ctx) => {
  const p = cronProblem(s, fields);
  if (p !== undefined) ctx.addIssue({ code: 'custom', message: p, input: s });
});

function ipv4Netmask(text: string): boolean {
  if (!isIPv4(text)) return false;
  const n = text.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const inv = ~n >>> 0;
  return (inv & (inv + 1)) === 0; // ones then zeros only
}

const int = (min: number, max: number) => z.int().min(min).max(max);

function oneOf<T extends readonly [string, ...string[]]>(values: T, what: string) {
  return z.enum(values, {
    error: (iss) =>
      iss.code === 'invalid_value' ? `unknown ${what} ${quote(iss.input)}; expected one of ${values.join(', ')}` : undefined,
  });
}

/** For `X or false` fields: report the branch that got past the type check, else the fallback. */
function orFalse<T extends z.ZodType>(schema: T, fallback: string) {
  return z.union([z.literal(false), schema], {
    error: (iss) => {
      if (iss.code !== 'invalid_union') return undefined;
      for (const branch of iss.errors) {
        const deeper = branch.find((i) => i.path.length > 0 || (i.code !== 'invalid_type' && i.code !== 'invalid_value'));
        if (deeper) return deeper.message;
      }
      return `${fallback}, got ${show(iss.input)}`;
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Objects

const onDown = z.enum(['quiescent', 'remove']).describe('what happens to a DOWN realserver: quiescent (weight 0, connections drain) or remove (deleted from the IPVS table); default quiescent');
const initialState = z.enum(['unknown', 'up', 'down']).describe('state before the first checks decide; default unknown');
const forward = z.enum(['masq', 'route', 'tunnel']).describe('forwarding method: masq (NAT), route (DR), tunnel (TUN); default masq');

const timingShape = {
  interval: duration('time between checks; default 5s').optional(),
  timeout: duration('deadline of one check, at most the interval; default 2s').optional(),
  rise: int(1, 100).describe('consecutive successes that bring a realserver UP; default 2').optional(),
  fall: int(1, 100).describe('consecutive failures that take a realserver DOWN; default 3').optional(),
  fast_interval: duration('interval while a realserver is between states; default: interval').optional(),
  down_interval: duration('interval while a realserver is DOWN; default: interval').optional(),
};

/** text that goes into an HTTP request line or header as it is */
const NO_SPACE_OR_CONTROL = /^[^\s\x00-\x1f\x7f]*$/;

export const checkSchema = z
  .strictObject({
    type: oneOf(CHECK_TYPES, 'check type').describe('icmp | tcp | http | https | banner | exec; default tcp for tcp services, icmp for udp and fwmark').optional(),
    ...timingShape,
    schedule: cronString('six').describe('cron expression with a seconds field (6 fields); replaces interval scheduling').optional(),
    port: int(1, 65535).describe("probe this port instead of the realserver's").optional(),
    count: int(1, 10).describe('icmp: echo requests per check; default 1').optional(),
    path: z.string().regex(/^\//, { error: (iss) => `must start with "/", got ${quote(iss.input)}` })
      // it goes into the request line as it is: no spaces or control characters (percent-encode them)
      .regex(NO_SPACE_OR_CONTROL, { error: (iss) => `must not contain spaces or control characters (percent-encode them), got ${quote(iss.input)}` })
      .describe('http(s): request path; default "/"').optional(),
    method: oneOf(HTTP_METHODS, 'HTTP method').describe('http(s): GET | HEAD | POST | PUT | OPTIONS; default GET').optional(),
    host: z.string().min(1).regex(NO_SPACE_OR_CONTROL, { error: (iss) => `must not contain spaces or control characters, got ${quote(iss.input)}` })
      .describe('http(s): Host header; default the realserver address').optional(),
    expect_status: z.array(int(100, 599)).min(1).describe('http(s): accepted status codes; default [200]').optional(),
    expect_body: regexSource('http(s): regex the body must match').optional(),
    tls_verify: z.boolean().describe('https: verify the certificate chain and name; default true').optional(),
    sni: z.string().min(1).describe('https: TLS server name; default the Host, if it is a name').optional(),
    fresh_connection: z.boolean().describe('http(s): new connection for every check instead of keep-alive; default: true when the interval is over 4s (a kept connection would be idle-closed first) or a cron schedule is set, else false').optional(),
    send: z.string().describe('banner: string written right after connect').optional(),
    expect: regexSource('banner: regex the first bytes must match').optional(),
    command: z.array(z.string().min(1)).min(1).describe('exec: argv; {address} and {port} are substituted').optional(),
  })
  .describe('health check; keys not listed for the type are errors');

export const defaultsSchema = z
  .strictObject({
    ...timingShape,
    on_down: onDown.optional(),
    initial_state: initialState.optional(),
  })
  .describe('inherited by every check, service and realserver');

export const realserverSchema = z
  .strictObject({
    address: endpoint(false, '"ip:port", or "ip" for the service\'s port (fwmark services: port 0)'),
    weight: int(0, 65535).describe('IPVS weight; default 1').optional(),
    forward: forward.optional(),
    upper_threshold: int(0, 65535).describe('IPVS upper connection threshold (ipvsadm -x)').optional(),
    lower_threshold: int(0, 65535).describe('IPVS lower connection threshold (ipvsadm -y)').optional(),
    on_down: onDown.optional(),
    initial_state: initialState.optional(),
    check: checkSchema.optional(),
  })
  .describe('one realserver of a service');

/** Service keys except `realservers`, so load.ts can validate services and realservers apart. */
export const serviceHeadSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, {
      error: (iss) => `invalid service name ${quote(iss.input)}; use 1-63 letters, digits, "_", "." or "-", starting with a letter or digit`,
    })
    .describe('unique name, used in metrics, the API and the CLI'),
  protocol: z.enum(['tcp', 'udp', 'fwmark']).describe('tcp | udp | fwmark; default tcp').optional(),
  address: endpoint(true, 'virtual address "ip:port" (IPv6 "[ip]:port"); required for tcp and udp, not allowed for fwmark').optional(),
  fwmark: int(1, 4_294_967_295).describe('firewall mark; required with protocol fwmark').optional(),
  scheduler: oneOf(SCHEDULERS, 'scheduler').describe(`IPVS scheduler: ${SCHEDULERS.join(' ')}; default wlc`).optional(),
  persistence: duration('persistent connection timeout (whole seconds)', { minMs: 1000, wholeSeconds: true }).optional(),
  persistence_netmask: z
    .string()
    .refine(ipv4Netmask, { error: (iss) => `invalid netmask ${quote(iss.input)} (expected an IPv4 netmask such as 255.255.255.0)` })
    .describe('IPv4 netmask grouping clients for persistence; needs persistence')
    .optional(),
  forward: forward.optional(),
  sorry_server: endpoint(false, '"ip:port" or "ip" (the service port) used while no realserver is UP').optional(),
  slow_start: duration('ramp a realserver\'s weight up over this time after it comes UP; default 0s', { minMs: 0 }).optional(),
  on_down: onDown.optional(),
  initial_state: initialState.optional(),
  check: checkSchema.optional(),
});

export const serviceSchema = serviceHeadSchema
  .extend({ realservers: z.array(realserverSchema).describe('the pool; default empty').optional() })
  .describe('one IPVS virtual service');

function ipv4(description: string, withPrefix: boolean) {
  return z
    .string()
    .superRefine((text, ctx) => {
      const [addr, prefix, extra] = text.split('/');
      const badPrefix = prefix !== undefined && (!withPrefix || !/^\d{1,2}$/.test(prefix) || Number(prefix) > 32);
      if (!isIPv4(addr ?? '') || badPrefix || extra !== undefined) {
        ctx.addIssue({ code: 'custom', message: `invalid IPv4 address ${quote(text)}${withPrefix ? ' (expected "a.b.c.d" or "a.b.c.d/len")' : ''}`, input: text });
      }
    })
    .describe(description);
}

export const failoverSchema = z
  .strictObject({
    interface: z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, { error: (iss) => `invalid interface name ${quote(iss.input)}` })
      .describe('the interface VRRP runs on and the virtual addresses live on'),
    virtual_router_id: int(1, 255).describe('VRID, 1..255, the same on every director of the group'),
    priority: int(1, 255).describe('1..254, higher wins; 255 = the address owner; default 100').optional(),
    advert_interval: duration('time between adverts: whole seconds for version 2, 10 ms steps for version 3; default 1s', { minMs: 10 }).optional(),
    version: z.union([z.literal(2), z.literal(3)], { error: (iss) => `unknown VRRP version ${show(iss.input)}; expected 2 or 3` })
      .describe('VRRP version 2 (RFC 3768) or 3 (RFC 5798); default 3').optional(),
    preempt: z.boolean().describe('take over from a lower-priority master; default true').optional(),
    preempt_delay: duration('after start-up (or becoming backup), wait this long before preempting; default 0s', { minMs: 0 }).optional(),
    unicast_peers: z.array(ipv4('peer director address', false)).describe('send adverts to these peers instead of multicast 224.0.0.18').optional(),
    virtual_addresses: z.array(ipv4('virtual address', true)).min(1).describe('the VIPs, "a.b.c.d/len" (a bare address is /32)'),
    garp_repeat_delay: duration('gratuitous ARP again this long after becoming master; default 5s').optional(),
    track: z.array(z.strictObject({
      service: z.string().min(1).describe('a service name: while none of its realservers is UP, the weight applies').optional(),
      interface: z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, { error: (iss) => `invalid interface name ${quote(iss.input)}` })
        .describe('an interface: while it is down, the weight applies').optional(),
      exec: z.array(z.string().min(1)).min(1).describe('a command (argv) run every interval: while it fails (exit != 0 or timeout), the weight applies').optional(),
      interval: duration('exec: how often the command runs; default 2s').optional(),
      timeout: duration('exec: killed after this long (counts as failing); default 1s').optional(),
      weight: int(-254, 254).describe('added to the priority while the tracked thing is down (negative lowers it)'),
    })).describe('lower the priority while a tracked service has no UP realserver, an interface is down or a command fails').optional(),
    sync_daemon: z.strictObject({
      interface: z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, { error: (iss) => `invalid interface name ${quote(iss.input)}` })
        .describe('the interface the kernel sends and receives connection sync on'),
      syncid: int(0, 255).describe('sync id, the same on both directors; default the virtual_router_id').optional(),
    }).describe('run the kernel\'s IPVS connection sync daemon: master while MASTER, backup while BACKUP, so connections survive failover').optional(),
    notify: z.strictObject({
      master: z.array(z.string().min(1)).min(1).describe('argv run on becoming MASTER').optional(),
      backup: z.array(z.string().min(1)).min(1).describe('argv run on becoming BACKUP').optional(),
      fault: z.array(z.string().min(1)).min(1).describe('argv run on entering FAULT').optional(),
      stop: z.array(z.string().min(1)).min(1).describe('argv run when lvsd stops VRRP').optional(),
      all: z.array(z.string().min(1)).min(1)
        .describe('argv run on every change with keepalived\'s notify arguments appended: INSTANCE VI_<vrid> MASTER|BACKUP|FAULT|STOP <priority>').optional(),
      timeout: duration('a hook still running after this long is killed; default 10s').optional(),
    }).describe('exec hooks on VRRP state changes, run one at a time in order').optional(),
  })
  .describe('director failover with VRRP (keepalived-compatible)');

const argv = (what: string) => z.array(z.string().min(1)).min(1).describe(what);

export const alertSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, {
      error: (iss) => `invalid alert name ${quote(iss.input)}; use 1-63 letters, digits, "_", "." or "-", starting with a letter or digit`,
    }).describe('unique name: the `target` label of the alert metrics and the name of its queue file in state_dir'),
    webhook: z.strictObject({
      url: z.string().refine((u) => { try { return ['http:', 'https:'].includes(new URL(u).protocol); } catch { return false; } },
        { error: (iss) => `invalid URL ${quote(iss.input)} (expected http:// or https://)` }).describe('where alerts are POSTed'),
      secret_file: z.string().min(1).describe('generic format: file with the key of the x-lvsd-signature HMAC-SHA256 header').optional(),
    }).describe('send alerts to this URL').optional(),
    exec: argv('a command (argv) that gets each alert as JSON on stdin; exit 0 = delivered').optional(),
    format: z.enum(['generic', 'alertmanager', 'slack']).describe('webhook body: generic (JSON, signed) | alertmanager (API v2) | slack (incoming webhook); default generic').optional(),
    on: z.array(z.enum(ALERT_EVENT_TYPES, { error: (iss) => `unknown event ${quote(iss.input)}; expected one of ${ALERT_EVENT_TYPES.join(', ')}` }))
      .min(1).describe(`events to send: ${ALERT_EVENT_TYPES.join(', ')}; default all`).optional(),
    services: z.array(z.string().min(1)).min(1).describe('only events of these services (failover and reload events always pass)').optional(),
    realservers: z.array(z.string().min(1)).min(1).describe('only events of these realservers ("ip:port")').optional(),
    after: int(1, 1_000_000).describe('mon\'s alertafter: a down alert after this many consecutive failed probes; default 1').optional(),
    every: duration('mon\'s alertevery: repeat a down alert this often while still down; 0s = once; default 0s', { minMs: 0 }).optional(),
    period: cronString('fiveOrSix').describe('mon\'s period: cron expression (5 fields, or 6 with seconds) whose minutes alerts go out in, e.g. "* 7-22 * * 1-5"').optional(),
    outside_period: z.enum(['wait', 'drop']).describe('alerts outside the period: wait for it (default) or drop').optional(),
    queue_max: int(1, 1_000_000).describe('most undelivered alerts kept (in state_dir); past it the oldest are dropped and counted; default 1000').optional(),
    timeout: duration('one delivery attempt\'s deadline; default 10s').optional(),
    retry_initial: duration('first retry delay (doubles each time, with jitter); default 1s').optional(),
    retry_max: duration('longest retry delay; default 5m').optional(),
  })
  .describe('an alert target with its policy');

export const scheduleSchema = z
  .strictObject({
    cron: cronString('fiveOrSix').describe('when: cron expression, 5 fields (or 6 with seconds), e.g. "0 2 * * 0"'),
    drain: z.strictObject({
      service: z.string().min(1).describe('the service'),
      realserver: z.string().min(1).describe('the realserver "ip:port" (as in the service)'),
      for: duration('how long it stays drained (weight 0) before lvsd undrains it'),
    }).describe('drain a realserver for a while'),
  })
  .describe('a scheduled operation');

/** Top-level keys except `services` (validated one service at a time by load.ts). */
export const topSchema = z.strictObject({
  node: z
    .strictObject({ name: z.string().min(1).describe("this director's name; default the host name").optional() })
    .describe('this director')
    .optional(),
  api: z
    .strictObject({
      // port 0 = any free port (the bound port is logged): handy for tests and a second demo
      listen: orFalse(endpoint(true, 'host:port', true), 'expected "ip:port" or false')
        .describe('HTTP API "ip:port" (port 0: any free port), or false to disable; default 127.0.0.1:9410')
        .optional(),
      socket: orFalse(z.string().min(1), 'expected a path or false')
        .describe('Unix socket path, or false to disable; default /run/lvsd/lvsd.sock')
        .optional(),
      token_file: z.string().min(1).describe('file holding the bearer token that allows write operations over TCP').optional(),
    })
    .describe('status, metrics and control API')
    .optional(),
  ipvs: z
    .strictObject({
      driver: z.enum(['ipvsadm', 'memory']).describe('ipvsadm (the kernel) | memory (in-process, for demos); default ipvsadm').optional(),
      resync_interval: duration('re-read the kernel table and repair drift this often; default 30s').optional(),
      drain_before_remove: duration(
        'a realserver in the kernel that the config no longer names keeps weight 0 until its active connections end, at most this long; 0s = remove at once; default 5m',
        { minMs: 0 },
      ).optional(),
      cleanup_on_exit: z.boolean().describe('remove the configured services from the kernel when lvsd stops; default false (the table stays)').optional(),
      command_timeout: duration('longest an ipvsadm call may take before it is killed (batches get 2s more per 1,000 lines); default 10s').optional(),
    })
    .describe('the IPVS driver')
    .optional(),
  failover: failoverSchema.optional(),
  alerts: z.array(alertSchema).describe('alert targets: webhooks and commands, with mon-style policy').optional(),
  schedules: z.array(scheduleSchema).describe('operations run on a cron schedule (drain a realserver for a while)').optional(),
  state_dir: z.string().min(1).describe('state kept across restarts; default /var/lib/lvsd').optional(),
  max_concurrent_probes: int(1, 100_000).describe('global cap on probes in flight; default 256').optional(),
  defaults: defaultsSchema.optional(),
});

export const configSchema = topSchema
  .extend({ services: z.array(serviceSchema).describe('virtual services; may be empty') })
  .describe('lvsd configuration');

export type RawCheck = z.output<typeof checkSchema>;
export type RawDefaults = z.output<typeof defaultsSchema>;
export type RawRealserver = z.output<typeof realserverSchema>;
export type RawServiceHead = z.output<typeof serviceHeadSchema>;
export type RawTop = z.output<typeof topSchema>;

// ---------------------------------------------------------------------------------------------
// Messages for zod's own issues: short, operator-readable, never a zod dump.

/** How a YAML value reads in a message. */
export function show(v: unknown): string {
  if (v === null || v === undefined) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `string ${quote(v)}`;
  return `${typeof v} ${String(v)}`;
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string', number: 'a number', int: 'an integer', boolean: 'a boolean (true or false)',
  array: 'a list', object: 'a mapping',
};

/** The per-parse error map; schema-level messages above take precedence over it. */
export const issueMessage: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'invalid_type': {
      if (iss.input === undefined) return 'missing required key';
      // z.int() reports a string as "expected number"; say integer when the schema says so.
      const def: object | undefined = iss.inst?._zod.def;
      const expected = def !== undefined && 'format' in def && def.format === 'safeint' ? 'int' : iss.expected;
      return `expected ${EXPECTED[expected] ?? expected}, got ${show(iss.input)}`;
    }
    case 'too_small':
    case 'too_big': {
      const small = iss.code === 'too_small';
      const limit = Number(small ? iss.minimum : iss.maximum);
      if (iss.origin === 'array' || iss.origin === 'string' || iss.origin === 'set') {
        if (small && limit === 1) return 'must not be empty';
        const unit = iss.origin === 'string' ? 'characters' : 'items';
        return `must have ${small ? 'at least' : 'at most'} ${limit} ${unit}`;
      }
      if (iss.inclusive === false) return `must be ${small ? 'greater' : 'less'} than ${limit}`;
      return `must be ${small ? 'at least' : 'at most'} ${limit}, got ${String(iss.input)}`;
    }
    case 'invalid_value':
      if (iss.values.length === 1) return `expected ${quote(iss.values[0])}, got ${show(iss.input)}`;
      return `invalid value ${quote(iss.input)}; expected one of ${iss.values.map(String).join(', ')}`;
    case 'invalid_format':
      return `invalid value ${quote(iss.input)}`;
    default:
      return iss.message ?? 'invalid value';
  }
};
