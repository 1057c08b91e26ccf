/**
 * The HTTP probes' connections: plain or TLS sockets, and at most one idle keep-alive
 * connection per (origin, TLS setting). An idle connection is closed after KEEPALIVE_IDLE_MS,
 * or at once when the server closes it or sends unasked bytes.
 *
 * Why not undici: a health check is one small GET per connection per interval, and undici's
 * per-origin Client, body stream and error objects made it the top cost of the probe engine
 * (`npm run bench`, the HTTP check alone: 272 CPU ms per 1,000 fresh-connection checks with
 * undici, 124 with this, 87 for a bare socket and a request line). keepalived's and ldirectord's HTTP checks likewise speak the few bytes they need.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { AbortLike } from './cancel.js';
import { hostPort } from './connect.js';
import type { Pending, Verdict } from './result.js';
import { describeError, error, fail, firstLine } from './result.js';

/**
 * How long an idle connection is kept. Checks further apart than this open a fresh connection
 * each time (the config loader's default), since a kept one would only hold a descriptor.
 */
export const KEEPALIVE_IDLE_MS = 4000;

export interface HttpOrigin {
  /** pool key: address, port and TLS setting */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly tls?: { readonly servername?: string; readonly rejectUnauthorized: boolean };
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ECONNRESET', 'ETIMEDOUT', 'EMFILE', 'ENFILE']);

export class HttpConnections {
  private readonly idle = new Map<string, net.Socket>();
  /** every socket alive (idle or in use), so close() leaves none */
  private readonly live = new Set<net.Socket>();
  /** idle socket -> its pool key */
  private readonly keys = new WeakMap<net.Socket, string>();
  private closed = false;
  /**
   * Anything from an idle connection — bytes, EOF, close, silence past the idle time — ends it.
   * One listener function per pool, not a closure per release.
   */
  private readonly onIdleEvent: (this: net.Socket) => void;

  constructor() {
    const pool = (): HttpConnections => this;
    this.onIdleEvent = function onIdleEvent(this: net.Socket): void {
      const p = pool();
      const key = p.keys.get(this);
      if (key !== undefined && p.idle.get(key) === this) p.idle.delete(key);
      p.keys.delete(this);
      this.destroy();
    };
  }

  /** the idle connection for this origin, taken out of the pool; undefined if none */
  take(key: string): net.Socket | undefined {
    const sock = this.idle.get(key);
    if (!sock) return undefined;
    this.idle.delete(key);
    this.keys.delete(sock);
    for (const ev of IDLE_EVENTS) sock.removeListener(ev, this.onIdleEvent);
    sock.setTimeout(0);
    if (sock.destroyed || sock.readableEnded) {
      sock.destroy();
      return undefined;
    }
    return sock;
  }

  /**
   * Connect (and handshake, for TLS). `signal` aborting destroys the socket; the listener is
   * gone once this settles, so the socket can outlive the attempt in the pool. For TLS,
   * `progress.pending` tells when the TCP connection is up and the handshake is what we wait for.
   */
  connect(origin: HttpOrigin, signal: AbortLike, progress?: { pending: Pending }): Promise<net.Socket | Verdict> {
    if (this.closed || signal.aborted) return Promise.resolve(error('aborted before connecting'));
    return new Promise((resolve) => {
      const sock: net.Socket = origin.tls
        ? tls.connect({
          host: origin.address, port: origin.port, rejectUnauthorized: origin.tls.rejectUnauthorized,
          ...(origin.tls.servername !== undefined ? { servername: origin.tls.servername } : {}),
          ALPNProtocols: ['http/1.1'],
        })
        : net.connect({ host: origin.address, port: origin.port, noDelay: true });
      if (origin.tls) sock.setNoDelay(true);
      this.live.add(sock);
      sock.once('close', () => this.live.delete(sock));
      // a late error after we settled must never become an uncaught exception
      sock.on('error', ignore);
      const done = (v: net.Socket | Verdict): void => {
        signal.removeEventListener('abort', onAbort);
        sock.removeListener('error', onError);
        sock.removeListener(origin.tls ? 'secureConnect' : 'connect', onConnect);
        if (onTcpConnect) sock.removeListener('connect', onTcpConnect);
        resolve(v);
      };
      const onAbort = (): void => {
        sock.destroy();
        done(error('aborted while connecting'));
      };
      // TLS: the TCP connection is up, the handshake is what remains (a hang-up or silence from
      // here on is the handshake's failure, not the connect's)
      let handshaking = false;
      const onTcpConnect = origin.tls
        ? (): void => {
          handshaking = true;
          if (progress) progress.pending = new TlsHandshakeWith(origin);
        }
        : undefined;
      const onError = (e: NodeJS.ErrnoException): void => {
        sock.destroy();
        done(connectFailure(e, origin.tls !== undefined, handshaking));
      };
      const onConnect = (): void => done(sock);
      signal.addEventListener('abort', onAbort, { once: true });
      sock.once('error', onError);
      if (onTcpConnect) sock.once('connect', onTcpConnect);
      sock.once(origin.tls ? 'secureConnect' : 'connect', onConnect);
    });
  }

  /** Hand a connection back after a complete response; it becomes the origin's idle one. */
  release(key: string, sock: net.Socket): void {
    if (this.closed || sock.destroyed || this.idle.has(key)) {
      sock.destroy();
      return;
    }
    this.idle.set(key, sock);
    this.keys.set(sock, key);
    for (const ev of IDLE_EVENTS) sock.on(ev, this.onIdleEvent);
    sock.setTimeout(KEEPALIVE_IDLE_MS);
  }

  /** Destroy every connection, idle or in use; later connects fail at once. */
  close(): void {
    this.closed = true;
    for (const s of this.live) s.destroy();
    this.live.clear();
    this.idle.clear();
  }
}

const IDLE_EVENTS = ['data', 'end', 'close', 'timeout'] as const;

function ignore(): void {}

/** "waiting for the TLS handshake with 127.0.0.1:443", built only when it is shown */
class TlsHandshakeWith {
  private readonly origin: HttpOrigin;
  constructor(origin: HttpOrigin) {
    this.origin = origin;
  }
  toString(): string {
    return `waiting for the TLS handshake with ${hostPort(this.origin)}`;
  }
}

/** `handshaking`: TLS only, the TCP connection was up when this failed */
function connectFailure(e: NodeJS.ErrnoException, isTls: boolean, handshaking: boolean): Verdict {
  const code = describeError(e);
  if (!handshaking && CONNECT_CODES.has(code)) return error(`connect ${code}`);
  // the server answered the handshake with a certificate we refuse: a wrong answer, so `fail`
  if (isTls && /CERT|SELF_SIGNED|VERIFY|ISSUER|ALTNAME|ERR_TLS_CERT/.test(code)) return fail(`TLS certificate rejected: ${e.message} (${code})`);
  if (isTls) return error(`TLS handshake failed: ${handshakeReason(e, code)}`);
  return error(`connect ${code}`);
}

/**
 * One line on why a handshake failed. OpenSSL's errors carry a short `reason` ("wrong version
 * number": a plaintext server on the TLS port); their message is a multi-line dump with
 * OpenSSL's source paths. A hang-up mid-handshake is ECONNRESET whether it came as FIN or RST.
 */
function handshakeReason(e: NodeJS.ErrnoException, code: string): string {
  const reason = (e as { reason?: unknown }).reason;
  const text = typeof reason === 'string' && reason !== ''
    ? reason
    : code === 'ECONNRESET' || code === 'EPIPE' ? 'the server hung up' : firstLine(e.message);
  return text === code ? text : `${text} (${code})`;
}
