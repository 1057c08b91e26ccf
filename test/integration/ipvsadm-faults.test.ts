/**
 * ipvsadm faults against the real daemon: `lvsd run` from source with `ipvs.driver: ipvsadm`
 * and the ipvsadm shim first on PATH (test/support/ipvsadm-shim.mjs), loopback realservers.
 *
 * - ipvsadm failing: lvsd still starts, retries with growing gaps (0.5 s, 1 s, 2 s ... measured
 *   in the shim's call log), reports it in lvsd_ipvs_in_sync, lvsd_ipvs_apply_errors_total and
 *   lvsd_ipvs_commands_total, and logs the shim's message;
 * - a -R batch that breaks off part-way: the verify read finds what is missing, exactly that is
 *   applied, the table converges;
 * - ipvsadm hanging: each call is killed at ipvs.command_timeout (its PID gone) and retried; the
 *   table converges once it answers again, to exactly the wanted table;
 * - at start-up: an ipvsadm that cannot run, or a kernel without IPVS, stops `lvsd run` with the
 *   reason; a hanging one lets it start out of sync and it converges later.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseTable } from '../../src/ipvs/ipvsadm-parse.js';
import { endpointKey } from '../../src/ipvs/types.js';
import { which } from '../support/env.js';
import { IpvsadmShim, killLvsds, spawnLvsdWith, type LvsdProcess, type ShimCall } from '../support/ipvsadm-shim.js';
import { gone, running } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { promtoolCheck } from '../support/promtool.js';

const VIP = '192.0.2.10:80';
const OTHER = '192.0.2.99:80';
const OTHER_RULES = [`-A -t ${OTHER} -s rr`, `-a -t ${OTHER} -r 198.51.100.1:80 -g -w 2`];
const TIMEOUT_MS = 2000;

interface Status {
  ipvs: { last_reconcile: null | { converged: boolean; error: string | null } };
  services: { name: string; realservers: { id: string; state: string; wanted_weight: number | null | 'keep'; weight: number | null }[] }[];
}

/**
 * A loopback TCP realserver the test takes down (stops listening: refused) and up again (listens
 * on the same port). TCP checks: the kernel accepts the connection even while this worker is
 * busy, so a loaded machine does not make a healthy realserver flap.
 */
interface Switchable {
  readonly port: number;
  setHealthy(healthy: boolean): Promise<void>;
  close(): Promise<void>;
}

async function switchable(): Promise<Switchable> {
  const open = (port: number): Promise<net.Server> => new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
  let server: net.Server | undefined = await open(0);
  const port = (server.address() as net.AddressInfo).port;
  const close = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  return {
    port, close,
    async setHealthy(healthy) {
      if (!healthy) await close();
      else server ??= await open(port);
    },
  };
}

function configYaml(dir: string, ports: readonly number[], extra = ''): string {
  return `
node: { name: faults }
api: { listen: "127.0.0.1:0", socket: false }
ipvs: { driver: ipvsadm, command_timeout: ${TIMEOUT_MS}ms, resync_interval: 10s }
state_dir: ${dir}
defaults: { interval: 500ms, timeout: 500ms, rise: 1, fall: 2, initial_state: up }
${extra}
services:
  - name: web
    address: ${VIP}
    check: { type: tcp }
    realservers:
${ports.map((p, i) => `      - { address: "127.0.0.1:${p}", weight: ${i + 1} }`).join('\n')}
`;
}

async function getJson<T>(port: number, p: string): Promise<T> {
  return (await (await fetch(`http://127.0.0.1:${port}${p}`)).json()) as T;
}

async function metricsText(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** the value of one series (exact label text as lvsd prints it), or undefined */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** the table lvsd wants, from /status: destination → "masq weight" (null: absent, keep: unknown) */
function wantedOf(status: Status): Map<string, string> {
  const web = status.services.find((s) => s.name === 'web')!;
  const out = new Map<string, string>();
  for (const r of web.realservers) {
    if (r.wanted_weight === 'keep') throw new Error(`${r.id} has no verdict yet`);
    if (r.wanted_weight !== null) out.set(r.id, `masq ${r.wanted_weight}`);
  }
  return out;
}

const sorted = (m: Map<string, string> | undefined): [string, string][] => [...(m ?? new Map<string, string>())].sort();

async function apiPort(lvsd: LvsdProcess, timeoutMs: number): Promise<number> {
  const line = await lvsd.waitForLog((e) => e.msg === 'api listening', timeoutMs, 'api listening');
  return (line.listen as { port: number }).port;
}

describe('ipvsadm failing, hanging and breaking off a batch (the ipvsadm shim)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-faults-'));
  const cfg = path.join(dir, 'lvsd.yaml');
  const servers: Switchable[] = [];
  let shim: IpvsadmShim;
  let lvsd: LvsdProcess;
  let port = 0;
  const status = (): Promise<Status> => getJson<Status>(port, '/status');

  beforeAll(async () => {
    for (let i = 0; i < 8; i++) servers.push(await switchable());
    writeFileSync(cfg, configYaml(dir, servers.map((s) => s.port)));
    shim = IpvsadmShim.create(OTHER_RULES);
  });

  afterAll(async () => {
    await killLvsds();
    shim?.close();
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts although ipvsadm fails, retries with growing gaps, and says so in metrics and logs', async () => {
    shim.setFaults({ fail: { message: 'Memory allocation problem' } });
    lvsd = spawnLvsdWith(['run', '-c', cfg], { ...process.env, PATH: shim.path });
    port = await apiPort(lvsd, 30_000);
    const startLog = lvsd.logs().find((e) => e.msg === 'ipvsadm failed at start-up: starting anyway, retrying with backoff (lvsd_ipvs_in_sync stays 0 until the table converges)');
    expect(startLog?.err).toMatch(/ipvsadm -(S -n|Ln --exact --thresholds): Memory allocation problem/);
    // the start-up read, then passes at about 0, 0.5 and 1.5 s; the third failure schedules the next in 2 s
    await lvsd.waitForLog((e) => e.msg === 'ipvs table not as wanted: retrying' && e.retry_in_ms === 2000, 20_000, 'the third retry');
    const failed = lvsd.logs().filter((e) => e.msg === 'ipvs reconcile failed');
    expect(failed).toHaveLength(3);
    expect(failed[0]!.err).toMatch(/^ipvsadm -(S -n|Ln --exact --thresholds): Memory allocation problem$/);
    expect(lvsd.logs().filter((e) => e.msg === 'ipvs table not as wanted: retrying').map((e) => e.retry_in_ms)).toEqual([500, 1000, 2000]);
    const text = await metricsText(port);
    expect(sample(text, 'lvsd_ipvs_in_sync')).toBe(0);
    expect(sample(text, 'lvsd_ipvs_apply_errors_total')).toBeGreaterThanOrEqual(3);
    expect(sample(text, 'lvsd_ipvs_commands_total{command="read",result="error"}')).toBeGreaterThanOrEqual(8);
    expect(sample(text, 'lvsd_ipvs_commands_total{command="read",result="ok"}')).toBe(0);
    expect(sample(text, 'lvsd_ipvs_stats_up')).toBe(0);
    expect((await status()).ipvs.last_reconcile).toMatchObject({ converged: false, error: expect.stringContaining('Memory allocation problem') });
    // every call so far exited 2 with the shim's message, and nothing was changed
    expect(shim.calls().filter((c) => c.end).every((c) => c.end!.code === 2)).toBe(true);
    expect(shim.services().map((s) => s.addr)).toEqual([OTHER]);

    // ipvsadm works again, except that the next -R applies 6 of its lines and exits 2
    const cleared = Date.now();
    const before = shim.calls().length;
    shim.setFaults({ batch: { after: 6, message: 'Memory allocation problem' } });
    await waitFor(async () => (await status()).ipvs.last_reconcile?.converged === true, 20_000, 'the table to converge', 100);
    console.log(`ipvsadm working again: converged ${((Date.now() - cleared) / 1000).toFixed(2)} s after the fault was cleared (the next retry was due within 2 s)`);

    expect(lvsd.logs().filter((e) => e.msg === 'realserver transition')).toEqual([]); // no pass of its own came between
    // the gaps between failed passes, from lvsd's own log: a pass fails and logs its backoff, the
    // next starts that long after and fails in turn (its calls fail at once), so consecutive
    // "retrying" lines are the backoff apart plus a pass; the shim's call log would need its
    // scrape calls told apart from a pass's, by timing, which a busy machine blurs
    const retries = lvsd.logs().filter((e) => e.msg === 'ipvs table not as wanted: retrying');
    const at = retries.map((e) => Date.parse(String(e.time)));
    const gaps = at.slice(1).map((t, i) => (t - at[i]!) / 1000);
    console.log(`ipvsadm failing: failed passes ${gaps.map((x) => x.toFixed(2)).join(' s, ')} s apart (backoff 0.5 s, 1 s)`);
    expect(gaps.length).toBeGreaterThanOrEqual(2);
    for (const [i, b] of [0.5, 1].entries()) {
      expect(gaps[i]).toBeGreaterThanOrEqual(b);
      expect(gaps[i]).toBeLessThan(b + 1.5);
    }
    expect(lvsd.logs().some((e) => e.msg === 'ipvs table as wanted again')).toBe(true);
  }, 60_000);

  it('a batch that breaks off part-way is verified and completed: exactly the wanted table', async () => {
    const calls = shim.calls();
    const batches = calls.filter((c) => c.args[0] === '-R');
    // the whole service in one batch: -A and 8 -a; broken off after 6
    expect(batches).toHaveLength(1);
    expect(batches[0]!.input).toHaveLength(9);
    expect(batches[0]!.lines.map((l) => l.ok)).toEqual([true, true, true, true, true, true]);
    expect(batches[0]!.end?.code).toBe(2);
    expect(lvsd.logs().some((e) => e.msg === 'ipvs batch reported an error' && e.reason === 'Memory allocation problem')).toBe(true);
    // after the verify read, exactly the 3 lines that did not happen, one call each
    const after = calls.slice(calls.indexOf(batches[0]!) + 1).filter((c) => c.args[0] !== '-S' && c.args[0] !== '-Ln');
    expect(after.map((c) => c.args.join(' '))).toEqual(batches[0]!.input!.slice(6));
    expect(after.every((c) => c.end?.code === 0)).toBe(true);
    // exactly the wanted table, and the other service untouched
    const wanted = wantedOf(await status());
    expect(wanted.size).toBe(8);
    expect(sorted(shim.destinations('tcp', VIP))).toEqual(sorted(wanted));
    expect(sorted(shim.destinations('tcp', OTHER))).toEqual([['198.51.100.1:80', 'route 2']]);
    // and through lvsd's own parser, from the shim's -S -n and -Ln output
    const { rules, thresholds } = shim.read();
    const table = parseTable(rules, thresholds);
    expect([...table.services.get(`tcp ${VIP}`)!.destinations.values()].map((d) => `${endpointKey(d.endpoint)}=${d.weight}`).sort())
      .toEqual([...wanted].map(([k, v]) => `${k}=${v.split(' ')[1]}`).sort());
    expect(sample(await metricsText(port), 'lvsd_ipvs_in_sync')).toBe(1);
  }, 30_000);

  it('kills a hanging ipvsadm at ipvs.command_timeout, retries, and converges when it answers again', async () => {
    const before = shim.calls().length;
    // changes hang (reads answer, so each retry reads, plans the change again and hangs on it)
    shim.setFaults({ hang: { only: 'write' } });
    // a realserver goes DOWN: quiescing it (one -e) is the call that hangs
    await servers[0]!.setHealthy(false);
    const edit = `-e -t ${VIP} -r 127.0.0.1:${servers[0]!.port} -m -w 0`;
    const killed = await lvsd.waitForLog(
      (e) => e.msg === 'ipvs reconcile failed' && typeof e.err === 'string' && e.err.includes(`no answer within ${TIMEOUT_MS}ms (killed)`),
      20_000, 'a call killed at the timeout',
    );
    expect(killed.err).toBe(`${shim.program} ${edit}: no answer within ${TIMEOUT_MS}ms (killed)`);
    // the retry (after 0.5 s) reads the table and hangs on the same change again
    await waitFor(() => shim.calls().slice(before).filter((c) => c.args.join(' ') === edit).length >= 2, 20_000, 'a retry of the change', 100);
    const hung = shim.calls().slice(before).filter((c) => c.args[0] === '-e');
    expect(hung.every((c) => c.end === undefined)).toBe(true);
    // the first one was killed at the timeout: gone; the retry's goes the same way
    expect(running(hung[0]!.pid)).toBe(false);
    const stillThere: number[] = [];
    for (const c of hung) if (!(await gone(c.pid, TIMEOUT_MS + 3000))) stillThere.push(c.pid);
    expect(stillThere).toEqual([]);
    const text = await metricsText(port);
    expect(sample(text, 'lvsd_ipvs_commands_total{command="change",result="timeout"}')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'lvsd_ipvs_in_sync')).toBe(0);
    const cleared = Date.now();
    shim.clearFaults();
    await waitFor(async () => {
      const s = await status();
      return s.ipvs.last_reconcile?.converged === true && shim.destinations('tcp', VIP)?.get(`127.0.0.1:${servers[0]!.port}`) === 'masq 0';
    }, 20_000, 'the quiesced weight in the table', 100);
    console.log(`ipvsadm hanging: ${hung.length} calls killed at ${TIMEOUT_MS} ms; converged ${((Date.now() - cleared) / 1000).toFixed(2)} s after it answered again`);
    expect(sorted(shim.destinations('tcp', VIP))).toEqual(sorted(wantedOf(await status())));
  }, 60_000);

  it('exports per-call metrics that promtool accepts, and stops cleanly', async () => {
    const text = await metricsText(port);
    for (const [series, min] of [
      ['lvsd_ipvs_commands_total{command="read",result="ok"}', 4],
      ['lvsd_ipvs_commands_total{command="read",result="error"}', 8],
      ['lvsd_ipvs_commands_total{command="batch",result="error"}', 1],
      ['lvsd_ipvs_commands_total{command="change",result="ok"}', 3],
      ['lvsd_ipvs_commands_total{command="change",result="timeout"}', 2],
      ['lvsd_ipvs_commands_total{command="stats",result="ok"}', 2],
      ['lvsd_ipvs_command_duration_seconds_count{command="read"}', 8],
      ['lvsd_ipvs_command_duration_seconds_count{command="batch"}', 1],
    ] as const) {
      expect(sample(text, series), series).toBeGreaterThanOrEqual(min);
    }
    expect(text).toContain('# TYPE lvsd_ipvs_command_duration_seconds histogram');
    expect(sample(text, 'lvsd_ipvs_in_sync')).toBe(1);
    expect(sample(text, 'lvsd_ipvs_stats_up')).toBe(1);
    const promtool = which('promtool');
    if (promtool) expect(await promtoolCheck(promtool, text)).toEqual({ code: 0, output: '' });
    else console.warn('promtool not found: exposition not checked (apt-get install prometheus)');
    lvsd.child.kill('SIGTERM');
    expect(await lvsd.exited()).toEqual({ code: 0, signal: null });
    // the table stays (no cleanup_on_exit)
    expect(shim.destinations('tcp', VIP)?.size).toBe(8);
  }, 30_000);
});

describe('ipvsadm at start-up (the ipvsadm shim)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-faults-start-'));
  const cfg = path.join(dir, 'lvsd.yaml');
  const servers: Switchable[] = [];
  const shims: IpvsadmShim[] = [];
  const shim = (): IpvsadmShim => {
    const s = IpvsadmShim.create(OTHER_RULES);
    shims.push(s);
    return s;
  };

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) servers.push(await switchable());
    writeFileSync(cfg, configYaml(dir, servers.map((s) => s.port)));
  });

  afterAll(async () => {
    await killLvsds();
    for (const s of shims) s.close();
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('an ipvsadm that cannot be started, or a kernel without IPVS (as ipvsadm reports it), stops lvsd run with the reason', async () => {
    const broken = shim();
    broken.breakProgram();
    const noIpvs = shim();
    noIpvs.setFaults({ fail: { message: "Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?" } });
    const a = spawnLvsdWith(['run', '-c', cfg], { ...process.env, PATH: broken.path });
    const b = spawnLvsdWith(['run', '-c', cfg], { ...process.env, PATH: noIpvs.path });
    expect(await a.exited()).toMatchObject({ code: 1 });
    expect(a.output()).toContain(`lvsd: the ipvsadm IPVS driver cannot read the table: ${broken.program}: cannot run (ENOENT)`);
    expect(await b.exited()).toMatchObject({ code: 1 });
    expect(b.output()).toMatch(/lvsd: the ipvsadm IPVS driver cannot read the table: ipvsadm -(S -n|Ln --exact --thresholds): Can't initialize ipvs: Protocol not available/);
    expect(b.output()).toContain('(is the ip_vs kernel module loaded? modprobe ip_vs)');
  }, 30_000);

  it('a hanging ipvsadm at start: lvsd starts, reports out of sync, and converges once ipvsadm answers', async () => {
    const s = shim();
    s.setFaults({ hang: true });
    const t0 = Date.now();
    const lvsd = spawnLvsdWith(['run', '-c', cfg], { ...process.env, PATH: s.path });
    const port = await apiPort(lvsd, 30_000);
    console.log(`hanging ipvsadm at start: api up after ${((Date.now() - t0) / 1000).toFixed(2)} s (start-up read and first pass each killed at ${TIMEOUT_MS} ms)`);
    const startLog = lvsd.logs().find((e) => typeof e.msg === 'string' && e.msg.startsWith('ipvsadm failed at start-up'));
    expect(startLog?.err).toMatch(/no answer within 2000ms \(killed\)/);
    // the scrape does not wait for ipvsadm beyond the timeout: lvsd's own series answer
    const text = await metricsText(port);
    expect(sample(text, 'lvsd_ipvs_in_sync')).toBe(0);
    expect(sample(text, 'lvsd_ipvs_stats_up')).toBe(0);
    expect(sample(text, 'lvsd_ipvs_commands_total{command="read",result="timeout"}')).toBeGreaterThanOrEqual(4);
    s.clearFaults();
    const cleared = Date.now();
    await waitFor(async () => (await getJson<Status>(port, '/status')).ipvs.last_reconcile?.converged === true, 20_000, 'convergence', 100);
    console.log(`hanging ipvsadm at start: converged ${((Date.now() - cleared) / 1000).toFixed(2)} s after it answered`);
    expect(sorted(s.destinations('tcp', VIP))).toEqual(sorted(wantedOf(await getJson<Status>(port, '/status'))));
    expect(sorted(s.destinations('tcp', OTHER))).toEqual([['198.51.100.1:80', 'route 2']]);
    lvsd.child.kill('SIGTERM');
    expect(await lvsd.exited()).toEqual({ code: 0, signal: null });
  }, 60_000);
});
