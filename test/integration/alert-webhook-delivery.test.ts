/**
 * Deliverer + AlertQueue (real files) + WebhookNotifier (generic format) against a real HTTP
 * receiver on 127.0.0.1, on the real clock with short backoffs: a receiver that answers 503 for a
 * while, and one that is down (port closed) for ~3 s and then comes up on the same port.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Deliverer, type DeliveryObserver } from '../../src/alerts/delivery.js';
import { AlertQueue } from '../../src/alerts/queue.js';
import type { AlertEvent } from '../../src/alerts/types.js';
import { WebhookNotifier } from '../../src/alerts/webhook-notifier.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';

const log = silentLogger();

interface Receiver {
  readonly port: number;
  /** every request's body, parsed, in arrival order, with the status it got */
  readonly requests: { event: AlertEvent; status: number }[];
  close(): Promise<void>;
}

/** An HTTP receiver on 127.0.0.1; `status(n)` picks the answer to the nth request (1-based). */
async function startReceiver(port: number, status: (n: number) => number): Promise<Receiver> {
  const requests: { event: AlertEvent; status: number }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const code = status(requests.length + 1);
      requests.push({ event: JSON.parse(Buffer.concat(chunks).toString('utf8')) as AlertEvent, status: code });
      res.writeHead(code, { 'content-type': 'text/plain' }).end(code === 200 ? 'ok' : 'busy');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function ev(seq: number): AlertEvent {
  return { seq, id: `n1-${seq}`, type: 'realserver_down', at: new Date().toISOString(), node: 'n1', realserver: `10.0.0.${seq}:80`, detail: `probe failed #${seq}` };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(url: string): Promise<{ d: Deliverer; q: AlertQueue; dir: string; seen: { sent: string[]; failed: string[]; other: string[] } }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lvsd-alertwh-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const q = await AlertQueue.open({ dir, target: 'hook', max: 100, log });
  const seen = { sent: [] as string[], failed: [] as string[], other: [] as string[] };
  const observer: DeliveryObserver = {
    sent: (_t, e) => void seen.sent.push(e.id),
    failed: (_t, e, error, attempt) => void seen.failed.push(`${e.id} #${attempt} ${error}`),
    rejected: (_t, e, error) => void seen.other.push(`rejected ${e.id} ${error}`),
    dropped: (_t, e) => void seen.other.push(`dropped ${e.id}`),
  };
  const d = new Deliverer({
    target: 'hook', queue: q, notifier: new WebhookNotifier({ url, format: 'generic' }), clock: systemClock, random: Math.random, log,
    timeoutMs: 2000, retryInitialMs: 50, retryMaxMs: 1000, observer,
  });
  cleanups.push(() => d.close());
  return { d, q, dir, seen };
}

describe('alert delivery to a real webhook receiver', () => {
  it('rides out 503s: every alert delivered once, in order', async () => {
    const rx = await startReceiver(0, (n) => (n <= 3 ? 503 : 200));
    cleanups.push(() => rx.close());
    const { d, seen } = await setup(`http://127.0.0.1:${rx.port}/alerts`);
    d.start();
    const events = [1, 2, 3, 4, 5].map(ev);
    for (const e of events) await d.enqueue(e);
    await waitFor(() => d.depth === 0 && seen.sent.length === 5, 10_000, 'five alerts delivered', 10);

    const ok = rx.requests.filter((r) => r.status === 200).map((r) => r.event.id);
    expect(ok).toEqual(['n1-1', 'n1-2', 'n1-3', 'n1-4', 'n1-5']);
    // the 503s all hit the head, which was retried until it went through
    expect(rx.requests.slice(0, 4).map((r) => `${r.event.id} ${r.status}`)).toEqual(['n1-1 503', 'n1-1 503', 'n1-1 503', 'n1-1 200']);
    expect(rx.requests).toHaveLength(8);
    expect(seen.failed).toEqual(['n1-1 #1 HTTP 503: busy', 'n1-1 #2 HTTP 503: busy', 'n1-1 #3 HTTP 503: busy']);
    expect(seen.sent).toEqual(ok);
    expect(seen.other).toEqual([]);
    // the body is the event itself, as JSON
    expect(rx.requests.filter((r) => r.status === 200).map((r) => r.event)).toEqual(events);
  });

  it('rides out a receiver that is down for ~3 s: nothing lost, order kept', async () => {
    const port = await freePort();
    const { d, dir, seen } = await setup(`http://127.0.0.1:${port}/alerts`);
    d.start();
    for (let i = 1; i <= 3; i++) await d.enqueue(ev(i));
    await sleep(1500);
    for (let i = 4; i <= 6; i++) await d.enqueue(ev(i));
    await sleep(1500);

    // while down: the head was retried with growing delays, everything is still queued (and on disk)
    expect(seen.sent).toEqual([]);
    expect(seen.failed.length).toBeGreaterThanOrEqual(3);
    expect(seen.failed.every((f) => f.startsWith('n1-1 #'))).toBe(true);
    expect(d.depth).toBe(6);
    const reopened = await AlertQueue.open({ dir, target: 'hook', max: 100, log });
    expect(reopened.snapshot().map((i) => i.event.id)).toEqual(['n1-1', 'n1-2', 'n1-3', 'n1-4', 'n1-5', 'n1-6']);

    const rx = await startReceiver(port, () => 200);
    cleanups.push(() => rx.close());
    const upAt = Date.now();
    await waitFor(() => d.depth === 0 && seen.sent.length === 6, 5000, 'six alerts delivered', 10);
    // the backoff is capped at 1 s (+20% jitter): the first retry after coming up is soon
    expect(Date.now() - upAt).toBeLessThan(2500);
    expect(rx.requests.map((r) => r.event.id)).toEqual(['n1-1', 'n1-2', 'n1-3', 'n1-4', 'n1-5', 'n1-6']);
    expect(seen.sent).toEqual(['n1-1', 'n1-2', 'n1-3', 'n1-4', 'n1-5', 'n1-6']);
    expect(seen.other).toEqual([]);
  });
});
