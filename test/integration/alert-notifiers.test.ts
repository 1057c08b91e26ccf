/**
 * Notifiers against real peers: WebhookNotifier against a loopback HTTP server that answers
 * 200/400/408/429/500 or hangs, ExecNotifier running real commands, and WebhookNotifier
 * (format alertmanager) against a real Alertmanager (Debian's prometheus-alertmanager) that
 * must list the alert as active and drop it once lvsd sends the resolve.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExecNotifier } from '../../src/alerts/exec-notifier.js';
import { verifySignature } from '../../src/alerts/formats.js';
import { ALERT_EVENT_TYPES, type AlertEvent, type DeliveryResult } from '../../src/alerts/types.js';
import { WebhookNotifier, targetUrl } from '../../src/alerts/webhook-notifier.js';
import { needs, which } from '../support/env.js';
import { refusedPort, startHttp, type HttpTestServer } from '../support/servers.js';
import { freePort } from '../support/ports.js';
import { gone, killStrays } from '../support/processes.js';

const EVENT: AlertEvent = {
  seq: 7,
  id: 'lb-test-7',
  type: 'realserver_down',
  at: '2024-05-01T10:00:00.000Z',
  node: 'lb-test',
  service: 'web',
  realserver: '198.51.100.2:80',
  from: 'up',
  to: 'down',
  detail: 'connect ECONNREFUSED',
  failures: 3,
};

/** generous: a loaded CI machine may be slow to fire timers and reap processes */
const MARGIN_MS = 1500;
const never = (): AbortSignal => new AbortController().signal;

/** the clock starts before the call: spawn() blocks until the child has exec'd, and that counts */
async function timed(deliver: () => Promise<DeliveryResult>): Promise<{ r: DeliveryResult; ms: number }> {
  const t0 = performance.now();
  const r = await deliver();
  return { r, ms: performance.now() - t0 };
}

// ---- webhook ----

interface Received { method: string; url: string; headers: IncomingHttpHeaders; body: Buffer; remotePort: number | undefined }
type Answer = { status: number; body?: string } | 'hang' | 'hang-body';

describe('WebhookNotifier against a loopback HTTP server', () => {
  let server: HttpTestServer;
  const received: Received[] = [];
  let answer: Answer = { status: 200 };

  beforeAll(async () => {
    server = await startHttp((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks), remotePort: req.socket.remotePort });
        if (answer === 'hang') return; // never a word: close() destroys the socket
        if (answer === 'hang-body') {
          res.writeHead(200, { 'content-length': '100' });
          res.write('partial');
          return;
        }
        res.statusCode = answer.status;
        res.end(answer.body ?? '');
      });
    });
  });
  afterEach(() => {
    received.length = 0;
    answer = { status: 200 };
  });
  afterAll(async () => {
    await server.close();
  });

  const url = (p = '/hook'): string => `http://127.0.0.1:${server.port}${p}`;

  it('200: delivered; the server got a POST of the event JSON whose signature verifies', async () => {
    answer = { status: 200, body: 'thanks' };
    const n = new WebhookNotifier({ url: url(), format: 'generic', secret: 'hook-secret' });
    expect(await n.deliver(EVENT, never())).toEqual({ ok: true });
    expect(received).toHaveLength(1);
    const got = received[0]!;
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/hook');
    expect(JSON.parse(got.body.toString('utf8'))).toEqual(EVENT);
    expect(got.headers).toMatchObject({
      'content-type': 'application/json', 'x-lvsd-event': 'realserver_down', 'x-lvsd-seq': '7', 'idempotency-key': 'lb-test-7',
    });
    const sig = got.headers['x-lvsd-signature'];
    expect(typeof sig).toBe('string');
    expect(verifySignature(got.body, sig as string, 'hook-secret')).toBe(true);
  });

  it('no secret: no signature header', async () => {
    const n = new WebhookNotifier({ url: url(), format: 'generic' });
    expect(await n.deliver(EVENT, never())).toEqual({ ok: true });
    expect(received[0]!.headers['x-lvsd-signature']).toBeUndefined();
  });

  it('500, 429 and 408 are retryable failures quoting the status and the first 200 chars of the body', async () => {
    const n = new WebhookNotifier({ url: url(), format: 'generic' });
    answer = { status: 500, body: `oops ${'x'.repeat(1000)}` };
    const r500 = await n.deliver(EVENT, never());
    expect(r500.ok).toBe(false);
    if (r500.ok) return;
    expect(r500.permanent).toBeUndefined();
    expect(r500.error).toMatch(/^HTTP 500: oops x+…$/);
    expect(r500.error.length).toBeLessThan(220);
    for (const status of [429, 408, 503]) {
      answer = { status, body: 'slow down' };
      expect(await n.deliver(EVENT, never())).toEqual({ ok: false, error: `HTTP ${status}: slow down` });
    }
  });

  it('400 and 404 are permanent failures', async () => {
    const n = new WebhookNotifier({ url: url(), format: 'generic' });
    answer = { status: 400, body: 'bad payload' };
    expect(await n.deliver(EVENT, never())).toEqual({ ok: false, permanent: true, error: 'HTTP 400: bad payload' });
    answer = { status: 404 };
    expect(await n.deliver(EVENT, never())).toEqual({ ok: false, permanent: true, error: 'HTTP 404' });
  });

  // the deadline is the signal: the Deliverer aborts it at the alert's timeout
  it('a server that never answers: a retryable failure at the deadline, not later', async () => {
    answer = 'hang';
    const n = new WebhookNotifier({ url: url(), format: 'generic' });
    const { r, ms } = await timed(() => n.deliver(EVENT, AbortSignal.timeout(300)));
    expect(r).toEqual({ ok: false, error: 'aborted' });
    expect(ms).toBeGreaterThanOrEqual(280);
    expect(ms).toBeLessThan(300 + MARGIN_MS);
  });

  it('the deadline is total: headers in time but a body that never ends still fails at it', async () => {
    answer = 'hang-body';
    const n = new WebhookNotifier({ url: url(), format: 'generic' });
    const { r, ms } = await timed(() => n.deliver(EVENT, AbortSignal.timeout(300)));
    expect(r).toEqual({ ok: false, error: 'aborted' });
    expect(ms).toBeGreaterThanOrEqual(280);
    expect(ms).toBeLessThan(300 + MARGIN_MS);
  });

  it('the caller\'s signal aborts the attempt at once', async () => {
    answer = 'hang';
    const n = new WebhookNotifier({ url: url(), format: 'generic' });
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 100);
    const { r, ms } = await timed(() => n.deliver(EVENT, ctl.signal));
    expect(r).toEqual({ ok: false, error: 'aborted' });
    expect(ms).toBeLessThan(100 + MARGIN_MS);
    expect(await n.deliver(EVENT, ctl.signal)).toMatchObject({ ok: false });
  });

  it('connection refused: retryable, with the reason', async () => {
    const refused = await refusedPort();
    const n = new WebhookNotifier({ url: `http://127.0.0.1:${refused.port}/`, format: 'generic' });
    const r = await n.deliver(EVENT, never());
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.permanent).toBeUndefined();
    expect(r.error).toMatch(/ECONNREFUSED/);
  });

  it('an event that cannot be rendered and a URL that is not one are permanent failures', async () => {
    const am = new WebhookNotifier({ url: url(), format: 'alertmanager' });
    expect(await am.deliver({ ...EVENT, at: 'not a time' }, never())).toMatchObject({ ok: false, permanent: true });
    const bad = new WebhookNotifier({ url: 'not a url', format: 'generic' });
    expect(await bad.deliver(EVENT, never())).toMatchObject({ ok: false, permanent: true });
    expect(received).toHaveLength(0);
  });

  it('bodies are drained: deliveries back to back through one keep-alive pool use one connection', async () => {
    const agent = new Agent();
    try {
      answer = { status: 200, body: 'y'.repeat(20_000) };
      const n = new WebhookNotifier({ url: url(), format: 'slack', dispatcher: agent });
      expect(await n.deliver(EVENT, never())).toEqual({ ok: true });
      expect(await n.deliver({ ...EVENT, seq: 8, id: 'lb-test-8' }, never())).toEqual({ ok: true });
      expect(await n.deliver({ ...EVENT, seq: 9, id: 'lb-test-9' }, never())).toEqual({ ok: true });
      expect(received).toHaveLength(3);
      // by the client's port: the server's connection count would also see undici re-dialling after earlier aborts
      expect(new Set(received.map((r) => r.remotePort)).size).toBe(1);
      expect(JSON.parse(received[1]!.body.toString('utf8'))).toEqual({
        text: '[lb-test] realserver_down web 198.51.100.2:80 up→down: connect ECONNREFUSED (after 3 failures)',
      });
      expect(received[1]!.headers['idempotency-key']).toBe('lb-test-8');
    } finally {
      await agent.destroy();
    }
  });

  it('alertmanager: /api/v2/alerts is appended to the base URL once', async () => {
    for (const base of ['', '/', '/api/v2/alerts', '/am/']) {
      const n = new WebhookNotifier({ url: url(base), format: 'alertmanager' });
      expect(await n.deliver(EVENT, never())).toEqual({ ok: true });
    }
    expect(received.map((r) => r.url)).toEqual(['/api/v2/alerts', '/api/v2/alerts', '/api/v2/alerts', '/am/api/v2/alerts']);
    expect(targetUrl('http://am:9093/x?y=1', '/api/v2/alerts').href).toBe('http://am:9093/x/api/v2/alerts?y=1');
  });
});

// ---- exec ----

describe('ExecNotifier running real commands', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lvsd-alert-exec-'));
  /** grandchildren the tests started, killed by PID in afterAll if the notifier failed to */
  const strays: number[] = [];
  afterAll(() => {
    killStrays(strays);
    rmSync(dir, { recursive: true, force: true });
  });

  it('exit 0: delivered; the command got the event JSON on stdin and the event env', async () => {
    const json = path.join(dir, 'event.json');
    const env = path.join(dir, 'env.txt');
    // argv: the script is sh's, the file names are its arguments (no string of ours is parsed by a shell)
    const n = new ExecNotifier({
      command: ['sh', '-c', 'cat > "$1" && printf "%s|%s|%s" "$LVSD_EVENT_TYPE" "$LVSD_EVENT_SEQ" "$LVSD_EVENT_ID" > "$2"', 'sh', json, env]
    });
    expect(await n.deliver(EVENT, never())).toEqual({ ok: true });
    expect(JSON.parse(readFileSync(json, 'utf8'))).toEqual(EVENT);
    expect(readFileSync(env, 'utf8')).toBe('realserver_down|7|lb-test-7');
  });

  it('arguments reach the program verbatim, shell metacharacters and all', async () => {
    const out = path.join(dir, 'args.txt');
    const n = new ExecNotifier({ command: ['sh', '-c', 'printf "%s" "$1" > "$2"', 'sh', '$(touch pwned); `id` | ; *', out] });
    expect(await n.deliver(EVENT, never())).toEqual({ ok: true });
    expect(readFileSync(out, 'utf8')).toBe('$(touch pwned); `id` | ; *');
    expect(existsSync(path.join(process.cwd(), 'pwned'))).toBe(false);
  });

  it('a command that writes a lot to stdout is not blocked by it', async () => {
    const n = new ExecNotifier({ command: ['sh', '-c', 'head -c 2000000 /dev/zero'] });
    expect(await n.deliver(EVENT, never())).toEqual({ ok: true });
  });

  it('non-zero exit: a retryable failure quoting stderr', async () => {
    const n = new ExecNotifier({ command: ['sh', '-c', 'cat >/dev/null; echo "hook said no" >&2; exit 3'] });
    expect(await n.deliver(EVENT, never())).toEqual({ ok: false, error: 'sh: exit 3: hook said no' });
  });

  it('stderr is quoted to 200 characters', async () => {
    const n = new ExecNotifier({ command: ['sh', '-c', 'head -c 5000 /dev/zero | tr "\\0" e >&2; exit 1'] });
    const r = await n.deliver(EVENT, never());
    expect(r).toEqual({ ok: false, error: `sh: exit 1: ${'e'.repeat(200)}…` });
  });

  it('past the deadline the command and what it forked are killed: a failure at the deadline', async () => {
    const pidFile = path.join(dir, 'grandchild.pid');
    // sh waits for a background sleep that holds our pipes: both must die at the deadline
    const n = new ExecNotifier({ command: ['sh', '-c', 'sleep 30 & echo $! > "$1"; wait', 'sh', pidFile] });
    const { r, ms } = await timed(() => n.deliver(EVENT, AbortSignal.timeout(300)));
    const grandchild = Number(readFileSync(pidFile, 'utf8').trim());
    strays.push(grandchild);
    expect(r).toEqual({ ok: false, error: 'sh: aborted (killed)' });
    expect(ms).toBeGreaterThanOrEqual(280);
    expect(ms).toBeLessThan(300 + MARGIN_MS);
    expect(await gone(grandchild, 1000)).toBe(true);
  });

  it('what the command leaves running is killed at its exit, which is the answer', async () => {
    const pidFile = path.join(dir, 'leftover.pid');
    // the background sleep keeps our stdout open: without the kill the pipes would close in 30 s
    const n = new ExecNotifier({ command: ['sh', '-c', 'sleep 30 & echo $! > "$1"', 'sh', pidFile] });
    const { r, ms } = await timed(() => n.deliver(EVENT, never()));
    const leftover = Number(readFileSync(pidFile, 'utf8').trim());
    strays.push(leftover);
    expect(r).toEqual({ ok: true });
    expect(ms).toBeLessThan(MARGIN_MS);
    expect(await gone(leftover, 1000)).toBe(true);
  });

  it('the caller\'s signal kills the command at once', async () => {
    const n = new ExecNotifier({ command: ['sleep', '30'] });
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 100);
    const { r, ms } = await timed(() => n.deliver(EVENT, ctl.signal));
    expect(r).toEqual({ ok: false, error: 'sleep: aborted (killed)' });
    expect(ms).toBeLessThan(100 + MARGIN_MS);
  });

  it('a program that does not exist: retryable, with the reason; an empty command or a NUL in argv: permanent', async () => {
    const missing = new ExecNotifier({ command: [path.join(dir, 'no-such-hook')] });
    expect(await missing.deliver(EVENT, never())).toEqual({ ok: false, error: `cannot run ${path.join(dir, 'no-such-hook')}: ENOENT` });
    expect(await new ExecNotifier({ command: [] }).deliver(EVENT, never()))
      .toEqual({ ok: false, permanent: true, error: 'empty command' });
    // a NUL byte in argv can never run
    expect(await new ExecNotifier({ command: ['sh', '-c', 'exit 0\0'] }).deliver(EVENT, never()))
      .toMatchObject({ ok: false, permanent: true, error: expect.stringMatching(/^cannot run sh: /) as unknown });
  });
});

// ---- a real Alertmanager ----

const alertmanager = which('prometheus-alertmanager');
const am = needs(alertmanager !== null, 'prometheus-alertmanager (apt-get install prometheus-alertmanager)');


interface AmAlert { labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string; status: { state: string } }

am.describe('WebhookNotifier (alertmanager) against a real Alertmanager', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lvsd-am-'));
  let proc: ChildProcess | undefined;
  let log = '';
  let base = '';

  const alerts = async (): Promise<AmAlert[]> => {
    const r = await fetch(`${base}/api/v2/alerts`);
    if (r.status !== 200) throw new Error(`GET /api/v2/alerts: HTTP ${r.status}`);
    return (await r.json()) as AmAlert[];
  };
  /** poll until `cond` holds for the listed alerts; the last listing otherwise (with Alertmanager's log) */
  const until = async (what: string, cond: (list: AmAlert[]) => boolean, timeoutMs = 15_000): Promise<AmAlert[]> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const list = await alerts().catch(() => undefined);
      if (list && cond(list)) return list;
      if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms; listed: ${JSON.stringify(list)}\n${log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // a route to a receiver with no integrations: Alertmanager keeps and lists alerts, sends nothing
    writeFileSync(path.join(dir, 'am.yml'), 'route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n');
    proc = spawn(alertmanager!, [
      `--config.file=${path.join(dir, 'am.yml')}`, `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
    proc.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    const end = Date.now() + 20_000;
    for (;;) {
      const ready = await fetch(`${base}/-/ready`).then((r) => r.status === 200, () => false);
      if (ready) break;
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`Alertmanager did not get ready:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 30_000);

  afterAll(async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc!.once('exit', r));
      proc.kill('SIGKILL'); // by PID: this child only
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  am.it('a realserver_down is listed active with lvsd\'s labels; the realserver_up resolves it', async () => {
    const n = new WebhookNotifier({ url: base, format: 'alertmanager' });
    const downAt = new Date(Date.now() - 60_000).toISOString();
    const down: AlertEvent = { ...EVENT, node: 'lb-am', at: downAt };
    expect(await n.deliver(down, never())).toEqual({ ok: true });
    const labels = { alertname: 'LvsdRealserverDown', node: 'lb-am', service: 'web', realserver: '198.51.100.2:80', severity: 'warning' };
    const ours = (list: AmAlert[]): AmAlert[] => list.filter((a) => a.labels.node === 'lb-am');
    const firing = ours(await until('the alert listed active', (l) => ours(l).some((a) => a.status.state === 'active')));
    expect(firing).toHaveLength(1);
    expect(firing[0]!.labels).toEqual(labels);
    expect(firing[0]!.annotations.summary).toBe('realserver 198.51.100.2:80 of service web is down on lb-am');
    expect(Date.parse(firing[0]!.startsAt)).toBe(Date.parse(downAt));

    // a repeat of the same condition is the same alert, not a second one: Alertmanager merges it
    // (the repeat's annotations, the first one's start)
    expect(await n.deliver({ ...down, seq: 8, id: 'lb-am-8', repeat: 1, at: new Date().toISOString() }, never())).toEqual({ ok: true });
    const merged = ours(await until('the repeat merged', (l) => ours(l).some((a) => a.annotations.summary?.endsWith('(repeat 1)') === true)));
    expect(merged).toHaveLength(1);
    expect(Date.parse(merged[0]!.startsAt)).toBe(Date.parse(downAt));

    const up: AlertEvent = {
      seq: 9, id: 'lb-am-9', type: 'realserver_up', at: new Date().toISOString(), node: 'lb-am', service: 'web',
      realserver: '198.51.100.2:80', from: 'down', to: 'up', detail: 'HTTP 200', since: downAt,
    };
    expect(await n.deliver(up, new AbortController().signal)).toEqual({ ok: true });
    // Alertmanager 0.25 leaves resolved alerts out of GET /api/v2/alerts (active or not)
    await until('the alert resolved', (l) => ours(l).length === 0);
  }, 30_000);

  am.it('accepts every event type lvsd renders (URL given with the API path)', async () => {
    const n = new WebhookNotifier({ url: `${base}/api/v2/alerts`, format: 'alertmanager' });
    const began = new Date(Date.now() - 60_000).toISOString();
    for (const [i, type] of ALERT_EVENT_TYPES.entries()) {
      const recovery = type.endsWith('_up') || type === 'drain_finished';
      const event: AlertEvent = {
        ...EVENT, seq: 100 + i, id: `all-${type}`, type, node: 'lb-all',
        ...(recovery ? { at: new Date().toISOString(), since: began } : { at: began }),
      };
      expect(await n.deliver(event, never()), type).toEqual({ ok: true });
    }
    // firing and one-shot ones listed (each recovery type resolved its own firing one, sent before it)
    const listed = await until('the one-shot alerts listed', (l) => l.filter((a) => a.labels.node === 'lb-all').length === 2);
    expect(listed.filter((a) => a.labels.node === 'lb-all').map((a) => a.labels.alertname).sort())
      .toEqual(['LvsdConfigReloadFailed', 'LvsdFailover']);
  }, 30_000);
});
