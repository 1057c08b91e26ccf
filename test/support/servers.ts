/**
 * Loopback servers that behave (or misbehave) for probe tests. All listen on 127.0.0.1, port 0;
 * close() ends the server and every connection it still holds.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import { freePort } from './ports.js';

export interface TestServer {
  readonly port: number;
  /** connections accepted so far */
  readonly connections: number;
  close(): Promise<void>;
}

export interface HttpTestServer extends TestServer {
  /** what the server saw of each request */
  readonly requests: readonly { method: string; url: string; host: string | undefined; userAgent: string | undefined }[];
}

export interface TlsTestServer extends HttpTestServer {
  /** SNI of each TLS connection (false when the client sent none) */
  readonly servernames: readonly (string | false)[];
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Track sockets so close() never waits for a client that keeps a connection open. */
function track(server: net.Server): { sockets: Set<net.Socket>; count: () => number } {
  const sockets = new Set<net.Socket>();
  let count = 0;
  server.on('connection', (s: net.Socket) => {
    count++;
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
  });
  return { sockets, count: () => count };
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

function closer(server: net.Server, sockets: Set<net.Socket>, extra: () => void = () => {}): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      extra();
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

function recordingHandler(requests: HttpTestServer['requests'][number][], handler: Handler): Handler {
  return (req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host, userAgent: req.headers['user-agent'] });
    handler(req, res);
  };
}

export async function startHttp(handler: Handler): Promise<HttpTestServer> {
  const requests: HttpTestServer['requests'][number][] = [];
  const server = http.createServer(recordingHandler(requests, handler));
  const t = track(server);
  const port = await listen(server);
  return { port, requests, get connections() { return t.count(); }, close: closer(server, t.sockets) };
}

/** 200 "ok" */
export function startHealthyHttp(): Promise<HttpTestServer> {
  return startHttp((_req, res) => res.end('ok'));
}

/** always answers `status` with a short body */
export function startStatusHttp(status: number, body = 'unavailable'): Promise<HttpTestServer> {
  return startHttp((_req, res) => {
    res.statusCode = status;
    res.end(body);
  });
}

/** Headers at once, then the body one byte every `everyMs`, for `totalBytes` bytes. */
export async function startTricklingHttp(everyMs = 100, totalBytes = 100): Promise<HttpTestServer> {
  const timers = new Set<NodeJS.Timeout>();
  const server = await startHttp((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(totalBytes) });
    res.flushHeaders();
    let sent = 0;
    const timer = setInterval(() => {
      res.write('x');
      if (++sent >= totalBytes) {
        clearInterval(timer);
        timers.delete(timer);
        res.end();
      }
    }, everyMs);
    timers.add(timer);
    res.once('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  });
  return {
    ...server,
    get connections() { return server.connections; },
    close: async () => {
      for (const timer of timers) clearInterval(timer);
      await server.close();
    },
  };
}

/** A port where nothing listens: bound, noted, closed. */
export async function refusedPort(): Promise<TestServer> {
  return { port: await freePort(), connections: 0, close: async () => {} };
}

/** Accepts connections and never says a word; `open`: those the client has not closed yet. */
export async function startSilentTcp(): Promise<TestServer & { readonly open: number }> {
  // reading (and dropping) what comes is what lets it see the client hang up
  const server = net.createServer((sock) => sock.resume());
  const t = track(server);
  const port = await listen(server);
  return { port, get connections() { return t.count(); }, get open() { return t.sockets.size; }, close: closer(server, t.sockets) };
}

/**
 * A port whose accept queue is full, so new SYNs are dropped and connect() hangs: a listener
 * (python3; Node always accepts) with backlog 0 that never accepts, plus one filler connection.
 */
export async function startUnacceptingTcp(): Promise<TestServer> {
  const script = 'import socket,sys\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()';
  const py = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'ignore'] });
  const port = await new Promise<number>((resolve, reject) => {
    py.once('error', reject);
    py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  const filler = net.connect(port, '127.0.0.1');
  filler.on('error', () => {});
  await new Promise<void>((resolve) => filler.once('connect', () => resolve()));
  return {
    port,
    connections: 0,
    close: async () => {
      filler.destroy();
      if (py.exitCode === null && py.signalCode === null) {
        const gone = new Promise<void>((resolve) => py.once('exit', () => resolve()));
        py.kill('SIGKILL'); // by PID: this child only
        await gone;
      }
    },
  };
}

export interface BannerServer extends TestServer {
  /** everything clients sent, latin1 */
  readonly received: string;
}

/**
 * Greets every connection with `greeting` (latin1). An array is sent piece by piece, `delayMs`
 * apart (the first piece too, after `delayMs`); `close: true` hangs up after the last piece.
 */
export async function startBanner(
  greeting: string | readonly string[],
  opts: { delayMs?: number; close?: boolean } = {},
): Promise<BannerServer> {
  let received = '';
  const timers = new Set<NodeJS.Timeout>();
  const pieces = typeof greeting === 'string' ? [greeting] : [...greeting];
  const server = net.createServer((sock) => {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      received += d;
    });
    const send = (i: number): void => {
      if (sock.destroyed) return;
      const piece = pieces[i] ?? '';
      const last = i >= pieces.length - 1;
      if (last && opts.close) sock.end(piece, 'latin1');
      else sock.write(piece, 'latin1');
      if (!last) later(() => send(i + 1));
    };
    const later = (fn: () => void): void => {
      if (!opts.delayMs) return fn();
      const timer = setTimeout(() => {
        timers.delete(timer);
        fn();
      }, opts.delayMs);
      timers.add(timer);
    };
    later(() => send(0));
  });
  const t = track(server);
  const port = await listen(server);
  return {
    port,
    get received() { return received; },
    get connections() { return t.count(); },
    close: closer(server, t.sockets, () => {
      for (const timer of timers) clearTimeout(timer);
    }),
  };
}

/** A self-signed certificate for CN/SAN lvsd.test, made with openssl in a temp dir (removed again). */
export function selfSignedCert(): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lvsd-cert-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '2',
      '-subj', '/CN=lvsd.test', '-addext', 'subjectAltName=DNS:lvsd.test',
    ], { stdio: 'ignore' });
    return { key: readFileSync(path.join(dir, 'key.pem'), 'utf8'), cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** HTTPS 200 "ok" with a self-signed certificate; records the SNI of each connection. */
export async function startHttps(cert: { key: string; cert: string }): Promise<TlsTestServer> {
  const requests: HttpTestServer['requests'][number][] = [];
  const servernames: (string | false)[] = [];
  const server = https.createServer({ key: cert.key, cert: cert.cert }, recordingHandler(requests, (_req, res) => res.end('ok')));
  server.on('secureConnection', (s: tls.TLSSocket) => {
    servernames.push(s.servername ?? false);
  });
  const t = track(server);
  const port = await listen(server);
  return { port, requests, servernames, get connections() { return t.count(); }, close: closer(server, t.sockets) };
}
