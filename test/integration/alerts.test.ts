/**
 * Alerts end to end: `lvsd run` with real probes of loopback realservers and a real webhook
 * receiver. A receiver that fails its first requests: delivered in order, signed. A receiver
 * down for a minute: nothing lost, order kept, the queue gauges show the wait. A daemon killed
 * with undelivered alerts: delivered after the restart under the same idempotency keys.
 * A scheduled drain: weight 0 for a while, drain_started / drain_finished alerts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/alerts/formats.js';
import type { AlertEvent } from '../../src/alerts/types.js';
import { killAll, spawnLvsd, waitForLine } from '../support/cli.js';
import { startHttp, type HttpTestServer } from '../support/servers.js';
import { waitFor } from '../support/wait.js';

const SECRET = 'test-secret-0123456789';

/** a webhook receiver that can refuse requests or be down (port closed), and records what it accepted */
class Receiver {
  readonly accepted: { event: AlertEvent; headers: http.IncomingHttpHeaders; raw: string }[] = [];
  attempts = 0;
  failNext = 0;
  private server: http.Server | undefined;
  private readonly sockets = new Set<import('node:net').Socket>();
  port = 0;

  async up(): Promise<void> {
    const server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => { raw += d.toString(); });
      req.on('end', () => {
        this.attempts++;
        if (this.failNext > 0) {
          this.failNext--;
          res.statusCode = 503;
          res.end('busy');
          return;
        }
        this.accepted.push({ event: JSON.parse(raw) as AlertEvent, headers: req.headers, raw });
        res.end('ok');
      });
    });
    server.on('connection', (s) => { this.sockets.add(s); s.once('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', () => resolve()));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** accepted alerts about realservers and drains (service and failover events set aside) */
  types(): string[] {
    return this.accepted.map((a) => `${a.event.type} ${a.event.realserver ?? a.event.service ?? ''}`);
  }
}

describe('alerts from a running lvsd', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-alerts-'));
  const receiver = new Receiver();
  let healthy = true;
  let rs: HttpTestServer;
  let other: HttpTestServer;
  let child: ReturnType<typeof spawnLvsd>;
  let port = 0;
  const log: string[] = [];
  const A = (): string => `127.0.0.1:${rs.port}`;

  const start = async (extra = ''): Promise<void> => {
    const cfg = path.join(dir, 'lvsd.yaml');
    writeFileSync(path.join(dir, 'secret'), `${SECRET}\n`, { mode: 0o600 });
    writeFileSync(cfg, `
node: { name: alert-test }
api: { listen: "127.0.0.1:0", socket: false }
ipvs: { driver: memory }
state_dir: ${path.join(dir, 'state')}
defaults: { interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }
alerts:
  - name: hook
    webhook: { url: "http://127.0.0.1:${receiver.port}/lvsd", secret_file: ${path.join(dir, 'secret')} }
    on: [realserver_down, realserver_up, drain_started, drain_finished]
    retry_initial: 100ms
    retry_max: 1s
${extra}
services:
  - name: web
    address: 192.0.2.10:80
    check: { type: http }
    realservers:
      - { address: "${A()}", weight: 4 }
      - { address: "127.0.0.1:${other.port}", weight: 2 }
`);
    child = spawnLvsd(['run', '-c', cfg]);
    child.stdout!.on('data', (d: Buffer) => log.push(...d.toString().split('\n').filter(Boolean)));
    const line = await waitForLine(child, /"msg":"api listening"/);
    port = (JSON.parse(line) as { listen: { port: number } }).listen.port;
  };
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{target="hook"}`));
    return line ? Number(line.split(' ').at(-1)) : Number.NaN;
  };
  const state = async (): Promise<string> => {
    const st = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { services: { realservers: { id: string; state: string; weight: number | null }[] }[] };
    const r = st.services[0]!.realservers.find((x) => x.id === A())!;
    return `${r.state} ${r.weight}`;
  };
  /** flip realserver A and wait until lvsd has seen it */
  const flip = async (up: boolean): Promise<void> => {
    healthy = up;
    await waitFor(async () => (await state()).startsWith(up ? 'UP' : 'DOWN'), 10_000, `A ${up ? 'UP' : 'DOWN'}`);
  };

  beforeAll(async () => {
    rs = await startHttp((_req, res) => { res.statusCode = healthy ? 200 : 503; res.end(healthy ? 'ok' : 'no'); });
    other = await startHttp((_req, res) => res.end('ok'));
    await receiver.up();
    await start();
    await waitFor(async () => (await state()) === 'UP 4', 10_000, 'A UP');
  }, 30_000);

  afterAll(async () => {
    await killAll();
    await receiver.down();
    await rs.close();
    await other.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a receiver that refuses the first requests gets every alert, in order, signed, keyed', async () => {
    receiver.failNext = 3;
    await flip(false);
    await flip(true);
    await waitFor(() => receiver.accepted.length >= 2, 15_000, 'two alerts accepted');
    expect(receiver.types()).toEqual([`realserver_down ${A()}`, `realserver_up ${A()}`]);
    expect(receiver.attempts).toBe(5);
    const [down, up] = receiver.accepted;
    expect(down!.event.seq).toBeLessThan(up!.event.seq);
    expect(down!.event).toMatchObject({ node: 'alert-test', service: 'web', failures: 1, repeat: 0 });
    expect(down!.event.detail).toMatch(/HTTP 503/);
    for (const a of receiver.accepted) {
      expect(verifySignature(a.raw, String(a.headers['x-lvsd-signature']), SECRET)).toBe(true);
      expect(a.headers['idempotency-key']).toBe(a.event.id);
    }
    // the receiver records a request before lvsd reads its answer: wait for lvsd to count it
    const metricsText = async (): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    await waitFor(async () => (await metricsText()).includes('lvsd_alerts_sent_total{target="hook",result="sent"} 2'), 5_000, 'two alerts counted as sent');
    expect(await metric('lvsd_alerts_queue_depth')).toBe(0);
    const sent = await metricsText();
    expect(sent).toContain('lvsd_alerts_sent_total{target="hook",result="failed"} 3');
  }, 30_000);

  it('a receiver down for a minute loses nothing: the alerts wait on disk and go out in order', async () => {
    receiver.accepted.length = 0;
    await receiver.down();
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) {
      await flip(false);
      await flip(true);
    }
    await waitFor(async () => (await metric('lvsd_alerts_queue_depth')) === 6, 10_000, 'six alerts queued');
    await new Promise((r) => setTimeout(r, Math.max(0, 60_000 - (Date.now() - t0))));
    expect(await metric('lvsd_alerts_queue_oldest_age_seconds')).toBeGreaterThan(50);
    await receiver.up();
    await waitFor(() => receiver.accepted.length >= 6, 20_000, 'six alerts after the receiver is back');
    expect(receiver.types()).toEqual(Array.from({ length: 3 }, () => [`realserver_down ${A()}`, `realserver_up ${A()}`]).flat());
    const seqs = receiver.accepted.map((a) => a.event.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(6);
    // the receiver records the last one before lvsd has read the answer and shifted its queue
    await waitFor(async () => (await metric('lvsd_alerts_queue_depth')) === 0, 5_000, 'queue empty');
  }, 120_000);

  it('a daemon killed with undelivered alerts delivers them after the restart, under the same keys', async () => {
    receiver.accepted.length = 0;
    await receiver.down();
    const queuedBefore = log.filter((l) => l.includes('"msg":"alert queued"')).length;
    await flip(false);
    await flip(true);
    await waitFor(() => log.filter((l) => l.includes('"msg":"alert queued"')).length >= queuedBefore + 2, 10_000, 'two alerts queued');
    const ids = log.filter((l) => l.includes('"msg":"alert queued"')).slice(-2).map((l) => (JSON.parse(l) as { id: string }).id);
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
    await receiver.up();
    // A is UP again before the restart: the new daemon has nothing new to say about it.
    // The drain is due at a second 10 s ahead (once a minute): time enough for the cold start
    const drainSecond = new Date(Date.now() + 10_000).getSeconds();
    const extra = `schedules:\n  - cron: "${drainSecond} * * * * *"\n    drain: { service: web, realserver: "127.0.0.1:PORT", for: 1s }\n`;
    await start(extra.replace('PORT', String(rs.port)));
    await waitFor(() => receiver.accepted.length >= 2, 15_000, 'the two alerts after the restart');
    expect(receiver.accepted.slice(0, 2).map((a) => a.event.id)).toEqual(ids);
    expect(receiver.types().slice(0, 2)).toEqual([`realserver_down ${A()}`, `realserver_up ${A()}`]);

    // the scheduled drain: weight 0 for a second, then back, with its two alerts
    await waitFor(async () => (await state()) === 'DRAINING 0', 20_000, `A drained by the schedule (second ${drainSecond})`);
    await waitFor(async () => (await state()) === 'UP 4', 5_000, 'A undrained after 1s');
    await waitFor(() => receiver.accepted.length >= 4, 10_000, 'drain alerts');
    expect(receiver.types().slice(2)).toEqual([`drain_started ${A()}`, `drain_finished ${A()}`]);
    expect(receiver.accepted[2]!.event.detail).toMatch(/^schedule "/);
    // at least once, never a different alert twice: ids are unique per alert
    const byId = new Map(receiver.accepted.map((a) => [a.event.id, a.event.type]));
    expect(byId.size).toBe(4);
  }, 90_000);
});
