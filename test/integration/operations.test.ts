/**
 * Runtime operations end to end, through the `lvsd` CLI against a running `lvsd run`: drain,
 * maint, ready, weight override and check-now on the socket; the TCP write API and its token;
 * overrides across a restart; reload as a diff (no transition on unchanged realservers), its
 * dry run, a bad reload refused with the old config still running, SIGHUP.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, runLvsd, spawnLvsd, waitForLine } from '../support/cli.js';
import { startHealthyHttp, type HttpTestServer } from '../support/servers.js';

const TOKEN = 'operations-test-token-0123456789';

interface Rs { id: string; state: string; weight: number | null; transitions: number; weight_override: number | null; admin: string }
interface Status { services: { name: string; realservers: Rs[] }[] }

describe('operations on a running lvsd', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-ops-'));
  const socket = path.join(dir, 'lvsd.sock');
  const cfg = path.join(dir, 'lvsd.yaml');
  const servers: HttpTestServer[] = [];
  let child: ReturnType<typeof spawnLvsd>;
  let port = 0;
  let a: HttpTestServer;
  let b: HttpTestServer;
  let c: HttpTestServer;
  let d: HttpTestServer;
  const id = (s: HttpTestServer): string => `127.0.0.1:${s.port}`;

  const writeConfig = (realservers: string, extra = ''): void => {
    writeFileSync(path.join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(cfg, `
node: { name: ops-test }
api: { listen: "127.0.0.1:0", socket: "${socket}", token_file: "${path.join(dir, 'token')}" }
ipvs: { driver: memory, drain_before_remove: 0s }
state_dir: ${path.join(dir, 'state')}
defaults: { interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }
${extra}
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: http }
    realservers:
${realservers}
`);
  };
  const start = async (): Promise<void> => {
    child = spawnLvsd(['run', '-c', cfg]);
    const line = await waitForLine(child, /"msg":"api listening"/);
    port = (JSON.parse(line) as { listen: { port: number } }).listen.port;
  };
  const status = async (): Promise<Status> => (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Status;
  const rs = async (s: HttpTestServer): Promise<Rs | undefined> => (await status()).services[0]!.realservers.find((r) => r.id === id(s));
  const until = async (cond: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> => {
    const t0 = Date.now();
    while (!(await cond())) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await status())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const cli = (...args: string[]) => runLvsd([...args, '--socket', socket]);

  beforeAll(async () => {
    [a, b, c, d] = await Promise.all([startHealthyHttp(), startHealthyHttp(), startHealthyHttp(), startHealthyHttp()]);
    servers.push(a, b, c, d);
    writeConfig(`      - { address: "${id(a)}", weight: 4 }\n      - { address: "${id(b)}", weight: 2 }\n      - { address: "${id(d)}", weight: 1 }`);
    await start();
    await until(async () => (await status()).services[0]!.realservers.every((r) => r.state === 'UP'), 'all UP');
  }, 30_000);

  afterAll(async () => {
    await killAll();
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('drain, maint, ready, weight and check through the CLI on the socket', async () => {
    let r = await cli('drain', 'web', id(a), '--reason', 'kernel upgrade');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`web ${id(a)}: DRAINING, weight 0\n`);
    expect(await rs(a)).toMatchObject({ state: 'DRAINING', weight: 0, admin: 'drain' });

    r = await cli('drain', 'web', id(a), '--wait', '--timeout', '5s');
    expect(r.code).toBe(0); // no active connections: returns at once

    r = await cli('maint', 'web', id(b));
    expect(r).toMatchObject({ code: 0, stdout: `web ${id(b)}: MAINT, weight out\n` });
    r = await cli('ready', 'web', id(b));
    expect(r).toMatchObject({ code: 0, stdout: `web ${id(b)}: UP, weight 2\n` });
    r = await cli('undrain', 'web', id(a));
    expect(r).toMatchObject({ code: 0, stdout: `web ${id(a)}: UP, weight 4\n` });

    r = await cli('weight', 'web', id(a), '9');
    expect(r).toMatchObject({ code: 0, stdout: `web ${id(a)}: UP, weight 9 (override 9, config 4)\n` });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain(`lvsd_realserver_weight_override{service="web",realserver="${id(a)}",check="http"} 9`);
    r = await cli('weight', 'web', id(a), 'reset');
    expect(r).toMatchObject({ code: 0, stdout: `web ${id(a)}: UP, weight 4\n` });

    // that it probes at once is shown in daemon-wiring (a fake clock); here, the CLI reaches it
    r = await cli('check', 'web', id(a));
    expect(r).toMatchObject({ code: 0, stdout: `web ${id(a)}: UP, weight 4\n` });

    r = await cli('drain', 'web', '127.0.0.1:1');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`lvsd refused: service web has no realserver 127.0.0.1:1\n`);
    r = await cli('weight', 'web', id(a), 'lots');
    expect(r.code).toBe(2);
  }, 30_000);

  it('writes over TCP need the bearer token: 401 without, 403 when wrong', async () => {
    const url = `http://127.0.0.1:${port}/api/v1/services/web/realservers/${encodeURIComponent(id(a))}/check`;
    expect((await fetch(url, { method: 'POST' })).status).toBe(401);
    expect((await fetch(url, { method: 'POST', headers: { authorization: 'Bearer nope' } })).status).toBe(403);
    expect((await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    const r = await runLvsd(['drain', 'web', id(b), '--url', `http://127.0.0.1:${port}`, '--token-file', path.join(dir, 'token')]);
    expect(r).toMatchObject({ code: 0, stdout: `web ${id(b)}: DRAINING, weight 0\n` });
    const denied = await runLvsd(['ready', 'web', id(b), '--url', `http://127.0.0.1:${port}`]);
    expect(denied).toMatchObject({ code: 1, stderr: 'lvsd refused: missing bearer token\n' });
    expect((await cli('ready', 'web', id(b))).code).toBe(0);
  });

  it('overrides survive a restart', async () => {
    expect((await cli('drain', 'web', id(b))).code).toBe(0);
    expect((await cli('weight', 'web', id(a), '7')).code).toBe(0);
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
    await start();
    // drained from the first moment: before any probe could say UP
    expect(await rs(b)).toMatchObject({ admin: 'drain' });
    await until(async () => (await rs(b))?.state === 'DRAINING' && (await rs(a))?.weight === 7, 'restored overrides');
    expect((await cli('ready', 'web', id(b))).code).toBe(0);
    expect((await cli('weight', 'web', id(a), 'reset')).code).toBe(0);
    await until(async () => (await rs(b))?.state === 'UP', 'b ready');
  }, 30_000);

  it('reload --dry-run prints the plan; reload applies it with no transition on the unchanged realservers', async () => {
    const aBefore = (await rs(a))!.transitions;
    writeConfig(`      - { address: "${id(a)}", weight: 4 }\n      - { address: "${id(b)}", weight: 3 }\n      - { address: "${id(c)}", weight: 1 }`);
    let r = await cli('reload', '--dry-run');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe([
      'would change (dry run):',
      `+ realserver web ${id(c)}`,
      `- realserver web ${id(d)} (drained, then removed)`,
      `~ realserver web ${id(b)} weight 2 -> 3`,
      '= 1 realservers unchanged',
      '',
    ].join('\n'));
    expect((await status()).services[0]!.realservers.map((x) => x.id)).toEqual([id(a), id(b), id(d)]);

    r = await cli('reload');
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('reloaded:\n')).toBe(true);
    await until(async () => (await rs(c))?.state === 'UP' && (await rs(b))?.weight === 3, 'reload applied');
    expect((await status()).services[0]!.realservers.map((x) => x.id)).toEqual([id(a), id(b), id(c)]);
    await new Promise((res) => setTimeout(res, 600)); // a few probe rounds
    expect((await rs(a))!.transitions).toBe(aBefore);
    expect((await rs(a))!.state).toBe('UP');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('lvsd_config_reloads_total{result="success"} 1');
    expect(metrics).not.toContain(`realserver="${id(d)}"`);
  }, 30_000);

  it('a bad reload is refused with FILE:LINE:COL and the old config keeps running; SIGHUP reloads', async () => {
    writeFileSync(cfg, 'services:\n  - name: web\n    address: 192.0.2.10:99999\n');
    const r = await cli('reload');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${cfg}:3:14: `);
    expect(r.stderr).toMatch(/^lvsd refused the config, nothing changed:/);
    expect((await status()).services[0]!.realservers.map((x) => x.id)).toEqual([id(a), id(b), id(c)]);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('lvsd_config_reloads_total{result="failure"} 1');
    expect(metrics).toContain('lvsd_config_last_reload_successful 0');

    // a valid text that names a secret file that is not there: refused before anything applies
    const missing = path.join(dir, 'no-such-secret');
    writeConfig(`      - { address: "${id(a)}", weight: 9 }`, `alerts:\n  - name: ops\n    webhook: { url: "http://127.0.0.1:9/hook", secret_file: ${missing} }`);
    const r2 = await cli('reload');
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain(`${cfg}:9:61: alerts[0].webhook.secret_file: cannot read ${missing}: ENOENT`);
    expect((await status()).services[0]!.realservers.map((x) => x.id)).toEqual([id(a), id(b), id(c)]);
    expect((await rs(a))?.weight).not.toBe(9);

    writeConfig(`      - { address: "${id(a)}", weight: 6 }\n      - { address: "${id(b)}", weight: 3 }\n      - { address: "${id(c)}", weight: 1 }`);
    child.kill('SIGHUP');
    await until(async () => (await rs(a))?.weight === 6, 'SIGHUP reload');
    expect(child.exitCode).toBeNull();
  }, 30_000);
});
