/**
 * lvsd's /metrics against the real tools: `promtool check metrics` finds nothing to say, and a
 * real Prometheus (Debian's) scrapes a running daemon; series are queried through Prometheus's
 * HTTP API, and every query of the Grafana dashboards runs there without error.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { ROOT, killAll, spawnLvsd, waitForLine } from '../support/cli.js';
import { dashboardQueries } from '../support/dashboards.js';
import { needs, which } from '../support/env.js';
import { allMetricsRegistry } from '../support/metric-families.js';
import { refusedPort, startHealthyHttp, type TestServer } from '../support/servers.js';
import { freePort } from '../support/ports.js';
import { promtoolCheck } from '../support/promtool.js';

const promtool = which('promtool');
const prometheus = which('prometheus');
const t = needs(promtool !== null && prometheus !== null, 'promtool and prometheus (apt-get install prometheus)');

interface PromResult { metric: Record<string, string>; value: [number, string] }

t.describe('Prometheus and promtool against lvsd', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-prom-'));
  const servers: TestServer[] = [];
  let lvsdPort = 0;
  let promPort = 0;
  let prom: ChildProcess | undefined;
  let promLog = '';
  let up: TestServer;
  let down: TestServer;

  const query = async (q: string): Promise<{ status: string; error?: string; data?: { resultType: string; result: PromResult[] } }> => {
    const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
    return (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: PromResult[] } };
  };
  /** the query's result once `done` holds for it (default: any series), within timeoutMs */
  const waitForSeries = async (q: string, done = (r: PromResult[]): boolean => r.length > 0, timeoutMs = 30_000): Promise<PromResult[]> => {
    const t0 = Date.now();
    for (;;) {
      // Prometheus may not listen yet
      const r = await query(q).catch((e: unknown) => ({ status: 'unreachable', error: String(e), data: undefined }));
      if (r.status === 'success' && r.data && done(r.data.result)) return r.data.result;
      if (Date.now() - t0 > timeoutMs) throw new Error(`no result for ${q} within ${timeoutMs} ms: ${JSON.stringify(r)}\n${promLog.slice(-2000)}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  };

  beforeAll(async () => {
    up = await startHealthyHttp();
    down = await refusedPort();
    servers.push(up, down);
    const cfg = path.join(dir, 'lvsd.yaml');
    writeFileSync(cfg, `
node: { name: prom-test }
api: { listen: "127.0.0.1:0", socket: false }
ipvs: { driver: memory }
state_dir: ${dir}
defaults: { interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }
services:
  - name: web
    address: 192.0.2.10:80
    sorry_server: 198.51.100.99:80
    check: { type: http }
    realservers:
      - { address: "127.0.0.1:${up.port}", weight: 4 }
      - { address: "127.0.0.1:${down.port}", weight: 2 }
`);
    const child = spawnLvsd(['run', '-c', cfg]);
    const line = await waitForLine(child, /"msg":"api listening"/);
    lvsdPort = (JSON.parse(line) as { listen: { port: number } }).listen.port;

    promPort = await freePort();
    writeFileSync(path.join(dir, 'prometheus.yml'), `
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: lvsd
    static_configs: [{ targets: ["127.0.0.1:${lvsdPort}"] }]
`);
    prom = spawn(prometheus!, [
      `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    prom.stdout!.on('data', (d: Buffer) => { promLog += d.toString(); });
    prom.stderr!.on('data', (d: Buffer) => { promLog += d.toString(); });
    await waitForSeries('up{job="lvsd"} == 1');
  }, 60_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null && prom.signalCode === null) {
      const gone = new Promise((r) => prom!.once('exit', r));
      prom.kill('SIGKILL');
      await gone;
    }
    await killAll();
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  t.it('promtool check metrics says nothing about a running daemon\'s /metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${lvsdPort}/metrics`)).text();
    expect(text).toContain('lvsd_realserver_state{');
    expect(await promtoolCheck(promtool!, text)).toEqual({ code: 0, output: '' });
  });

  t.it('nor about every family lvsd can export (VRRP and IPVS included)', async () => {
    const text = await allMetricsRegistry().text();
    for (const name of ['lvsd_vrrp_state', 'lvsd_vrrp_adverts_rejected_total', 'lvsd_ipvs_connections', 'lvsd_alerts_sent_total', 'lvsd_alerts_queue_depth']) expect(text).toContain(`# TYPE ${name} `);
    expect(await promtoolCheck(promtool!, text)).toEqual({ code: 0, output: '' });
  });

  t.it('Prometheus scrapes the realserver states, weights and build info', async () => {
    // both verdicts in (neither UNKNOWN) in the same scrape the values are read from
    await waitForSeries('lvsd_realserver_state{service="web",state=~"up|down"} == 1', (r) => r.length === 2);
    const ups = await waitForSeries('lvsd_realserver_up{service="web"}', (r) => r.length === 2);
    const byRs = Object.fromEntries(ups.map((r) => [r.metric.realserver, r.value[1]]));
    expect(byRs).toEqual({ [`127.0.0.1:${up.port}`]: '1', [`127.0.0.1:${down.port}`]: '0' });
    const downNow = await waitForSeries('lvsd_realserver_state{state="down"} == 1');
    expect(downNow.map((r) => r.metric.realserver)).toEqual([`127.0.0.1:${down.port}`]);
    expect(downNow[0]!.metric).toMatchObject({ job: 'lvsd', service: 'web', check: 'http' });
    // the kernel's weight follows the verdict by one reconcile pass: a scrape or so later
    const weights = await waitForSeries('lvsd_realserver_weight{service="web"}', (r) => r.some((x) => x.value[1] === '0'));
    expect(Object.fromEntries(weights.map((r) => [r.metric.realserver, r.value[1]]))).toEqual({ [`127.0.0.1:${up.port}`]: '4', [`127.0.0.1:${down.port}`]: '0' });
    const fails = await waitForSeries(`lvsd_realserver_consecutive_failures{realserver="127.0.0.1:${down.port}"} > 2`);
    expect(fails).toHaveLength(1);
    const build = await waitForSeries('lvsd_build_info');
    expect(build[0]!.metric).toMatchObject({ node: 'prom-test', nodejs: process.versions.node });
    expect(build[0]!.metric.version).toMatch(/^\d+\.\d+\.\d+/);
    // probes keep coming: a rate over the scrapes so far
    const rate = await waitForSeries('sum(rate(lvsd_probes_total{service="web"}[10s])) > 0');
    expect(Number(rate[0]!.value[1])).toBeGreaterThan(1);
  }, 60_000);

  t.it('every Grafana dashboard query runs on this Prometheus without error', async () => {
    // a few scrapes for rate() and increase()
    await waitForSeries('count_over_time(lvsd_build_info[1m]) > 4');
    const failures: string[] = [];
    const empty: string[] = [];
    for (const file of ['lvsd-overview.json', 'lvsd-realserver.json']) {
      const d = JSON.parse(readFileSync(path.join(ROOT, 'dashboards', file), 'utf8')) as Record<string, unknown>;
      for (const q of dashboardQueries(d)) {
        const expr = q.expr.replaceAll('$__rate_interval', '10s').replace(/\$(instance|service|realserver)\b/g, '.*');
        const r = await query(expr);
        if (r.status !== 'success') failures.push(`${file} ${q.where}: ${r.error ?? r.status}: ${expr}`);
        else if (r.data!.result.length === 0) empty.push(`${file} ${q.where}: ${expr}`);
      }
    }
    expect(failures).toEqual([]);
    // with no failover, no alerts, no reloads and nothing filtered by "> 0", every query has data
    expect(empty.filter((e) => !/lvsd_vrrp_|lvsd_alerts_|> 0$/.test(e))).toEqual([]);
  }, 60_000);
});
