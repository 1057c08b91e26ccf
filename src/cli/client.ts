/** The CLI's side of the API: GET/POST over the Unix socket or a TCP URL, one-line errors. */
import { request } from 'node:http';
import { LvsError } from '../core/errors.js';

export type ApiTarget = { readonly socket: string } | { readonly url: string };

export interface ApiResponse {
  readonly status: number;
  readonly body: string;
}

export function describeTarget(t: ApiTarget): string {
  return 'socket' in t ? `unix socket ${t.socket}` : t.url;
}

export function apiGet(target: ApiTarget, path: string, timeoutMs = 5000): Promise<ApiResponse> {
  return apiRequest(target, 'GET', path, undefined, timeoutMs);
}

/** a write: JSON body; over TCP with the bearer token when one is given */
export function apiPost(target: ApiTarget, path: string, body: unknown, timeoutMs = 5000, token?: string): Promise<ApiResponse> {
  return apiRequest(target, 'POST', path, JSON.stringify(body), timeoutMs, token);
}

function apiRequest(target: ApiTarget, method: 'GET' | 'POST', path: string, body: string | undefined, timeoutMs: number, token?: string): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    // one request per run: a kept-alive socket would hold the CLI until the daemon's idle timeout
    const headers: Record<string, string> = { accept: 'application/json', connection: 'close' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const common = { method, path, timeout: timeoutMs, headers, agent: false };
    let opts;
    if ('socket' in target) {
      opts = { ...common, socketPath: target.socket };
    } else {
      const u = new URL(target.url);
      if (u.protocol !== 'http:') {
        reject(new LvsError('LVSD_ERR_CLIENT', `unsupported URL ${target.url}: only http:// is served by lvsd`));
        return;
      }
      opts = { ...common, host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80), path: `${u.pathname.replace(/\/$/, '')}${path}` };
    }
    const req = request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => reject(unreachable(target, e)));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', (e) => reject(unreachable(target, e)));
    req.end(body);
  });
}

function unreachable(target: ApiTarget, e: Error & { code?: string }): LvsError {
  const why = e.code === 'ENOENT' ? 'no such socket (is lvsd running?)'
    : e.code === 'ECONNREFUSED' ? 'connection refused (is lvsd running?)'
    : e.code === 'EACCES' ? 'permission denied (the socket is root-only: use sudo)'
    : (e.code ?? e.message);
  return new LvsError('LVSD_ERR_CLIENT', `cannot reach lvsd at ${describeTarget(target)}: ${why}`, {}, { cause: e });
}
