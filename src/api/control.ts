/**
 * The write side of the API: drain / maint / ready, weight overrides, check-now, reload. On the
 * Unix socket (mode 0600: root's) anyone who can connect may write; over TCP only with the
 * bearer token of api.token_file (compared in constant time): 401 without it, 403 when wrong.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tryParseDuration } from '../config/duration.js';
import { LvsError, errorMessage } from '../core/errors.js';
import { readBounded } from '../core/read-bounded.js';
import type { ReloadPlan } from '../daemon/reload-plan.js';
import type { RealserverStatus } from '../daemon/status.js';

export type AdminAction = 'ready' | 'drain' | 'maint';

export interface ControlSources {
  setAdmin(service: string, realserver: string, state: AdminAction, opts: { readonly forMs?: number; readonly reason: string }): void;
  setWeight(service: string, realserver: string, weight: number | null, reason: string): void;
  checkNow(service: string, realserver: string): void;
  activeConnections(service: string, realserver: string): Promise<number | null>;
  realserver(service: string, realserver: string): RealserverStatus | undefined;
  /** resolves once a change is in the IPVS table (the reply then shows the applied weight) */
  settle(): Promise<void>;
  reload(dryRun: boolean): Promise<{ readonly ok: true; readonly plan: ReloadPlan; readonly text: string } | { readonly ok: false; readonly errors: readonly string[] }>;
}

export interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

/** how often a drain --wait looks at the connection count */
const WAIT_POLL_MS = 1000;
const MAX_BODY = 64 * 1024;

/** the bearer token check; undefined = allowed */
export function authorize(req: IncomingMessage, viaTcp: boolean, token: string | undefined): Reply | undefined {
  if (!viaTcp) return undefined;
  if (token === undefined) return { status: 403, body: { error: 'writes over TCP need api.token_file (or use the Unix socket)' } };
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) return { status: 401, body: { error: 'missing bearer token' }, headers: { 'www-authenticate': 'Bearer realm="lvsd"' } };
  // equal-length digests: the comparison takes the same time whatever the guess
  const a = createHash('sha256').update(m[1]!).digest();
  const b = createHash('sha256').update(token).digest();
  if (!timingSafeEqual(a, b)) return { status: 403, body: { error: 'wrong token' } };
  return undefined;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBounded(req, MAX_BODY + 1);
  if (Buffer.byteLength(raw) > MAX_BODY) throw new LvsError('LVSD_ERR_BAD_REQUEST', 'request body too large');
  const text = raw.trim();
  if (text === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new LvsError('LVSD_ERR_BAD_REQUEST', 'request body is not JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new LvsError('LVSD_ERR_BAD_REQUEST', 'request body must be a JSON object');
  return v as Record<string, unknown>;
}

function durationField(body: Record<string, unknown>, key: string): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  const r = typeof v === 'string' ? tryParseDuration(v) : { error: 'expected a duration string such as "30m"' };
  if ('error' in r) throw new LvsError('LVSD_ERR_BAD_REQUEST', `${key}: ${r.error}`);
  return r.ms;
}

const ROUTE = /^\/api\/v1\/services\/([^/]+)\/realservers\/([^/]+)\/(drain|ready|undrain|maint|weight|check)$/;

/** a POST to the control API; undefined when the path is not one of its */
export async function handleControl(req: IncomingMessage, path: string, c: ControlSources): Promise<Reply | undefined> {
  if (path === '/api/v1/reload') {
    const body = await readJson(req);
    const r = await c.reload(body.dry_run === true);
    return r.ok ? { status: 200, body: { ok: true, dry_run: body.dry_run === true, plan: r.plan, text: r.text } } : { status: 422, body: { ok: false, errors: r.errors } };
  }
  const m = ROUTE.exec(path);
  if (!m) return undefined;
  const service = decodeURIComponent(m[1]!);
  const realserver = decodeURIComponent(m[2]!);
  const action = m[3]!;
  const body = await readJson(req);
  const reason = typeof body.reason === 'string' && body.reason !== '' ? body.reason.slice(0, 200) : `${action} by the operator`;
  // an unknown service or realserver: the daemon's own LVSD_ERR_NOT_FOUND, a 404 through controlError
  switch (action) {
    case 'drain':
    case 'maint': {
      const forMs = durationField(body, 'for');
      c.setAdmin(service, realserver, action, { reason, ...(forMs !== undefined ? { forMs } : {}) });
      await c.settle();
      if (action === 'drain' && body.wait === true) {
        const timeoutMs = durationField(body, 'timeout') ?? 300_000;
        const t0 = Date.now();
        let active = await c.activeConnections(service, realserver);
        while (active !== null && active > 0 && Date.now() - t0 < timeoutMs) {
          await new Promise((r) => setTimeout(r, Math.min(WAIT_POLL_MS, timeoutMs - (Date.now() - t0))));
          active = await c.activeConnections(service, realserver);
        }
        const drained = active === null || active === 0;
        return {
          status: drained ? 200 : 504,
          body: { ok: drained, active_conns: active, waited_ms: Date.now() - t0, realserver: c.realserver(service, realserver), ...(drained ? {} : { error: `still ${active} active connections after ${Math.round((Date.now() - t0) / 1000)}s` }) },
        };
      }
      break;
    }
    case 'ready':
    case 'undrain':
      c.setAdmin(service, realserver, 'ready', { reason });
      await c.settle();
      break;
    case 'weight': {
      const w = body.weight;
      // the range is the daemon's to check (a 400 through controlError)
      if (w !== null && typeof w !== 'number') return { status: 400, body: { error: `weight must be a number, or null to go back to the config; got ${JSON.stringify(w)}` } };
      c.setWeight(service, realserver, w, reason);
      await c.settle();
      break;
    }
    case 'check':
      c.checkNow(service, realserver);
      break;
  }
  return { status: 200, body: { ok: true, realserver: c.realserver(service, realserver) } };
}

/** errors of the control API as replies */
export function controlError(e: unknown): Reply {
  if (e instanceof LvsError && e.code === 'LVSD_ERR_BAD_REQUEST') return { status: 400, body: { error: e.message } };
  if (e instanceof LvsError && e.code === 'LVSD_ERR_NOT_FOUND') return { status: 404, body: { error: e.message } };
  return { status: 500, body: { error: errorMessage(e) } };
}

export function sendReply(res: ServerResponse, r: Reply): void {
  res.writeHead(r.status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...(r.headers ?? {}) });
  res.end(`${JSON.stringify(r.body, null, 2)}\n`);
}
