import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultHost } from '../../checks/http.js';
import { loadStreamWrap } from '../../checks/tcp-wrap.js';
import { createProbeKit } from '../../checks/index.js';
import type { HttpCheckSpec, ProbeKit } from '../../checks/types.js';
import { skipUnless, which } from '../support/env.js';
import { deadline, local } from '../support/probes.js';
import type { TestServer } from '../support/servers.js';
import { waitFor } from '../support/wait.js';
import {
  refusedPort,
  selfSignedCert,
  startHealthyHttp,
  startHttp,
  startHttps,
  startSilentTcp,
  startStatusHttp,
  startTricklingHttp,
} from '../support/servers.js';

const kit = createProbeKit({ fpingPath: null });
/** net.Socket for every connection: the way where Node lacks the tcp_wrap/stream_wrap bindings */
const socketKit = createProbeKit({ fpingPath: null, bareHandles: false });
const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await kit.close();
  await socketKit.close();
});

/** the three ways a plain-HTTP check talks to its server: same verdicts from each */
const modes: [string, ProbeKit, boolean][] = [
  ['on a kept-alive connection', kit, false],
  ['on a fresh connection, bare handle', kit, true],
  ['on a fresh connection, net.Socket', socketKit, true],
];

async function serve<T extends TestServer>(p: Promise<T>): Promise<T> {
  const s = await p;
  servers.push(s);
  return s;
}

function baseSpec(over: Partial<HttpCheckSpec> = {}): HttpCheckSpec {
  return { type: 'http', path: '/healthz', method: 'GET', expectStatus: [200], tlsVerify: true, freshConnection: false, ...over };
}

describe.each(modes)('http probe %s', (_mode, kit, fresh) => {
  const spec = (over: Partial<HttpCheckSpec> = {}): HttpCheckSpec => baseSpec({ freshConnection: fresh, ...over });

  it('passes on 200 with a matching body, sending path, Host and User-Agent', async () => {
    const s = await serve(startHealthyHttp());
    const r = await kit.probeFor(spec({ expectBody: '^ok$' })).check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ ok: true, outcome: 'ok', detail: 'HTTP 200, body matched /^ok$/' });
    expect(s.requests).toEqual([{ method: 'GET', url: '/healthz', host: `127.0.0.1:${s.port}`, userAgent: 'lvsd-probe' }]);
  });

  it('fails on an unexpected status', async () => {
    const s = await serve(startStatusHttp(503));
    const r = await kit.probeFor(spec()).check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ ok: false, outcome: 'fail', detail: 'HTTP 503, expected 200' });
  });

  it('accepts any status of the expected set and uses method and host from the spec', async () => {
    const s = await serve(startStatusHttp(204, ''));
    const r = await kit
      .probeFor(spec({ expectStatus: [200, 204], method: 'HEAD', host: 'www.example.test' }))
      .check(local(s.port), deadline(1000));
    expect(r.outcome).toBe('ok');
    expect(s.requests[0]).toMatchObject({ method: 'HEAD', host: 'www.example.test' });
  });

  it('fails when the body does not match, showing the start of the body', async () => {
    const s = await serve(startHealthyHttp());
    const r = await kit.probeFor(spec({ expectBody: 'healthy' })).check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ outcome: 'fail', detail: 'body did not match /healthy/: got "ok"' });
  });

  it('reports a refused port as error', async () => {
    const s = await refusedPort();
    const r = await kit.probeFor(spec()).check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ outcome: 'error', detail: 'connect ECONNREFUSED' });
  });

  it('times out waiting for headers from a silent server, on time', async () => {
    const s = await serve(startSilentTcp());
    const r = await kit.probeFor(spec()).check(local(s.port), deadline(200));
    expect(r).toMatchObject({ outcome: 'timeout', detail: 'timeout after 200ms waiting for headers' });
    expect(r.durationMs).toBeLessThan(200 + 1000);
  });

  it('applies the deadline to the whole response when the body trickles in', async () => {
    const s = await serve(startTricklingHttp(100, 100));
    const r = await kit.probeFor(spec({ expectBody: 'ok' })).check(local(s.port), deadline(400));
    expect(r.outcome).toBe('timeout');
    expect(r.detail).toMatch(/^timeout after 400ms waiting for the body of HTTP 200 \(\d+ bytes so far\)$/);
    expect(r.durationMs).toBeGreaterThanOrEqual(350);
    expect(r.durationMs).toBeLessThan(400 + 1000);
  });

  it.runIf(!fresh)('reuses one keep-alive connection for repeated checks', async () => {
    const s = await serve(startHealthyHttp());
    const probe = kit.probeFor(spec({ path: '/keepalive' }));
    for (let i = 0; i < 5; i++) expect((await probe.check(local(s.port), deadline(1000))).outcome).toBe('ok');
    expect(s.requests).toHaveLength(5);
    expect(s.connections).toBe(1);
  });

  it.runIf(fresh)('opens a new connection per check, saying Connection: close', async () => {
    const s = await serve(startHealthyHttp());
    const probe = kit.probeFor(spec({ path: '/fresh' }));
    for (let i = 0; i < 5; i++) expect((await probe.check(local(s.port), deadline(1000))).outcome).toBe('ok');
    expect(s.connections).toBe(5);
  });

  it.runIf(!fresh)('keeps the connection reusable after a failed status (the body is consumed)', async () => {
    const s = await serve(startStatusHttp(500, 'x'.repeat(10_000)));
    const probe = kit.probeFor(spec({ path: '/fail-reuse' }));
    for (let i = 0; i < 3; i++) expect((await probe.check(local(s.port), deadline(1000))).outcome).toBe('fail');
    expect(s.connections).toBe(1);
  });

  it('reads a large body only up to 64 KiB for the regex', async () => {
    const s = await serve(startHttp((_req, res) => res.end('a'.repeat(200_000) + 'needle')));
    const r = await kit.probeFor(spec({ expectBody: 'needle' })).check(local(s.port), deadline(1000));
    expect(r.outcome).toBe('fail');
    const r2 = await kit.probeFor(spec({ expectBody: '^a+' })).check(local(s.port), deadline(1000));
    expect(r2.outcome).toBe('ok');
  });

});

describe('http probe', () => {
  it('builds the default Host header', () => {
    expect(defaultHost('http', { address: '192.0.2.1', port: 80 })).toBe('192.0.2.1');
    expect(defaultHost('http', { address: '192.0.2.1', port: 8080 })).toBe('192.0.2.1:8080');
    expect(defaultHost('https', { address: '2001:db8::1', port: 443 })).toBe('[2001:db8::1]');
    expect(defaultHost('https', { address: '2001:db8::1', port: 8443 })).toBe('[2001:db8::1]:8443');
  });
});

/**
 * A raw TCP server: `onRequest(socket, nth request on this connection, connection number)` for
 * every request head received, so a test can answer, misbehave or hang up as it likes.
 */
async function startRaw(onRequest: (sock: net.Socket, nth: number, conn: number) => void): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  let conns = 0;
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    const conn = ++conns;
    let nth = 0;
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        onRequest(sock, ++nth, conn);
      }
    });
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
  const s: TestServer = {
    port,
    get connections() { return conns; },
    close: () => new Promise<void>((resolve) => { for (const x of sockets) x.destroy(); server.close(() => resolve()); }),
  };
  servers.push(s);
  return s;
}

const OK_RESPONSE = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

describe('http probe on the wire, kept-alive connections', () => {
  const spec = baseSpec;
  it('retries once on a fresh connection when the server had closed the kept one (no false failure)', async () => {
    // answers the first request of each connection; hangs up on the second, as a server whose
    // keep-alive timer fires just as the request arrives
    const s = await startRaw((sock, nth) => (nth === 1 ? sock.write(OK_RESPONSE) : sock.destroy()));
    const probe = kit.probeFor(spec({ path: '/stale' }));
    for (let i = 0; i < 3; i++) expect(await probe.check(local(s.port), deadline(1000))).toMatchObject({ outcome: 'ok' });
    expect(s.connections).toBe(3);
  });

  it('drops a kept connection the server closes while idle, and the next check connects afresh', async () => {
    const s = await startRaw((sock) => { sock.write(OK_RESPONSE); setTimeout(() => sock.end(), 30); });
    const probe = kit.probeFor(spec({ path: '/idle-close' }));
    expect((await probe.check(local(s.port), deadline(1000))).outcome).toBe('ok');
    await new Promise((r) => setTimeout(r, 100));
    expect((await probe.check(local(s.port), deadline(1000))).outcome).toBe('ok');
    expect(s.connections).toBe(2);
  });
});

describe.each(modes)('http probe on the wire %s', (_mode, kit, fresh) => {
  const spec = (over: Partial<HttpCheckSpec> = {}): HttpCheckSpec => baseSpec({ freshConnection: fresh, ...over });

  it('reads a chunked body (and keeps a kept-alive connection)', async () => {
    const s = await serve(startHttp((_req, res) => { res.write('he'); res.write('al'); res.end('thy'); }));
    const probe = kit.probeFor(spec({ path: '/chunked', expectBody: '^healthy$' }));
    for (let i = 0; i < 3; i++) expect(await probe.check(local(s.port), deadline(1000))).toMatchObject({ outcome: 'ok', detail: 'HTTP 200, body matched /^healthy$/' });
    expect(s.connections).toBe(fresh ? 3 : 1);
  });

  it('skips a 100 Continue and reads a close-delimited body', async () => {
    const s = await startRaw((sock) => sock.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nall good'));
    const r = await kit.probeFor(spec({ path: '/close-delimited', expectBody: 'good' })).check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ outcome: 'ok', detail: 'HTTP 200, body matched /good/' });
  });

  it('fails on bytes that are not HTTP, and errors on a hang-up before any answer', async () => {
    const ssh = await startRaw((sock) => sock.end('SSH-2.0-OpenSSH_9.2\r\n\r\n'));
    expect(await kit.probeFor(spec({ path: '/garbage' })).check(local(ssh.port), deadline(1000)))
      .toMatchObject({ outcome: 'fail', detail: 'invalid HTTP response: not an HTTP/1.x status line: "SSH-2.0-OpenSSH_9.2"' });
    const rude = await startRaw((sock) => sock.destroy());
    expect(await kit.probeFor(baseSpec({ path: '/hangup', freshConnection: true })).check(local(rude.port), deadline(1000)))
      .toMatchObject({ outcome: 'error', detail: 'connection closed before a response' });
  });

  it('errors on a response cut short, naming how much came', async () => {
    const s = await startRaw((sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok'));
    expect(await kit.probeFor(spec({ path: '/short' })).check(local(s.port), deadline(1000)))
      .toMatchObject({ outcome: 'fail', detail: 'invalid HTTP response: connection closed with the body incomplete (2 bytes read)' });
  });
});

describe.skipIf(skipUnless(which('openssl') !== null, 'openssl (to make a test certificate)'))('https probe', () => {
  let cert: { key: string; cert: string };
  beforeAll(() => {
    cert = selfSignedCert();
  });
  const https = (over: Partial<HttpCheckSpec> = {}): HttpCheckSpec => baseSpec({ type: 'https', path: '/', ...over });

  it('rejects a self-signed certificate when verifying', async () => {
    const s = await serve(startHttps(cert));
    const r = await kit.probeFor(https()).check(local(s.port), deadline(1000));
    expect(r.outcome).toBe('fail');
    expect(r.detail).toMatch(/^TLS certificate rejected: .*self[- ]signed/i);
  });

  it('accepts it with tlsVerify false, and sends no SNI for an IP target', async () => {
    const s = await serve(startHttps(cert));
    const r = await kit.probeFor(https({ tlsVerify: false })).check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ outcome: 'ok', detail: 'HTTP 200' });
    expect(s.servernames).toEqual([false]);
  });

  it('sends the configured SNI', async () => {
    const s = await serve(startHttps(cert));
    const r = await kit.probeFor(https({ tlsVerify: false, sni: 'lvsd.test' })).check(local(s.port), deadline(1000));
    expect(r.outcome).toBe('ok');
    expect(s.servernames).toEqual(['lvsd.test']);
  });

  it('lets an explicit SNI win over a name in the Host header', async () => {
    const s = await serve(startHttps(cert));
    const r = await kit
      .probeFor(https({ tlsVerify: false, sni: 'other.test', host: 'lvsd.test' }))
      .check(local(s.port), deadline(1000));
    expect(r.outcome).toBe('ok');
    expect(s.servernames).toEqual(['other.test']);
    expect(s.requests[0]?.host).toBe('lvsd.test');
  });

  it('defaults the SNI to a Host name', async () => {
    const s = await serve(startHttps(cert));
    const r = await kit.probeFor(https({ tlsVerify: false, host: 'lvsd.test' })).check(local(s.port), deadline(1000));
    expect(r.outcome).toBe('ok');
    expect(s.servernames).toEqual(['lvsd.test']);
  });
});

describe('kit close', () => {
  it.each([
    ['on a kept-alive connection', {}, false],
    ['on a fresh connection, bare handle', {}, true],
    ['on a fresh connection, net.Socket', { bareHandles: false }, true],
  ])('settles an in-flight http check promptly as error (%s)', async (_mode, opts, fresh) => {
    const k = createProbeKit({ fpingPath: null, ...opts });
    const s = await serve(startSilentTcp());
    const pending = k.probeFor(baseSpec({ freshConnection: fresh })).check(local(s.port), deadline(5000));
    await new Promise((res) => setTimeout(res, 50));
    const t0 = performance.now();
    await k.close();
    const r = await pending;
    expect(performance.now() - t0).toBeLessThan(500);
    expect(r).toMatchObject({ outcome: 'error', detail: 'aborted waiting for headers: probe kit closed' });
    // the probe's end of the connection is closed too
    await waitFor(() => s.open === 0, 2000, 'the aborted connection to close');
  });
});

describe('the bare-handle way', () => {
  it('finds the tcp_wrap and stream_wrap bindings on this Node (else fresh http checks run the slower socket way)', () => {
    expect(loadStreamWrap()).toBeDefined();
  });

  it('refuses bindings that are missing or have another shape', () => {
    const real = (name: string): unknown => (process as unknown as { binding(n: string): unknown }).binding(name);
    expect(loadStreamWrap((n) => (n === 'stream_wrap' ? undefined : real(n)))).toBeUndefined();
    expect(loadStreamWrap((n) => (n === 'uv' ? {} : real(n)))).toBeUndefined();
    expect(loadStreamWrap((n) => (n === 'stream_wrap' ? { ...(real(n) as object), streamBaseState: [] } : real(n)))).toBeUndefined();
    expect(loadStreamWrap((n) => (n === 'tcp_wrap' ? { ...(real(n) as object), TCP: class { connect(): void {} } } : real(n)))).toBeUndefined();
  });

  it('makes no net.Socket for a fresh plain-HTTP check (and the socket way does)', async () => {
    const s = await serve(startHealthyHttp());
    const connect = net.Socket.prototype.connect;
    let sockets = 0;
    net.Socket.prototype.connect = function counted(this: net.Socket, ...args: unknown[]) {
      sockets++;
      return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
    } as typeof connect;
    try {
      for (let i = 0; i < 3; i++) expect(await kit.probeFor(baseSpec({ path: '/bare', freshConnection: true })).check(local(s.port), deadline(1000))).toMatchObject({ outcome: 'ok' });
      expect(sockets).toBe(0);
      expect(await socketKit.probeFor(baseSpec({ path: '/bare', freshConnection: true })).check(local(s.port), deadline(1000))).toMatchObject({ outcome: 'ok' });
      expect(sockets).toBe(1);
    } finally {
      net.Socket.prototype.connect = connect;
    }
    expect(s.connections).toBe(4);
  });
});
