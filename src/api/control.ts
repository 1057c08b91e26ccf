/**
 * The write side of the API: drain / maint / ready, weight overrides, check-now, reload. On the
 * Unix socket (mode 0600: root's) anyone who can connect may write; over TCP only with the
 * bearer token of api.token_file (compared in constant time): 401 without it, 403 when wrong.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tryParseDuration } from '../config/duration.js';
import { LvsError, errorMessage } from '../core/errors.js';
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

/** what each write takes in its JSON body; anything else is a 400 naming the key */
const BODY_KEYS: Readonly<Record<string, readonly string[]>> = {
  reload: ['dry_run'],
  drain: ['reason', 'for', 'wait', 'timeout'],
  maint: ['reason', 'for'],
  ready: ['reason'],
  undrain: ['reason'],
  weight: ['weight', 'reason'],
  check: ['reason'],
};

const badRequest = (message: string): LvsError => new LvsError('LVSD_ERR_BAD_REQUEST', message);

/**
 * The body as text, at most MAX_BODY bytes: a bigger one (by content-length or as it arrives)
 * is a 413; the rest is not read (the reply closes the connection).
 */
function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) return Promise.reject(new LvsError('LVSD_ERR_TOO_LARGE', `request body of ${declared} bytes: at most ${MAX_BODY}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_BODY) {
        done();
        req.pause();
        reject(new LvsError('LVSD_ERR_TOO_LARGE', `request body over ${MAX_BODY} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (e: Error): void => {
      done();
      reject(e);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

async function readJson(req: IncomingMessage, action: string): Promise<Record<string, unknown>> {
  const text = (await readBody(req)).trim();
  if (text === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw badRequest('request body is not JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw badRequest('request body must be a JSON object');
  const body = v as Record<string, unknown>;
  const allowed = BODY_KEYS[action] ?? [];
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw badRequest(`unknown field ${JSON.stringify(unknown[0])} (${action} takes ${allowed.join(', ')})`);
  for (const key of ['reason', 'for', 'timeout'] as const) {
    if (body[key] !== undefined && body[key] !== null && typeof body[key] !== 'string') throw badRequest(`${key} must be a string`);
  }
  for (const key of ['wait', 'dry_run'] as const) {
    if (body[key] !== undefined && typeof body[key] !== 'boolean') throw badRequest(`${key} must be true or false`);
  }
  return body;
}

/** a path segment as text; bad percent-encoding is the client's error */
function segment(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest(`${what} ${JSON.stringify(raw)} is not valid percent-encoding`);
  }
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
    const body = await readJson(req, 'reload');
    const r = await c.reload(body.dry_run === true);
    return r.ok ? { status: 200, body: { ok: true, dry_run: body.dry_run === true, plan: r.plan, text: r.text } } : { status: 422, body: { ok: false, errors: r.errors } };
  }
  const m = ROUTE.exec(path);
  if (!m) return undefined;
  const service = segment(m[1]!, 'service');
  const realserver = segment(m[2]!, 'realserver');
  const action = m[3]!;
  const body = await readJson(req, action);
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

/** errors of the control API as replies; anything unexpected is logged, not shown to the client */
export function controlError(e: unknown, log: (err: string) => void): Reply {
  if (e instanceof LvsError && e.code === 'LVSD_ERR_BAD_REQUEST') return { status: 400, body: { error: e.message } };
  if (e instanceof LvsError && e.code === 'LVSD_ERR_TOO_LARGE') return { status: 413, body: { error: e.message }, headers: { connection: 'close' } };
  if (e instanceof LvsError && e.code === 'LVSD_ERR_NOT_FOUND') return { status: 404, body: { error: e.message } };
  log(errorMessage(e));
  return { status: 500, body: { error: 'internal error (see the daemon log)' } };
}

export function sendReply(res: ServerResponse, r: Reply): void {
  res.writeHead(r.status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...(r.headers ?? {}) });
  res.end(`${JSON.stringify(r.body, null, 2)}\n`);
}
