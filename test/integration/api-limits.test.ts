/**
 * The API against hostile and careless clients, on a running `lvsd run`: bodies over the limit,
 * unknown fields and parameters, bad paths, slow clients, connection floods; and the token and
 * webhook secret never showing in logs, replies or /status, whatever a client does.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_API_CONNECTIONS } from '../../src/api/server.js';
import { killAll, runLvsd, spawnLvsd, waitForLine } from '../support/cli.js';
import { startHealthyHttp, startHttp, type HttpTestServer } from '../support/servers.js';
import { waitFor } from '../support/wait.js';

const TOKEN = 'api-limits-token-5f2c9a7e1b3d';
const SECRET = 'api-limits-webhook-secret-8e4a';

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: string }

describe('the API under hostile input', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-api-'));
  const cfg = path.join(dir, 'lvsd.yaml');
  const output: string[] = [];
  const answers: string[] = [];
  const hooks: string[] = [];
  let child: ReturnType<typeof spawnLvsd>;
  let port = 0;
  let rs: HttpTestServer;
  let down: HttpTestServer;
  let receiver: HttpTestServer;
  const A = (): string => `127.0.0.1:${rs.port}`;
  const open: net.Socket[] = [];

  const writeConfig = (weight: number): void => writeFileSync(cfg, `
node: { name: api-limits }
api: { listen: "127.0.0.1:0", socket: false, token_file: ${path.join(dir, 'token')} }
ipvs: { driver: memory }
state_dir: ${path.join(dir, 'state')}
defaults: { interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }
alerts:
  - name: hook
    webhook: { url: "http://127.0.0.1:${receiver.port}/hook", secret_file: ${path.join(dir, 'secret')} }
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: http }
    realservers:
      - { address: "${A()}", weight: ${weight} }
      - { address: "127.0.0.1:${down.port}" }
`);

  /** one request on its own connection; every answer is kept for the secrets check */
  const request = (method: string, urlPath: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent: false, headers: { connection: 'close', ...headers } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { text += d; });
        res.on('end', () => {
          answers.push(text, JSON.stringify(res.headers));
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const rsPath = (action: string): string => `/api/v1/services/web/realservers/${encodeURIComponent(A())}/${action}`;

  beforeAll(async () => {
    rs = await startHealthyHttp();
    down = await startHttp((_req, res) => { res.statusCode = 503; res.end(); });
    receiver = await startHttp((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => { text += d.toString(); });
      req.on('end', () => {
        hooks.push(text, JSON.stringify(req.headers));
        res.end();
      });
    });
    writeFileSync(path.join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(path.join(dir, 'secret'), `${SECRET}\n`, { mode: 0o600 });
    writeConfig(3);
    child = spawnLvsd(['run', '-c', cfg, '--log-level', 'debug']);
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    const line = await waitForLine(child, /"msg":"api listening"/);
    port = (JSON.parse(line) as { listen: { port: number } }).listen.port;
    // a signed alert went out: the secret was used
    await waitFor(() => hooks.some((h) => h.includes('realserver_down')), 15_000, 'the realserver_down alert');
  }, 40_000);

  afterAll(async () => {
    for (const s of open) s.destroy();
    await killAll();
    await Promise.all([rs, down, receiver].map((s) => s?.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a body over 64 KiB with 413, whether it says so up front or streams it', async () => {
    /** the status line the daemon answers while the client is still sending (a raw socket: the daemon closes early) */
    const statusWhileSending = (head: string, chunk: Buffer | undefined): Promise<string> => new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      open.push(s);
      let got = '';
      let timer: NodeJS.Timeout | undefined;
      s.on('error', () => {});
      s.on('data', (d: Buffer) => { got += d.toString(); });
      s.once('close', () => {
        clearInterval(timer);
        resolve(got.split('\r\n')[0] ?? '');
      });
      s.write(head);
      if (chunk) timer = setInterval(() => s.write(`${chunk.length.toString(16)}\r\n${chunk.toString()}\r\n`), 5);
    });
    const head = (extra: string): string => `POST ${rsPath('drain')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n${extra}\r\n`;
    expect(await statusWhileSending(head('Content-Length: 71680\r\n'), undefined)).toBe('HTTP/1.1 413 Payload Too Large');
    expect(await statusWhileSending(head('Transfer-Encoding: chunked\r\n'), Buffer.alloc(8192, 'b'))).toBe('HTTP/1.1 413 Payload Too Large');
    expect((await request('GET', '/healthz')).status).toBe(200);
  });

  it('names unknown fields, wrong types, bad paths and query parameters as client errors, and changes nothing', async () => {
    const cases: [string, string, string | undefined, number, RegExp][] = [
      ['POST', rsPath('drain'), '{"reason":"x","forr":"5m"}', 400, /unknown field "forr" \(drain takes reason, for, wait, timeout\)/],
      ['POST', rsPath('drain'), '{"for":300}', 400, /for must be a string/],
      ['POST', rsPath('drain'), '{"for":"soon"}', 400, /for: /],
      ['POST', rsPath('drain'), '{"wait":"yes"}', 400, /wait must be true or false/],
      ['POST', rsPath('drain'), '[1,2]', 400, /must be a JSON object/],
      ['POST', rsPath('drain'), '{"reason":', 400, /not JSON/],
      ['POST', rsPath('weight'), '{"weight":"9"}', 400, /weight must be a number/],
      ['POST', rsPath('weight'), '{"weight":70000}', 400, /weight/],
      ['POST', rsPath('check'), '{"now":true}', 400, /unknown field "now"/],
      ['POST', '/api/v1/reload', '{"dry_run":"true"}', 400, /dry_run must be true or false/],
      ['POST', '/api/v1/services/web/realservers/%E0%A4%A/drain', '{}', 400, /not valid percent-encoding/],
      ['POST', '/api/v1/services/web%ZZ/realservers/1.2.3.4:80/drain', '{}', 400, /not valid percent-encoding/],
      ['POST', `${rsPath('drain')}?for=5m`, '{}', 400, /no query parameters/],
      ['POST', `${rsPath('drain')}/extra`, '{}', 404, /no such path/],
      ['POST', '/api/v1/services/nope/realservers/1.2.3.4:80/drain', '{}', 404, /nope/],
      ['POST', rsPath('explode'), '{}', 404, /no such path/],
      ['DELETE', rsPath('drain'), undefined, 405, /not allowed/],
    ];
    for (const [method, p, body, status, message] of cases) {
      const r = await request(method, p, body, auth);
      expect({ p, body, status: r.status }).toEqual({ p, body, status });
      expect((JSON.parse(r.body) as { error: string }).error).toMatch(message);
    }
    const st = JSON.parse((await request('GET', '/status')).body) as { services: { realservers: { id: string; admin: string; weight_override: number | null }[] }[] };
    expect(st.services[0]!.realservers.find((r) => r.id === A())).toMatchObject({ admin: 'none', weight_override: null });
  });

  it('cuts off a client that sends its headers or its body too slowly', async () => {
    const slow = (head: string, dripping: string): Promise<number> => new Promise((resolve) => {
      const t0 = performance.now();
      const s = net.connect(port, '127.0.0.1');
      open.push(s);
      s.on('error', () => {});
      s.write(head);
      const timer = setInterval(() => s.write(dripping), 500);
      s.once('close', () => {
        clearInterval(timer);
        resolve(performance.now() - t0);
      });
    });
    const [headers, body] = await Promise.all([
      slow('GET /status HTTP/1.1\r\nHost: x\r\n', 'X-a: b\r\n'),
      slow(`POST ${rsPath('check')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 60000\r\n\r\n`, ' '),
    ]);
    // headersTimeout 5 s, requestTimeout 10 s, swept every second; generous bounds on a busy machine
    expect(headers).toBeGreaterThan(4_000);
    expect(headers).toBeLessThan(15_000);
    expect(body).toBeGreaterThan(9_000);
    expect(body).toBeLessThan(20_000);
  }, 30_000);

  it(`holds at most ${MAX_API_CONNECTIONS} connections; the rest are closed at once, and it serves again after`, async () => {
    const extra = 20;
    const sockets = await Promise.all(Array.from({ length: MAX_API_CONNECTIONS + extra }, () => new Promise<{ s: net.Socket; closed: () => boolean }>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      open.push(s);
      let closed = false;
      s.on('error', () => {});
      s.once('close', () => { closed = true; });
      s.once('connect', () => resolve({ s, closed: () => closed }));
    })));
    await waitFor(() => sockets.filter((x) => x.closed()).length >= extra, 5_000, `${extra} connections over the limit closed`);
    expect(sockets.filter((x) => x.closed()).length).toBe(extra);
    for (const x of sockets) x.s.destroy();
    await waitFor(async () => (await request('GET', '/healthz').catch(() => ({ status: 0 }))).status === 200, 5_000, '/healthz after the flood');
  }, 30_000);

  it('never shows the token or the webhook secret: not in logs, replies, /status, /metrics or alerts', async () => {
    // writes with a wrong, a right and no token; a reload that changes something and one that fails
    await request('POST', rsPath('drain'), '{}', { authorization: 'Bearer wrong-token-000000000000' });
    await request('POST', rsPath('drain'), '{}', {});
    expect((await request('POST', rsPath('drain'), '{"reason":"test"}', auth)).status).toBe(200);
    expect((await request('POST', rsPath('ready'), '{}', auth)).status).toBe(200);
    writeConfig(5);
    expect((await request('POST', '/api/v1/reload', '{"dry_run":true}', auth)).status).toBe(200);
    expect((await request('POST', '/api/v1/reload', '{}', auth)).status).toBe(200);
    chmodSync(path.join(dir, 'secret'), 0o644);
    const refused = await request('POST', '/api/v1/reload', '{}', auth);
    expect(refused.status).toBe(422);
    expect(refused.body).toMatch(/readable by others/);
    chmodSync(path.join(dir, 'secret'), 0o600);
    await request('GET', '/status');
    await request('GET', '/metrics');
    await request('GET', '/');
    const failedReload = await runLvsd(['reload', '--url', `http://127.0.0.1:${port}`, '--token-file', path.join(dir, 'nope')]);
    expect(failedReload.code).not.toBe(0);
    const everything = [...output, ...answers, ...hooks, failedReload.stdout, failedReload.stderr].join('\n');
    expect(everything).toContain('api write'); // the logs were captured
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain('wrong-token-000000000000');
  }, 30_000);
});
