import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, tryParseDuration } from '../../src/config/duration.js';
import { configJsonSchema, renderConfigJsonSchema } from '../../src/config/emit-schema.js';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { ConfigError, formatProblem } from '../../src/core/errors.js';

const FILE = 'test.yaml';

/** The formatted problems of a config that must fail. */
function problemsOf(text: string): string[] {
  try {
    parseConfig(text, FILE);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(formatProblem);
    throw e;
  }
  throw new Error('config unexpectedly loaded');
}

// Each YAML text starts on line 1 right after the backtick, so line numbers read off directly.
const bad: { name: string; yaml: string; want: string[] }[] = [
  {
    name: 'an HTTP path or Host with a space or control character (it would break the request line)',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    check: { type: http, path: "/health check", host: "a\\r\\nX-Injected: 1" }
`,
    want: [
      'test.yaml:4:32: services[0].check.path: must not contain spaces or control characters (percent-encode them), got "/health check"',
      'test.yaml:4:55: services[0].check.host: must not contain spaces or control characters, got "a\\r\\nX-Injected: 1"',
    ],
  },
  {
    name: 'YAML syntax error (code frame stripped)',
    yaml: `services:
  - name: "web
    address: 192.0.2.10:80
`,
    want: ['test.yaml:4:1: YAML: Missing closing "quote'],
  },
  {
    name: 'duplicate YAML key, reported at the second one with its path',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    name: web2
`,
    want: ['test.yaml:4:5: services[0].name: duplicate key (first at line 2)'],
  },
  {
    name: 'unknown top-level key',
    yaml: `servces: []
services: []
`,
    want: ['test.yaml:1:1: servces: unknown key (did you mean "services"?)'],
  },
  {
    name: 'unknown service key (and the address it was meant to be)',
    yaml: `services:
  - name: web
    adress: 192.0.2.10:80
`,
    want: [
      'test.yaml:2:5: services[0].address: missing required key (protocol is tcp)',
      'test.yaml:3:5: services[0].adress: unknown key (did you mean "address"?)',
    ],
  },
  {
    name: 'unknown realserver key',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    realservers:
      - address: 198.51.100.2
        wieght: 3
`,
    want: ['test.yaml:6:9: services[0].realservers[0].wieght: unknown key (did you mean "weight"?)'],
  },
  {
    name: 'unknown check key, service and realserver level',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    check: { type: tcp, intervall: 2s }
    realservers:
      - address: 198.51.100.2
        check: { bogus: 1 }
`,
    want: [
      'test.yaml:4:25: services[0].check.intervall: unknown key (did you mean "interval"?)',
      'test.yaml:7:18: services[0].realservers[0].check.bogus: unknown key',
    ],
  },
  {
    name: 'wrong types: string for an integer, yes for a boolean, mapping for a list',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    check:
      type: https
      tls_verify: yes
    realservers:
      - address: 198.51.100.2
        weight: "3"
  - name: dns
    address: 192.0.2.53:53
    realservers: { address: 198.51.100.53 }
`,
    want: [
      'test.yaml:6:19: services[0].check.tls_verify: expected a boolean (true or false), got string "yes"',
      'test.yaml:9:17: services[0].realservers[0].weight: expected an integer, got string "3"',
      'test.yaml:12:18: services[1].realservers: expected a list, got a mapping',
    ],
  },
  {
    name: 'bad IP addresses and host names',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    realservers:
      - address: 198.51.100.2
      - address: 198.51.100.300
      - address: web1.example.com:80
      - address: "[2001:db8::zz]:80"
`,
    want: [
      'test.yaml:6:18: services[0].realservers[1].address: invalid IP address "198.51.100.300"',
      'test.yaml:7:18: services[0].realservers[2].address: invalid IP address "web1.example.com" (host names are not allowed)',
      'test.yaml:8:18: services[0].realservers[3].address: invalid IPv6 address "2001:db8::zz"',
    ],
  },
  {
    name: 'bad ports, and a service address without one',
    yaml: `api:
  listen: 127.0.0.1:70000
services:
  - name: web
    address: 192.0.2.10
    realservers:
      - address: 198.51.100.2:65536
`,
    want: [
      'test.yaml:2:11: api.listen: invalid port "70000" (expected 0..65535)',
      'test.yaml:5:14: services[0].address: missing port in "192.0.2.10" (expected "ip:port"; IPv6 as "[ip]:port")',
      'test.yaml:7:18: services[0].realservers[0].address: invalid port "65536" (expected 1..65535)',
    ],
  },
  {
    name: 'bad durations: a number, a wrong unit, zero, sub-millisecond',
    yaml: `defaults:
  interval: 2
  timeout: 2sec
  fast_interval: 0s
  down_interval: 0.5ms
services: []
`,
    want: [
      'test.yaml:2:13: defaults.interval: expected a duration string such as "2s"',
      'test.yaml:3:12: defaults.timeout: invalid duration "2sec"; expected a duration string such as "2s"',
      'test.yaml:4:18: defaults.fast_interval: must be longer than 0s',
      'test.yaml:5:18: defaults.down_interval: invalid duration "0.5ms": finer than a millisecond',
    ],
  },
  {
    name: 'out-of-range numbers',
    yaml: `max_concurrent_probes: 0
defaults:
  rise: 101
  fall: 0
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: icmp, count: 11 }
`,
    want: [
      'test.yaml:1:24: max_concurrent_probes: must be at least 1, got 0',
      'test.yaml:3:9: defaults.rise: must be at most 100, got 101',
      'test.yaml:4:9: defaults.fall: must be at least 1, got 0',
      'test.yaml:8:33: services[0].check.count: must be at most 10, got 11',
    ],
  },
  {
    name: 'unknown check type',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    check:
      type: htpp
`,
    want: [
      'test.yaml:5:13: services[0].check.type: unknown check type "htpp"; expected one of icmp, tcp, http, https, banner, exec',
    ],
  },
  {
    name: 'unknown scheduler',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    scheduler: leastconn
`,
    want: [
      'test.yaml:4:16: services[0].scheduler: unknown scheduler "leastconn"; expected one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos',
    ],
  },
  {
    name: 'keys that do not apply to the resolved check type',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    check:
      path: /healthz
    realservers:
      - address: 198.51.100.2
        check: { type: icmp, expect: "ok" }
`,
    want: [
      'test.yaml:5:7: services[0].check.path: does not apply to check type tcp (only to http, https)',
      'test.yaml:8:30: services[0].realservers[0].check.expect: does not apply to check type icmp (only to banner)',
    ],
  },
  {
    name: 'duplicate service name and virtual address',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
  - name: web
    address: 192.0.2.10:80
  - name: web-udp
    protocol: udp
    address: 192.0.2.10:80
`,
    want: [
      'test.yaml:4:11: services[1].name: duplicate service name "web" (also services[0])',
      'test.yaml:5:14: services[1].address: tcp 192.0.2.10:80 is already used by services[0]',
    ],
  },
  {
    name: 'duplicate realserver (a bare IP means the service port)',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    realservers:
      - address: 198.51.100.2:80
      - address: 198.51.100.3:80
      - address: 198.51.100.2
`,
    want: ['test.yaml:7:18: services[0].realservers[2].address: duplicate realserver 198.51.100.2:80 (also realservers[0])'],
  },
  {
    name: 'DR and TUN realservers on another port than the service (the kernel would rewrite it)',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    forward: route
    sorry_server: 203.0.113.9:8080
    realservers:
      - address: 198.51.100.2
      - address: 198.51.100.3:8080
      - address: 198.51.100.4:8080
        forward: masq
      - address: 198.51.100.5:443
        forward: tunnel
`,
    want: [
      'test.yaml:5:19: services[0].sorry_server: forward route (DR) keeps the service port 80: the kernel would ignore port 8080; omit the port or use forward: masq',
      'test.yaml:8:18: services[0].realservers[1].address: forward route (DR) keeps the service port 80: the kernel would ignore port 8080; omit the port or use forward: masq',
      'test.yaml:11:18: services[0].realservers[3].address: forward tunnel (TUN) keeps the service port 80: the kernel would ignore port 443; omit the port or use forward: masq',
    ],
  },
  {
    name: 'address families: only TUN crosses them; a fwmark service has one',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    realservers:
      - address: "[2001:db8::2]:80"
      - address: "[2001:db8::3]:80"
        forward: tunnel
  - name: marked
    protocol: fwmark
    fwmark: 3
    realservers:
      - address: 198.51.100.2
      - address: "2001:db8::4"
`,
    want: [
      'test.yaml:5:18: services[0].realservers[0].address: an IPv6 realserver in an IPv4 service needs forward: tunnel (masq (NAT) cannot cross address families)',
      'test.yaml:13:18: services[1].realservers[1].address: IPv6 here but IPv4 at services[1].realservers[0].address: a fwmark service has one address family',
    ],
  },
  {
    name: 'timeout longer than the interval',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    check:
      interval: 2s
      timeout: 3s
`,
    want: ['test.yaml:6:16: services[0].check.timeout: timeout (3s) must not exceed interval (2s)'],
  },
  {
    name: 'an interval below the inherited timeout is reported at the interval',
    yaml: `defaults:
  timeout: 1500ms
services:
  - name: web
    address: 192.0.2.10:80
    realservers:
      - address: 198.51.100.2
        check: { interval: 1s }
`,
    want: ['test.yaml:8:28: services[0].realservers[0].check.interval: timeout (1.5s) must not exceed interval (1s)'],
  },
  {
    name: 'regexes that do not compile',
    yaml: `services:
  - name: web
    address: 192.0.2.10:80
    check: { type: http, expect_body: "(ok" }
  - name: mail
    address: 192.0.2.25:25
    check: { type: banner, expect: "[220" }
`,
    want: [
      'test.yaml:4:39: services[0].check.expect_body: invalid regular expression "(ok": Unterminated group',
      'test.yaml:7:36: services[1].check.expect: invalid regular expression "[220": Unterminated character class',
    ],
  },
  {
    name: 'alerts and schedules: bad values (the rules across keys wait until these are fixed)',
    yaml: `alerts:
  - name: ops
    webhook: { url: "ftp://x" }
    on: [realserver_down, nosuch]
    after: 0
    every: 10
    period: "* 25 * * *"
schedules:
  - cron: "0 2 * *"
    drain: { service: web, realserver: 198.51.100.2:80, for: 0s }
services: []
`,
    want: [
      'test.yaml:3:21: alerts[0].webhook.url: invalid URL "ftp://x" (expected http:// or https://)',
      'test.yaml:4:27: alerts[0].on[1]: unknown event "nosuch"; expected one of realserver_down, realserver_up, service_down, service_up, failover, config_reload_failed, drain_started, drain_finished',
      'test.yaml:5:12: alerts[0].after: must be at least 1, got 0',
      'test.yaml:6:12: alerts[0].every: expected a duration string such as "2s"',
      'test.yaml:7:13: alerts[0].period: invalid cron expression "* 25 * * *" (bad hour field "25")',
      'test.yaml:9:11: schedules[0].cron: cron expression "0 2 * *" needs 5 fields (or 6 with seconds), got 4',
      'test.yaml:10:62: schedules[0].drain.for: must be longer than 0s',
    ],
  },
  {
    name: 'alerts and schedules: one target each, unique names, selectors and drains that name what exists',
    yaml: `alerts:
  - name: ops
    exec: [/bin/true]
  - name: ops
    webhook: { url: "http://127.0.0.1:9/hook", secret_file: /etc/k }
    exec: [/bin/true]
    format: slack
    services: [web, nosuch]
    realservers: ["198.51.100.9:80"]
    retry_initial: 10s
    retry_max: 1s
schedules:
  - cron: "0 2 * * 0"
    drain: { service: web, realserver: 198.51.100.9:80, for: 30m }
  - cron: "0 2 * * 0"
    drain: { service: nosuch, realserver: 198.51.100.2:80, for: 30m }
services:
  - name: web
    address: 192.0.2.10:80
    realservers: [{ address: 198.51.100.2 }]
`,
    want: [
      'test.yaml:4:5: alerts[1]: give exactly one of webhook or exec',
      'test.yaml:4:11: alerts[1].name: duplicate alert name "ops"',
      'test.yaml:5:61: alerts[1].webhook.secret_file: only the generic format is signed',
      'test.yaml:8:21: alerts[1].services[1]: no service named "nosuch"',
      'test.yaml:9:19: alerts[1].realservers[0]: no realserver "198.51.100.9:80" in any service',
      'test.yaml:11:16: alerts[1].retry_max: must not be shorter than retry_initial (10s)',
      'test.yaml:14:40: schedules[0].drain.realserver: service web has no realserver "198.51.100.9:80"',
      'test.yaml:16:23: schedules[1].drain.service: no service named "nosuch"',
    ],
  },
  {
    name: 'failover: bad values (the rules across keys wait until these are fixed)',
    yaml: `failover:
  interface: "eth 0"
  virtual_router_id: 256
  priority: 0
  version: 2
  advert_interval: 1500ms
  unicast_peers: [198.51.100.300]
  virtual_addresses: [192.0.2.10/33, 192.0.2.11]
  track:
    - { service: nosuch, weight: -60 }
services: []
`,
    want: [
      'test.yaml:2:14: failover.interface: invalid interface name "eth 0"',
      'test.yaml:3:22: failover.virtual_router_id: must be at most 255, got 256',
      'test.yaml:4:13: failover.priority: must be at least 1, got 0',
      'test.yaml:7:19: failover.unicast_peers[0]: invalid IPv4 address "198.51.100.300"',
      'test.yaml:8:23: failover.virtual_addresses[0]: invalid IPv4 address "192.0.2.10/33" (expected "a.b.c.d" or "a.b.c.d/len")',
    ],
  },
  {
    name: 'failover: a track entry names exactly one thing; interval and timeout only for exec',
    yaml: `failover:
  interface: eth0
  virtual_router_id: 51
  virtual_addresses: [192.0.2.10/24]
  track:
    - { weight: -10 }
    - { service: web, interface: eth1, weight: -10 }
    - { interface: eth1, interval: 1s, weight: -10 }
    - { exec: [/bin/check], interval: 1s, timeout: 2s, weight: -10 }
services: []
`,
    want: [
      'test.yaml:6:7: failover.track[0]: give exactly one of service, interface or exec',
      'test.yaml:7:7: failover.track[1]: give exactly one of service, interface or exec (got service and interface)',
      'test.yaml:8:36: failover.track[2].interval: only applies to exec',
      'test.yaml:9:52: failover.track[3].timeout: timeout (2s) must not exceed interval (1s)',
    ],
  },
  {
    name: 'failover: interval rules per version, and tracked services must exist',
    yaml: `failover:
  interface: eth0
  virtual_router_id: 51
  version: 2
  advert_interval: 1500ms
  virtual_addresses: [192.0.2.10/24]
  track:
    - { service: nosuch, weight: -60 }
services: []
`,
    want: [
      'test.yaml:5:20: failover.advert_interval: VRRP version 2 carries whole seconds (1s..255s), got 1.5s',
      'test.yaml:8:18: failover.track[0].service: no service named "nosuch"',
    ],
  },
  {
    name: 'fwmark rules, persistence_netmask without persistence, a check that needs a port',
    yaml: `services:
  - name: mark
    protocol: fwmark
    address: 192.0.2.10:80
    persistence_netmask: 255.255.255.0
    check: { type: tcp }
    realservers:
      - address: 198.51.100.2
  - name: web
    address: 192.0.2.11:80
    fwmark: 3
`,
    want: [
      'test.yaml:2:5: services[0].fwmark: missing required key (protocol is fwmark)',
      'test.yaml:4:5: services[0].address: not allowed with protocol fwmark (the mark selects the traffic)',
      'test.yaml:5:5: services[0].persistence_netmask: needs persistence',
      'test.yaml:8:18: services[0].realservers[0].address: check type tcp needs a port: give the realserver one ("ip:port") or set check.port',
      'test.yaml:11:5: services[1].fwmark: only allowed with protocol fwmark',
    ],
  },
  {
    name: 'exec without a command, bad cron schedule, bad netmask, bad listen',
    yaml: `api:
  listen: true
services:
  - name: job
    address: 192.0.2.10:80
    persistence: 60s
    persistence_netmask: 255.0.255.0
    check:
      type: exec
  - name: cron
    address: 192.0.2.11:80
    check: { schedule: "*/5 * * * *" }
`,
    want: [
      'test.yaml:2:11: api.listen: expected "ip:port" or false, got boolean true',
      'test.yaml:7:26: services[0].persistence_netmask: invalid netmask "255.0.255.0" (expected an IPv4 netmask such as 255.255.255.0)',
      'test.yaml:9:13: services[0].check.type: check type exec needs "command"',
      'test.yaml:12:24: services[1].check.schedule: cron schedule "*/5 * * * *" needs 6 fields (seconds first, e.g. "*/10 * * * * *"), got 5',
    ],
  },
  {
    name: 'missing services, empty file',
    yaml: `node: { name: lb1 }
`,
    want: ['test.yaml:1:1: services: missing required key'],
  },
  {
    name: 'several errors at once, across sections, all reported in file order',
    yaml: `node: { name: lb1, role: master }
ipvs:
  driver: kernel
defaults:
  rise: 0
services:
  - name: web
    address: 192.0.2.10:80
    scheduler: fastest
    realservers:
      - address: 198.51.100.300
      - address: 198.51.100.2
        check: { type: tcp, path: / }
      - address: 198.51.100.2:80
  - name: "bad name!"
    address: 192.0.2.11:80
    check: { type: http, interval: 2s, timeout: 5s }
`,
    want: [
      'test.yaml:1:20: node.role: unknown key',
      'test.yaml:3:11: ipvs.driver: invalid value "kernel"; expected one of ipvsadm, memory',
      'test.yaml:5:9: defaults.rise: must be at least 1, got 0',
      'test.yaml:9:16: services[0].scheduler: unknown scheduler "fastest"; expected one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos',
      'test.yaml:11:18: services[0].realservers[0].address: invalid IP address "198.51.100.300"',
      'test.yaml:13:29: services[0].realservers[1].check.path: does not apply to check type tcp (only to http, https)',
      'test.yaml:14:18: services[0].realservers[2].address: duplicate realserver 198.51.100.2:80 (also realservers[1])',
      'test.yaml:15:11: services[1].name: invalid service name "bad name!"; use 1-63 letters, digits, "_", "." or "-", starting with a letter or digit',
      'test.yaml:17:49: services[1].check.timeout: timeout (5s) must not exceed interval (2s)',
    ],
  },
  {
    name: 'an empty file',
    yaml: ``,
    want: ['test.yaml:1:1: the config must be a mapping, got an empty value'],
  },
  {
    name: 'thresholds, sorry server, IPv6 persistence netmask',
    yaml: `services:
  - name: v6
    address: "[2001:db8::10]:80"
    persistence: 5m
    persistence_netmask: 255.255.255.0
    sorry_server: sorry.example.com
    realservers:
      - address: 2001:db8::1
        upper_threshold: 100
        lower_threshold: 200
`,
    want: [
      'test.yaml:5:5: services[0].persistence_netmask: only applies to IPv4 services',
      'test.yaml:6:19: services[0].sorry_server: invalid IP address "sorry.example.com" (host names are not allowed)',
      'test.yaml:10:26: services[0].realservers[0].lower_threshold: lower_threshold (200) must not exceed upper_threshold (100)',
    ],
  },
];

describe('parseConfig errors', () => {
  it.each(bad)('$name', ({ yaml, want }) => {
    expect(problemsOf(yaml)).toEqual(want);
  });
});

const repoFile = (rel: string): string => fileURLToPath(new URL(`../../${rel}`, import.meta.url));

function load(text: string): Config {
  return parseConfig(text, FILE);
}

describe('parseConfig results', () => {
  it('loads config/example.yaml', async () => {
    const c = await loadConfigFile(repoFile('config/example.yaml'), { checkFiles: false });
    expect(c.services.map((s) => s.name)).toEqual(['web', 'dns', 'mail', 'shop']);
    expect(c.node.name).toBe('lb1');
  });

  it('keeps HTTP connections alive only for checks at most 4 s apart, unless fresh_connection says otherwise', () => {
    const c = load(`
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: http }
    realservers:
      - { address: 198.51.100.2, check: { interval: 4s } }
      - { address: 198.51.100.3, check: { interval: 5s } }
      - { address: 198.51.100.4, check: { interval: 10s, fresh_connection: false } }
      - { address: 198.51.100.5, check: { interval: 1s, timeout: 1s, fresh_connection: true } }
      - { address: 198.51.100.6, check: { schedule: "*/2 * * * * *" } }
`);
    const fresh = c.services[0]!.realservers.map((r) => (r.check.type === 'http' ? r.check.freshConnection : undefined));
    expect(fresh).toEqual([false, true, false, true, true]);
  });

  it('applies the top-level defaults', () => {
    const c = load(`services: []\n`);
    expect(c).toEqual({
      file: FILE,
      node: { name: hostname() },
      api: { listen: { host: '127.0.0.1', port: 9410 }, socket: '/run/lvsd/lvsd.sock' },
      ipvs: { driver: 'ipvsadm', resyncIntervalMs: 30_000, drainBeforeRemoveMs: 300_000, cleanupOnExit: false, commandTimeoutMs: 10_000 },
      stateDir: '/var/lib/lvsd',
      maxConcurrentProbes: 256,
      services: [],
      alerts: [],
      schedules: [],
    });
  });

  it('accepts port 0 for api.listen (any free port)', () => {
    expect(load('api: { listen: "127.0.0.1:0" }\nservices: []\n').api.listen).toEqual({ host: '127.0.0.1', port: 0 });
  });

  it('turns api.listen and api.socket off with false', () => {
    const c = load(`api: { listen: false, socket: false, token_file: /etc/lvsd/token }
ipvs: { driver: memory, resync_interval: 1m30s, drain_before_remove: 0s, cleanup_on_exit: true, command_timeout: 3s }
services: []
`);
    expect(c.api).toEqual({ listen: null, socket: null, tokenFile: '/etc/lvsd/token' });
    expect(c.ipvs).toEqual({ driver: 'memory', resyncIntervalMs: 90_000, drainBeforeRemoveMs: 0, cleanupOnExit: true, commandTimeoutMs: 3000 });
  });

  it('inherits defaults → service check → realserver check, with and without a type change', () => {
    const c = load(`defaults:
  interval: 10s
  timeout: 3s
  rise: 4
  fall: 5
  on_down: remove
  initial_state: down
services:
  - name: web
    address: 192.0.2.10:80
    initial_state: up
    forward: route
    check:
      type: http
      interval: 4s
      path: /healthz
      expect_status: [200, 204]
    realservers:
      - address: 198.51.100.2
      - address: 198.51.100.3:8080
        initial_state: unknown
        forward: masq
        check: { path: /status, rise: 1, tls_verify: false }
      - address: 198.51.100.4
        on_down: quiescent
        check: { type: tcp, port: 81 }
`);
    const [rs0, rs1, rs2] = c.services[0]?.realservers ?? [];
    expect(rs0).toEqual({
      endpoint: { host: '198.51.100.2', port: 80 },
      id: '198.51.100.2:80',
      weight: 1,
      forward: 'route',
      onDown: 'remove',
      initialState: 'up',
      check: {
        type: 'http', path: '/healthz', method: 'GET', expectStatus: [200, 204], tlsVerify: true, freshConnection: false,
        intervalMs: 4000, timeoutMs: 3000, rise: 4, fall: 5, fastIntervalMs: 4000, downIntervalMs: 4000, port: 80,
      },
    });
    // same type: its keys merged over the service's
    expect(rs1?.check).toEqual({
      type: 'http', path: '/status', method: 'GET', expectStatus: [200, 204], tlsVerify: false, freshConnection: false,
      intervalMs: 4000, timeoutMs: 3000, rise: 1, fall: 5, fastIntervalMs: 4000, downIntervalMs: 4000, port: 8080,
    });
    expect(rs1?.forward).toBe('masq');
    expect(rs1?.initialState).toBe('unknown');
    // another type: fresh from defaults, nothing of the service's http check
    expect(rs2?.check).toEqual({
      type: 'tcp', intervalMs: 10_000, timeoutMs: 3000, rise: 4, fall: 5, fastIntervalMs: 10_000, downIntervalMs: 10_000, port: 81,
    });
    expect(rs2?.onDown).toBe('quiescent');
  });

  it('defaults the check to tcp for tcp services and icmp for udp; leaves unset optional fields out', () => {
    const c = load(`defaults: { fast_interval: 1s }
services:
  - name: web
    address: 192.0.2.10:80
    realservers: [ { address: 198.51.100.2 } ]
  - name: dns
    protocol: udp
    address: 192.0.2.53:53
    realservers: [ { address: 198.51.100.53 } ]
  - name: api
    address: 192.0.2.11:443
    check: { type: https, schedule: "*/10 * * * * *" }
    realservers: [ { address: 198.51.100.7 } ]
`);
    const checks = c.services.map((s) => s.realservers[0]?.check);
    expect(checks[0]).toEqual({
      type: 'tcp', intervalMs: 5000, timeoutMs: 2000, rise: 2, fall: 3, fastIntervalMs: 1000, downIntervalMs: 5000, port: 80,
    });
    expect(checks[1]).toMatchObject({ type: 'icmp', count: 1, port: 53 });
    expect(checks[2]).toMatchObject({ type: 'https', schedule: '*/10 * * * * *', port: 443 });
    for (const key of ['host', 'sni', 'expectBody']) expect(Object.keys(checks[2] ?? {})).not.toContain(key);
  });

  it('gives a bare-IP realserver the service port', () => {
    const c = load(`services:
  - name: web
    address: 192.0.2.10:8080
    sorry_server: 198.51.100.99
    realservers:
      - address: 198.51.100.2
      - address: 198.51.100.3:9000
`);
    const svc = c.services[0];
    expect(svc?.realservers.map((r) => r.id)).toEqual(['198.51.100.2:8080', '198.51.100.3:9000']);
    expect(svc?.sorryServer).toEqual({ host: '198.51.100.99', port: 8080 });
    expect(svc?.realservers[0]?.check.port).toBe(8080);
  });

  it('resolves a fwmark service', () => {
    const c = load(`services:
  - name: shop
    protocol: fwmark
    fwmark: 1
    scheduler: sh
    persistence: 1h
    persistence_netmask: 255.255.255.0
    check: { type: https, port: 443 }
    realservers:
      - address: 198.51.100.40
      - address: 198.51.100.41:443
        check: { type: icmp, count: 3 }
`);
    const svc = c.services[0];
    expect(svc).toMatchObject({
      name: 'shop', protocol: 'fwmark', fwmark: 1, scheduler: 'sh', persistenceMs: 3_600_000,
      persistenceNetmask: '255.255.255.0', forward: 'masq', slowStartMs: 0,
    });
    expect(svc && 'endpoint' in svc).toBe(false);
    expect(svc?.realservers.map((r) => r.id)).toEqual(['198.51.100.40:0', '198.51.100.41:443']);
    expect(svc?.realservers[0]?.check).toMatchObject({ type: 'https', port: 443 });
    expect(svc?.realservers[1]?.check).toMatchObject({ type: 'icmp', count: 3, port: 443 });
  });

  it('writes IPv6 ids as [ip]:port, in canonical form', () => {
    const c = load(`services:
  - name: v6
    address: "[2001:DB8::10]:80"
    realservers:
      - address: "[2001:db8::1]:80"
      - address: 2001:db8:0:0::2
`);
    const svc = c.services[0];
    expect(svc?.endpoint).toEqual({ host: '2001:db8::10', port: 80 });
    expect(svc?.realservers.map((r) => r.id)).toEqual(['[2001:db8::1]:80', '[2001:db8::2]:80']);
    expect(svc?.realservers[0]?.endpoint).toEqual({ host: '2001:db8::1', port: 80 });
  });
});

describe('loadConfigFile', () => {
  it('reports an unreadable file at FILE:1:1', async () => {
    const path = '/nonexistent/lvsd.yaml';
    const err = await loadConfigFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.map(formatProblem);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^\/nonexistent\/lvsd\.yaml:1:1: cannot read: ENOENT/);
  });
});

describe('JSON Schema and example', () => {
  it('config/lvsd.schema.json is what emit-schema produces now (run `npm run schema`)', async () => {
    expect(await readFile(repoFile('config/lvsd.schema.json'), 'utf8')).toBe(renderConfigJsonSchema());
  });

  it('config/example.yaml mentions every key of the schema', async () => {
    const example = await readFile(repoFile('config/example.yaml'), 'utf8');
    const keys = new Set<string>();
    const collect = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(collect);
      else if (typeof node === 'object' && node !== null) {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'properties' && typeof v === 'object' && v !== null) Object.keys(v).forEach((key) => keys.add(key));
          collect(v);
        }
      }
    };
    collect(configJsonSchema());
    expect(keys.size).toBeGreaterThan(40);
    const missing = [...keys].filter((k) => !new RegExp(`\\b${k}:`).test(example));
    expect(missing).toEqual([]);
  });
});

describe('durations', () => {
  it.each([
    ['500ms', 500], ['2s', 2000], ['1.5s', 1500], ['5m', 300_000], ['1h', 3_600_000], ['1d', 86_400_000],
    ['1m30s', 90_000], ['1h0m5s', 3_605_000], ['0s', 0], ['1.1s', 1100], ['2s500ms', 2500],
  ])('%s = %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    [2, 'expected a duration string such as "2s"'],
    [null, 'expected a duration string such as "2s"'],
    ['', 'invalid duration ""; expected a duration string such as "2s"'],
    ['2', 'invalid duration "2"; expected a duration string such as "2s"'],
    ['2 s', 'invalid duration "2 s"; expected a duration string such as "2s"'],
    ['30s1m', 'invalid duration "30s1m"; expected a duration string such as "2s"'],
    ['-1s', 'invalid duration "-1s"; expected a duration string such as "2s"'],
    ['1.0005s', 'invalid duration "1.0005s": finer than a millisecond'],
    ['25d', 'duration "25d" is too long (at most 24d)'],
  ])('rejects %j', (value, message) => {
    expect(tryParseDuration(value)).toEqual({ error: message });
    expect(() => parseDuration(value)).toThrow(message);
  });

  it.each([[0, '0s'], [250, '250ms'], [1500, '1.5s'], [90_000, '1m30s'], [86_400_000, '1d'], [3_605_000, '1h5s']])(
    'formats %i ms as %s', (ms, text) => {
      expect(formatDuration(ms)).toBe(text);
    },
  );
});
