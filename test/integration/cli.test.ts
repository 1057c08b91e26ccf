/**
 * The lvsd binary end to end: validate, run, status over the Unix socket, the HTTP API, the
 * demo; bad input gives FILE:LINE:COL lines and no stack trace.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, runLvsd, spawnLvsd, waitForLine } from '../support/cli.js';
import { startHealthyHttp, startStatusHttp, type TestServer } from '../support/servers.js';

const dir = mkdtempSync(join(tmpdir(), 'lvsd-cli-'));
const servers: TestServer[] = [];

afterAll(async () => {
  await killAll();
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    }).on('error', reject).end();
  });
}

const noStack = (s: string) => expect(s).not.toMatch(/^\s+at .+\(.+:\d+:\d+\)$/m);

describe('lvsd validate', () => {
  it('accepts the example config as text (--no-files), and names the files it points at that this machine lacks', async () => {
    const r = await runLvsd(['validate', '--no-files', '-c', 'config/example.yaml']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^config\/example\.yaml: ok \(\d+ services, \d+ realservers\)\n$/);
    expect(r.code).toBe(0);

    const full = await runLvsd(['validate', '-c', 'config/example.yaml']);
    expect(full.code).toBe(1);
    noStack(full.stderr);
    const lines = full.stderr.trim().split('\n');
    expect(lines).toContain('config/example.yaml:72:14: failover.notify.master[0]: program /etc/lvsd/to-master.sh cannot be run: ENOENT: no such file or directory, stat \'/etc/lvsd/to-master.sh\'');
    expect(lines.some((l) => /^config\/example\.yaml:\d+:\d+: alerts\[0\]\.webhook\.secret_file: cannot read \/etc\/lvsd\/hook-secret: ENOENT/.test(l))).toBe(true);
    expect(lines.every((l) => /^config\/example\.yaml:\d+:\d+: /.test(l))).toBe(true);
  });

  it('prints FILE:LINE:COL for every error, exit 1, no stack trace', async () => {
    const bad = write('bad.yaml', [
      'services:',
      '  - name: web',
      '    address: 192.0.2.10:80',
      '    scheduler: fastest',
      '    realservers:',
      '      - address: 198.51.100.300:80',
      '        wieght: 2',
    ].join('\n'));
    const r = await runLvsd(['validate', '-c', bad]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) expect(l).toMatch(new RegExp(`^${bad.replace(/[.]/g, '\\.')}:\\d+:\\d+: `));
    expect(r.stderr).toContain(`${bad}:4:16: `);
    expect(r.stderr).toContain(`${bad}:6:18: `);
    expect(r.stderr).toContain(`${bad}:7:9: `);
    noStack(r.stderr);
  });

  it('says so when the file is missing', async () => {
    const r = await runLvsd(['validate', '-c', join(dir, 'nope.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope\.yaml:1:1: .*(ENOENT|no such file)/i);
    noStack(r.stderr);
  });
});

describe('lvsd run, status and the API', () => {
  let port = 0;
  const socket = join(dir, 'lvsd.sock');
  let child: ReturnType<typeof spawnLvsd>;
  let up: TestServer;
  let down: TestServer;

  beforeAll(async () => {
    up = await startHealthyHttp();
    down = await startStatusHttp(500);
    servers.push(up, down);
    const cfg = write('run.yaml', `
node: { name: cli-test }
api: { listen: "127.0.0.1:0", socket: "${socket}" }
ipvs: { driver: memory }
defaults: { interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: http }
    realservers:
      - { address: "127.0.0.1:${up.port}", weight: 4 }
      - { address: "127.0.0.1:${down.port}", weight: 2 }
`);
    child = spawnLvsd(['run', '-c', cfg]);
    const line = await waitForLine(child, /"msg":"api listening"/);
    port = (JSON.parse(line) as { listen: { port: number } }).listen.port;
    // let both realservers get their first verdict
    await new Promise((r) => setTimeout(r, 1000));
  });

  it('serves /healthz, /status, /metrics and the status page over TCP', async () => {
    expect(await get(port, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    const st = await get(port, '/status');
    expect(st.type).toBe('application/json');
    const status = JSON.parse(st.body) as { node: string; services: { realservers: { id: string; state: string; weight: number | null }[] }[] };
    expect(status.node).toBe('cli-test');
    expect(status.services[0]!.realservers).toEqual([
      expect.objectContaining({ id: `127.0.0.1:${up.port}`, state: 'UP', weight: 4 }),
      expect.objectContaining({ id: `127.0.0.1:${down.port}`, state: 'DOWN', weight: 0 }),
    ]);
    const m = await get(port, '/metrics');
    expect(m.type).toContain('text/plain');
    expect(m.body).toContain(`lvsd_realserver_weight{service="web",realserver="127.0.0.1:${up.port}",check="http"} 4`);
    const page = await get(port, '/');
    expect(page.type).toContain('text/html');
    expect(page.body).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    expect((await get(port, '/nope')).status).toBe(404);
  });

  it('keeps the Unix socket private (0600)', () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
  });

  it('lvsd status prints a table over the socket', async () => {
    const r = await runLvsd(['status', '--socket', socket]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/SERVICE\s+REALSERVER\s+STATE\s+WEIGHT/);
    expect(r.stdout).toMatch(new RegExp(`web\\s+127\\.0\\.0\\.1:${up.port}\\s+UP\\s+4\\s+http:${up.port}\\s+ok`));
    expect(r.stdout).toMatch(new RegExp(`web\\s+127\\.0\\.0\\.1:${down.port}\\s+DOWN\\s+0/2\\s+http:${down.port}\\s+fail .*HTTP 500`));
  });

  it('lvsd status --json prints the status document', async () => {
    const r = await runLvsd(['status', '--json', '--url', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { services: unknown[] }).services).toHaveLength(1);
  });

  it('stops on SIGTERM, exit 0, and removes its socket', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });

  it('lvsd status says in one line when the daemon is unreachable (exit 3)', async () => {
    const r = await runLvsd(['status', '--socket', socket]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('cannot reach lvsd');
  });
});

describe('lvsd run with a bad config', () => {
  it('refuses to start, prints the errors, no stack trace', async () => {
    const bad = write('bad-run.yaml', 'services:\n  - name: web\n    address: 192.0.2.10:99999\n');
    const r = await runLvsd(['run', '-c', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad-run\.yaml:3:14: .*port/);
    noStack(r.stderr);
  });
});

describe('lvsd demo', () => {
  it('runs on loopback, prints the table as ipvsadm lists it, and stops by itself', async () => {
    const r = await runLvsd(['demo', '--listen', '127.0.0.1:0', '--exit-after', '4s', '--flap', '2s'], 30_000);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('status page: http://127.0.0.1:');
    expect(r.stdout).toContain('ipvsadm -A -t 192.0.2.10:80 -s wlc');
    expect(r.stdout).toMatch(/TCP {2}192\.0\.2\.10:80 wlc\n(\s+-> 127\.0\.0\.1\d:\d+ +Masq +\d+ +0 +0\n)+/);
    expect(r.stdout).toMatch(/UNKNOWN -> UP/);
    expect(r.stdout).toContain('lvsd demo stopped');
  }, 40_000);
});
