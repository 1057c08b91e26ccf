/**
 * What a response's bytes, its end and a connection error decide, the same for both ways of
 * carrying an HTTP check (a net.Socket in checks/http.ts, a bare handle in checks/http-handle.ts),
 * so their verdicts cannot drift apart.
 */
import type { HttpResponseReader } from './http-response.js';
import { error, fail, type Attempt, type Verdict } from './result.js';

export type RoundTrip =
  | { readonly kind: 'response'; readonly reader: HttpResponseReader }
  | { readonly kind: 'verdict'; readonly verdict: Verdict }
  /** closed or reset before any byte of an answer: on a kept-alive connection, worth one retry */
  | { readonly kind: 'stale'; readonly detail: string };

/** how a kept connection that the server had already closed fails a write or a read */
const STALE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_WRITE_AFTER_END', 'ERR_STREAM_DESTROYED']);

/** one more chunk read; undefined while more is needed (the pending text then says how far it got) */
export function afterChunk(reader: HttpResponseReader, chunk: Buffer, attempt: Attempt): RoundTrip | undefined {
  const p = reader.push(chunk);
  if (p.kind === 'invalid') return { kind: 'verdict', verdict: fail(`invalid HTTP response: ${p.reason}`) };
  if (p.kind === 'done') return { kind: 'response', reader };
  if (reader.headDone) attempt.pending = `waiting for the body of HTTP ${reader.statusCode} (${reader.bodyBytes} bytes so far)`;
  return undefined;
}

/** the server closed after `bytes` bytes */
export function afterEnd(reader: HttpResponseReader, bytes: number): RoundTrip {
  if (bytes === 0) return { kind: 'stale', detail: 'connection closed before a response' };
  const p = reader.end();
  if (p.kind === 'done') return { kind: 'response', reader };
  return { kind: 'verdict', verdict: p.kind === 'invalid' ? fail(`invalid HTTP response: ${p.reason}`) : error('connection closed') };
}

/** the connection failed with `code` after `bytes` bytes */
export function afterError(code: string, bytes: number): RoundTrip {
  if (bytes === 0 && STALE_CODES.has(code)) return { kind: 'stale', detail: `connection failed: ${code}` };
  return { kind: 'verdict', verdict: error(`connection failed: ${code}`) };
}

/** the verdict of a round trip on a fresh connection, where a stale one is not retried */
export function freshOutcome(r: RoundTrip): HttpResponseReader | Verdict {
  return r.kind === 'response' ? r.reader : r.kind === 'verdict' ? r.verdict : error(r.detail);
}
