/**
 * The HTTP API: GET /healthz, /status, /metrics and / (status page), on a TCP address and on
 * a Unix socket (mode 0600). node:http only: the surface is small and must stay auditable.
 */
import { chmod, lstat, unlink, mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import type { Endpoint } from '../config/types.js';
import { LvsError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { StatusSnapshot } from '../daemon/status.js';
import { authorize, controlError, handleControl, sendReply, type ControlSources } from './control.js';
import { statusPage } from './status-page.js';

export interface ApiSources {
  readonly status: () => StatusSnapshot;
  readonly metrics: () => Promise<string>;
  readonly metricsContentType: string;
  /** the write side (POST); absent: read-only */
  readonly control?: ControlSources;
}

export interface ApiOptions {
  readonly listen: Endpoint | null;
  readonly socket: string | null;
  readonly log: Logger;
  /** bearer token that allows writes over TCP (api.token_file); without it TCP is read-only */
  readonly token?: string;
}

export interface ApiServer {
  /** the bound TCP address (port resolved when 0 was asked) */
  readonly address: Endpoint | null;
  readonly socket: string | null;
  close(): Promise<void>;
}

export async function startApi(sources: ApiSources, options: ApiOptions): Promise<ApiServer> {
  const handlerFor = (viaTcp: boolean) => (req: IncomingMessage, res: ServerResponse): void => {
    handle(sources, req, res, { viaTcp, token: options.token, log: options.log }).catch((e: unknown) => {
      options.log.error({ err: errorMessage(e), path: req.url }, 'api request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  };
  const servers: Server[] = [];
  let address: Endpoint | null = null;
  try {
    if (options.listen) {
      const tcp = createServer(SERVER_OPTIONS, handlerFor(true));
      guard(tcp);
      await listen(tcp, () => tcp.listen(options.listen!.port, options.listen!.host), `api.listen ${options.listen.host}:${options.listen.port}`);
      servers.push(tcp);
      const a = tcp.address();
      address = a && typeof a === 'object' ? { host: a.address, port: a.port } : null;
    }
    if (options.socket) {
      const unix = createServer(SERVER_OPTIONS, handlerFor(false));
      guard(unix);
      await prepareSocketPath(options.socket);
      // 0600 from the start: umask closes the window before chmod
      const oldMask = process.umask(0o177);
      try {
        await listen(unix, () => unix.listen(options.socket!), `api.socket ${options.socket}`);
      } finally {
        process.umask(oldMask);
      }
      await chmod(options.socket, 0o600);
      servers.push(unix);
    }
  } catch (e) {
    await Promise.all(servers.map(closeServer));
    throw e;
  }
  return {
    address,
    socket: options.socket,
    async close() {
      await Promise.all(servers.map(closeServer));
      if (options.socket) await unlink(options.socket).catch(() => undefined);
    },
  };
}

async function handle(
  sources: ApiSources, req: IncomingMessage, res: ServerResponse,
  ctx: { readonly viaTcp: boolean; readonly token: string | undefined; readonly log: Logger },
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://lvsd');
  if (req.method === 'POST' && sources.control && url.pathname.startsWith('/api/v1/')) {
    const denied = authorize(req, ctx.viaTcp, ctx.token);
    if (denied) {
      req.resume();
      sendReply(res, denied);
      return;
    }
    if (url.search !== '') {
      req.resume();
      sendJson(res, 400, { error: 'writes take no query parameters: give them in the JSON body' });
      return;
    }
    let reply;
    try {
      reply = await handleControl(req, url.pathname, sources.control);
    } catch (e) {
      reply = controlError(e, (err) => ctx.log.error({ err, path: url.pathname }, 'api write failed'));
    }
    if (reply) {
      if (reply.status < 500) ctx.log.info({ path: url.pathname, status: reply.status, via: ctx.viaTcp ? 'tcp' : 'socket' }, 'api write');
      sendReply(res, reply);
      return;
    }
    sendJson(res, 404, { error: `no such path: ${url.pathname}` });
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, { error: `method ${req.method ?? '?'} not allowed on ${url.pathname}` }, { allow: sources.control && url.pathname.startsWith('/api/v1/') ? 'POST' : 'GET, HEAD' });
    return;
  }
  switch (url.pathname) {
    case '/healthz':
      send(res, 200, 'ok\n', 'text/plain; charset=utf-8');
      return;
    case '/status':
      sendJson(res, 200, sources.status());
      return;
    case '/metrics':
      send(res, 200, await sources.metrics(), sources.metricsContentType);
      return;
    case '/':
      send(res, 200, statusPage(), 'text/html; charset=utf-8');
      return;
    default:
      sendJson(res, 404, { error: `no such path: ${url.pathname}` });
  }
}

function send(res: ServerResponse, code: number, body: string, type: string, headers: Record<string, string> = {}): void {
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendJson(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, code, `${JSON.stringify(body, null, 2)}\n`, 'application/json', headers);
}

/** most API connections at once: a flood of clients must not take the descriptors probes need */
export const MAX_API_CONNECTIONS = 256;

/**
 * Bounded time and size for a request, so a slow or greedy client cannot hold a socket: the
 * request and header deadlines are enforced by a sweep (connectionsCheckingInterval, set at
 * createServer) that by default runs only every 30 s.
 */
function guard(server: Server): void {
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;
  server.maxConnections = MAX_API_CONNECTIONS;
}

const SERVER_OPTIONS = { connectionsCheckingInterval: 1000, maxHeaderSize: 16 * 1024 } as const;

function listen(server: Server, start: () => void, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      reject(new LvsError('LVSD_ERR_API_LISTEN', `cannot listen on ${what}: ${e.code ?? e.message}`, { what }, { cause: e }));
    };
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
    start();
  });
}

/** a stale socket left by a killed lvsd is removed; a live one (another lvsd) is an error */
async function prepareSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new LvsError('LVSD_ERR_API_LISTEN', `api.socket ${path} exists and is not a socket`, { path });
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new LvsError('LVSD_ERR_API_LISTEN', `api.socket ${path} is in use: is another lvsd running?`, { path });
  await unlink(path);
}

function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });
}
