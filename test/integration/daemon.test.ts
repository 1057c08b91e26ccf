/**
 * The whole daemon on loopback: real servers that behave and misbehave, real probes, the
 * memory IPVS driver, the real clock. Checks the verdicts, the table, and that one
 * realserver's misbehaviour does not slow another's checks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProbeKit } from '../../checks/index.js';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { StatusSnapshot } from '../../src/daemon/status.js';
import { formatListing } from '../../src/ipvs/ipvsadm-format.js';
import { MemoryIpvsDriver } from '../../src/ipvs/memory-driver.js';
import {
  refusedPort, startBanner, startHealthyHttp, startSilentTcp, startStatusHttp, startTricklingHttp,
  type HttpTestServer, type TestServer,
} from '../support/servers.js';

const INTERVAL_MS = 200;

describe('daemon on loopback realservers', () => {
  const servers: TestServer[] = [];
  let healthy: HttpTestServer;
  let daemon: Daemon;
  let driver: MemoryIpvsDriver;
  let kit: ReturnType<typeof createProbeKit>;
  let startedAt = 0;
  let stoppedAt = 0;
  let finalStatus: StatusSnapshot;

  beforeAll(async () => {
    healthy = await startHealthyHttp();
    const unwell = await startStatusHttp(503);
    const refused = await refusedPort();
    const trickle = await startTricklingHttp(100, 100);
    const silent = await startSilentTcp();
    const banner = await startBanner('Password: ');
    const goodBanner = await startBanner('Debian GNU/Linux 12\r\nlogin: ');
    servers.push(healthy, unwell, refused, trickle, silent, banner, goodBanner);
    const yaml = `
api: { listen: false, socket: false }
ipvs: { driver: memory, resync_interval: 5s }
defaults: { interval: ${INTERVAL_MS}ms, timeout: 150ms, rise: 2, fall: 2 }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: http, path: /healthz, expect_body: "^ok" }
    realservers:
      - { address: "127.0.0.1:${healthy.port}", weight: 5 }
      - { address: "127.0.0.1:${unwell.port}", weight: 5 }
      - { address: "127.0.0.1:${refused.port}", weight: 5 }
      - { address: "127.0.0.1:${trickle.port}", weight: 5 }
      - { address: "127.0.0.1:${silent.port}", weight: 5, on_down: remove }
  - name: telnet
    address: 192.0.2.10:23
    check: { type: banner, expect: "login:" }
    realservers:
      - address: "127.0.0.1:${banner.port}"
      - address: "127.0.0.1:${goodBanner.port}"
  - name: script
    address: 192.0.2.10:25
    check: { type: exec, command: [sleep, "30"] }
    realservers:
      - address: "127.0.0.2:${healthy.port}"
  - name: plain
    address: 192.0.2.10:8080
    check: { type: tcp }
    realservers:
      - address: "127.0.0.1:${healthy.port}"
`;
    const config = parseConfig(yaml, 'daemon-test.yaml');
    driver = new MemoryIpvsDriver();
    kit = createProbeKit();
    daemon = new Daemon({ config, clock: systemClock, random: Math.random, log: silentLogger(), probes: kit, driver, defaultMetrics: false });
    startedAt = Date.now();
    await daemon.start();
    await new Promise((r) => setTimeout(r, 3000));
    finalStatus = daemon.status();
    await daemon.close();
    stoppedAt = Date.now();
  });

  afterAll(async () => {
    await daemon?.close();
    await kit?.close();
    await Promise.all(servers.map((s) => s.close()));
  });

  const rs = (service: string, port: number, host = '127.0.0.1') => {
    const r = finalStatus.services.find((s) => s.name === service)?.realservers.find((x) => x.id === `${host}:${port}`);
    if (!r) throw new Error(`no ${service} ${host}:${port} in status`);
    return r;
  };

  it('marks each realserver by what it really does', () => {
    const [h, unwell, refused, trickle, silent, banner, goodBanner] = servers as [TestServer, ...TestServer[]];
    expect(rs('web', h.port)).toMatchObject({ state: 'UP', weight: 5, last: { outcome: 'ok' } });
    expect(rs('web', unwell!.port)).toMatchObject({ state: 'DOWN', weight: 0, last: { outcome: 'fail' } });
    expect(rs('web', unwell!.port).last?.detail).toContain('503');
    expect(rs('web', refused!.port)).toMatchObject({ state: 'DOWN', weight: 0, last: { outcome: 'error' } });
    expect(rs('web', trickle!.port)).toMatchObject({ state: 'DOWN', weight: 0, last: { outcome: 'timeout' } });
    // on_down: remove takes it out of the table
    expect(rs('web', silent!.port)).toMatchObject({ state: 'DOWN', weight: null, last: { outcome: 'timeout' } });
    // a wrong prompt on an open connection: the probe reads on until the deadline
    expect(rs('telnet', banner!.port)).toMatchObject({ state: 'DOWN', last: { outcome: 'timeout' } });
    expect(rs('telnet', banner!.port).last?.detail).toContain('Password');
    expect(rs('telnet', goodBanner!.port)).toMatchObject({ state: 'UP', weight: 1 });
    expect(rs('script', h.port, '127.0.0.2')).toMatchObject({ state: 'DOWN', last: { outcome: 'timeout' } });
    expect(rs('plain', h.port)).toMatchObject({ state: 'UP', last: { outcome: 'ok' } });
  });

  it('holds the table ipvsadm would show', async () => {
    const listing = formatListing(await driver.read());
    expect(listing).toContain('TCP  192.0.2.10:80 wlc');
    expect(listing).toMatch(new RegExp(`-> 127\\.0\\.0\\.1:${healthy.port}\\s+Masq\\s+5 `));
    expect(listing).not.toContain(`127.0.0.1:${servers[4]!.port}`);
  });

  it("keeps the healthy realserver's check rate while the others misbehave", () => {
    // the http service probes the healthy server once per interval; the tcp service only connects
    const seconds = (stoppedAt - startedAt) / 1000;
    const expected = seconds / (INTERVAL_MS / 1000);
    const got = healthy.requests.length;
    // generous bound for a noisy machine: at least 80 % of the scheduled checks happened
    expect(got).toBeGreaterThanOrEqual(Math.floor(expected * 0.8));
    expect(got).toBeLessThanOrEqual(Math.ceil(expected) + 1);
  });

  it('exports the realserver metrics', async () => {
    // the daemon is closed, but its registry still answers
    const text = await daemon.metrics.text();
    expect(text).toMatch(new RegExp(`lvsd_realserver_up\\{service="web",realserver="127.0.0.1:${healthy.port}",check="http"\\} 1`));
    expect(text).toMatch(/lvsd_probes_total\{service="web",realserver="127\.0\.0\.1:\d+",check="http",result="timeout"\} \d+/);
    expect(text).toContain('lvsd_probe_duration_seconds_bucket');
    expect(text).toMatch(/lvsd_realserver_transitions_total\{service="web",realserver="127\.0\.0\.1:\d+",from="unknown",to="down"\} 1/);
  });
});
