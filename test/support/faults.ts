/**
 * Servers that fail in the ways real ones do — reset mid-response, never finish a body, hang up
 * or go silent in the TLS handshake — for the probe fault tests. Each listens on loopback
 * (127.0.0.1 by default, or ::1), port 0; close() destroys every connection and timer it holds.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { TestServer } from './servers.js';

export interface FaultServer extends TestServer {
  /** bytes the server managed to write, over all connections */
  readonly bytesSent: number;
  /** connections still open on the server side */
  readonly open: number;
}

/** What a fault handler gets besides the socket: timers that close() clears, and a byte counter. */
export interface FaultTools {
  later(ms: number, fn: () => void): void;
  /** write and count; false when the socket wants a 'drain' first */
  write(data: string | Buffer): boolean;
}

/** `nth`: which request head of the connection this is (1 for `on: 'data'` and `on: 'connect'`) */
type Handler = (sock: net.Socket, tools: FaultTools, nth: number) => void;

/** Whether ::1 can be listened on here. */
export async function hasIpv6Loopback(): Promise<boolean> {
  const s = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => resolve(true));
  });
  if (ok) await new Promise((r) => s.close(r));
  return ok;
}

/**
 * A raw TCP (or TLS, with `tlsOptions`) server: `handler` runs for every request head
 * (`\r\n\r\n`) a connection sends, or once on its first bytes with `on: 'data'`, or once at
 * once with `on: 'connect'`. What else the client sends is read and dropped.
 */
export async function startFaultServer(
  handler: Handler,
  opts: { host?: string; on?: 'head' | 'data' | 'connect'; tlsOptions?: tls.TlsOptions } = {},
): Promise<FaultServer> {
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let conns = 0;
  let bytesSent = 0;
  const onSocket = (sock: net.Socket): void => {
    conns++;
    sockets.add(sock);
    sock.on('error', () => {});
    sock.once('close', () => sockets.delete(sock));
    const tools: FaultTools = {
      later(ms, fn) {
        const t = setTimeout(() => {
          timers.delete(t);
          if (!sock.destroyed) fn();
        }, ms);
        timers.add(t);
      },
      write(data) {
        if (sock.destroyed || sock.writableEnded) return false;
        bytesSent += typeof data === 'string' ? Buffer.byteLength(data, 'latin1') : data.length;
        return sock.write(data);
      },
    };
    const on = opts.on ?? 'head';
    if (on === 'connect') {
      sock.resume();
      return handler(sock, tools, 1);
    }
    let buf = '';
    let nth = 0;
    sock.on('data', (d: Buffer) => {
      if (on === 'data') {
        if (nth++ === 0) handler(sock, tools, 1);
        return;
      }
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        buf = buf.slice(end + 4);
        handler(sock, tools, ++nth);
      }
    });
  };
  const server = opts.tlsOptions ? tls.createServer(opts.tlsOptions, onSocket) : net.createServer(onSocket);
  // a failed handshake (the probe gave up on it) is not the server's problem
  server.on('tlsClientError', () => {});
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.host ?? '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
  return {
    port,
    get connections() { return conns; },
    get bytesSent() { return bytesSent; },
    get open() { return sockets.size; },
    close: () => new Promise<void>((resolve) => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Write `piece` for as long as the peer reads, minding backpressure, until the connection ends. */
export function writeForever(sock: net.Socket, tools: FaultTools, piece: string | Buffer): void {
  const pump = (): void => {
    while (!sock.destroyed && tools.write(piece));
    if (!sock.destroyed) sock.once('drain', pump);
  };
  pump();
}

/**
 * HTTP 200 announcing 100 bytes of body, 2 of them, then (after `afterMs`) a TCP RST.
 * `answerFirst`: the first request of each connection gets a whole answer (so the probe keeps
 * the connection), and the cut comes on the next.
 */
export function startResetMidResponse(opts: { host?: string; afterMs?: number; answerFirst?: boolean } = {}): Promise<FaultServer> {
  return startFaultServer((sock, t, nth) => {
    if (opts.answerFirst && nth === 1) {
      t.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      return;
    }
    t.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok');
    t.later(opts.afterMs ?? 50, () => sock.resetAndDestroy());
  }, { host: opts.host ?? '127.0.0.1' });
}

/** HTTP 200 with a chunked body that never ends (16 KiB chunks of `x`, as fast as the client reads). */
export function startEndlessChunkedHttp(status = 200): Promise<FaultServer> {
  const chunk = Buffer.from(`4000\r\n${'x'.repeat(0x4000)}\r\n`, 'latin1');
  return startFaultServer((sock, t) => {
    t.write(`HTTP/1.1 ${status} OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n`);
    writeForever(sock, t, chunk);
  });
}

/** A status line, then header lines that never end. */
export function startEndlessHeaders(): Promise<FaultServer> {
  return startFaultServer((sock, t) => {
    t.write('HTTP/1.1 200 OK\r\n');
    writeForever(sock, t, `X-Filler: ${'y'.repeat(1000)}\r\n`);
  });
}

/** Greets every connection with bytes that never end (and never match). */
export function startEndlessBanner(piece = 'x'.repeat(1024)): Promise<FaultServer> {
  return startFaultServer((sock, t) => writeForever(sock, t, piece), { on: 'connect' });
}

/** Greets with `greeting`, then resets the connection after `afterMs`. */
export function startResettingBanner(greeting: string, afterMs = 50): Promise<FaultServer> {
  return startFaultServer((sock, t) => {
    t.write(greeting);
    t.later(afterMs, () => sock.resetAndDestroy());
  }, { on: 'connect' });
}

/** Reads the TLS ClientHello and hangs up: `end` (FIN) or `reset` (RST). */
export function startTlsHangup(how: 'end' | 'reset', host = '127.0.0.1'): Promise<FaultServer> {
  return startFaultServer((sock) => (how === 'end' ? sock.end() : sock.resetAndDestroy()), { on: 'data', host });
}

/** Completes the TLS handshake, reads the request and never answers it. */
export function startHttpsBlackHole(cert: { key: string; cert: string }): Promise<FaultServer> {
  return startFaultServer(() => {}, { tlsOptions: { key: cert.key, cert: cert.cert } });
}
