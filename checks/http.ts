/**
 * http / https: one request on a kept-alive or fresh connection (checks/http-connections; a
 * fresh plain-HTTP one on a bare handle where Node has it, checks/http-handle), the response
 * read by checks/http-response; status and body checked. The deadline is the
 * attempt's signal and covers connect, handshake, headers and the whole body.
 */
import net from 'node:net';
import { connectingTo } from './connect.js';
import type { HttpConnections, HttpOrigin } from './http-connections.js';
import type { FreshExchange } from './http-handle.js';
import { afterChunk, afterEnd, afterError, freshOutcome, type RoundTrip } from './http-round-trip.js';
import { HttpResponseReader } from './http-response.js';
import type { Attempt, Verdict } from './result.js';
import { compileRegex, error, fail, ok, quotePrefix, runAttempt, type AttemptRegistry } from './result.js';
import type { HttpCheckSpec, Probe, ProbeContext, ProbeResult, ProbeTarget } from './types.js';

/** bytes of body kept for the expect_body regex; a longer body is not read further */
export const BODY_MAX_BYTES = 64 * 1024;
const USER_AGENT = 'lvsd-probe';
/** methods that carry a body in the semantics of HTTP: an empty one is declared */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Host header default: the target address (`[v6]` bracketed), plus `:port` unless it is the scheme's default. */
export function defaultHost(scheme: 'http' | 'https', target: ProbeTarget): string {
  // a ProbeTarget address is an IP literal: a colon means IPv6 (no regex per check)
  const addr = target.address.includes(':') ? `[${target.address}]` : target.address;
  const defaultPort = scheme === 'https' ? 443 : 80;
  return target.port === defaultPort ? addr : `${addr}:${target.port}`;
}

/** The TLS server name: the configured sni, else a name (not an address) in the Host header, else none. */
export function serverName(spec: HttpCheckSpec): string | undefined {
  if (spec.sni !== undefined) return spec.sni;
  if (spec.host === undefined) return undefined;
  const name = spec.host.startsWith('[') ? spec.host.slice(1, spec.host.indexOf(']')) : spec.host.replace(/:\d+$/, '');
  return name === '' || net.isIP(name) !== 0 ? undefined : name;
}

/** `freshHttp`: how a fresh plain-HTTP connection is made; the socket way when undefined */
export function createHttpProbe(spec: HttpCheckSpec, conns: HttpConnections, stop: AttemptRegistry, freshHttp?: FreshExchange): Probe {
  const expectBody = spec.expectBody === undefined ? undefined : compileRegex(spec.expectBody);
  const expected = spec.expectStatus.length > 0 ? spec.expectStatus : [200];
  const path = spec.path.startsWith('/') ? spec.path : `/${spec.path}`;
  const method = spec.method.toUpperCase();
  const headRequest = method === 'HEAD';
  const servername = serverName(spec);
  const tlsKey = spec.type === 'https' ? `|tls|${spec.tlsVerify ? 'v' : 'nv'}|${servername ?? ''}` : '';
  const tlsOptions = spec.type === 'https' ? { rejectUnauthorized: spec.tlsVerify, ...(servername !== undefined ? { servername } : {}) } : undefined;
  // everything after the Host line is the same for every target
  const tail = `\r\nUser-Agent: ${USER_AGENT}\r\n${BODY_METHODS.has(method) ? 'Content-Length: 0\r\n' : ''}${spec.freshConnection ? 'Connection: close\r\n' : ''}\r\n`;
  const head = `${method} ${path} HTTP/1.1\r\nHost: `;

  /**
   * Request text and pool key per check, not kept per target: a cache of both was ~14 MB of
   * old-generation heap at 50,000 realservers (and half again in RSS, with the heap's growth
   * headroom); the row's CPU per check did not move beyond the spread of single runs without
   * it. Short-lived strings die young.
   */
  // chosen once: a fresh plain-HTTP connection goes on a bare handle where the kit has one
  const viaHandle = spec.freshConnection && !tlsOptions ? freshHttp : undefined;
  const requestFor = (target: ProbeTarget): string => `${head}${spec.host ?? defaultHost(spec.type, target)}${tail}`;
  const originOf = (target: ProbeTarget): HttpOrigin => ({
    key: `${target.address}|${target.port}${tlsKey}`, address: target.address, port: target.port,
    ...(tlsOptions ? { tls: tlsOptions } : {}),
  });

  return {
    type: spec.type,
    check(target: ProbeTarget, ctx: ProbeContext): Promise<ProbeResult> {
      return runAttempt(ctx, stop, async (attempt) => {
        if (expectBody !== undefined && !(expectBody instanceof RegExp)) return expectBody;
        const request = requestFor(target);
        const res = viaHandle
          ? await viaHandle(target, request, new HttpResponseReader({ headRequest, keepBytes: BODY_MAX_BYTES }), attempt)
          : await exchange(conns, originOf(target), request, headRequest, spec.freshConnection, attempt);
        if ('outcome' in res) return res;
        const status = `HTTP ${res.statusCode}`;
        if (!expected.includes(res.statusCode)) return fail(`${status}, expected ${expected.join(' or ')}`);
        if (expectBody === undefined) return ok(status);
        const text = res.body();
        if (!expectBody.test(text)) {
          // a body cut at the cap (huge or endless) says so: the rest was never read
          const within = res.truncated ? ` in its first ${BODY_MAX_BYTES} bytes` : '';
          return fail(`body did not match /${spec.expectBody}/${within}: got ${quotePrefix(text)}`);
        }
        return ok(`${status}, body matched /${spec.expectBody}/`);
      });
    },
  };
}

/**
 * Send the request and read the response. A kept-alive connection that the server had closed
 * (no byte of an answer, then EOF or reset) is not the target's fault: the request goes again
 * once on a fresh connection, within the same deadline.
 */
async function exchange(
  conns: HttpConnections, origin: HttpOrigin, request: string, headRequest: boolean, fresh: boolean, attempt: Attempt,
): Promise<HttpResponseReader | Verdict> {
  let sock = fresh ? undefined : conns.take(origin.key);
  for (;;) {
    const reused = sock !== undefined;
    if (!sock) {
      attempt.pending = connectingTo(origin);
      const c = await conns.connect(origin, attempt.signal, attempt);
      if ('outcome' in c) return c;
      sock = c;
    }
    attempt.pending = 'waiting for headers';
    const r = await roundTrip(sock, request, headRequest, attempt);
    if (r.kind === 'stale' && reused) {
      sock = undefined;
      continue;
    }
    if (r.kind !== 'response') return freshOutcome(r);
    if (!fresh && r.reader.reusable) conns.release(origin.key, sock);
    else sock.destroy();
    return r.reader;
  }
}

function roundTrip(sock: net.Socket, request: string, headRequest: boolean, attempt: Attempt): Promise<RoundTrip> {
  return new Promise((resolve) => {
    const reader = new HttpResponseReader({ headRequest, keepBytes: BODY_MAX_BYTES });
    let bytes = 0;
    const finish = (r: RoundTrip): void => {
      sock.removeListener('data', onData);
      sock.removeListener('end', onEnd);
      sock.removeListener('close', onEnd);
      sock.removeListener('error', onError);
      attempt.signal.removeEventListener('abort', onAbort);
      if (r.kind !== 'response') sock.destroy();
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      const r = afterChunk(reader, chunk, attempt);
      if (r) finish(r);
    };
    const onEnd = (): void => finish(afterEnd(reader, bytes));
    const onError = (e: NodeJS.ErrnoException): void => finish(afterError(e.code ?? e.message, bytes));
    // the attempt's own verdict (timeout, kit closed) wins in runAttempt; this only frees the socket
    const onAbort = (): void => finish({ kind: 'verdict', verdict: error('aborted') });
    sock.on('data', onData);
    sock.on('end', onEnd);
    sock.on('close', onEnd);
    sock.on('error', onError);
    attempt.signal.addEventListener('abort', onAbort, { once: true });
    sock.write(request, 'latin1');
  });
}
