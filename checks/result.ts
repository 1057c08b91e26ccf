/**
 * The one place that turns probe work into a ProbeResult: deadline, kit shutdown, timing and
 * "never rejects" are handled here once, so each probe only describes its protocol.
 */
import { Cancellation, type AbortLike } from './cancel.js';
import type { ProbeContext, ProbeOutcome, ProbeResult } from './types.js';

export interface Verdict {
  readonly outcome: ProbeOutcome;
  readonly detail: string;
}

/** what a check waits for, as text; an object whose toString() builds it when it is needed */
export type Pending = string | { toString(): string };

/** What a probe body gets: an abort signal (deadline or kit closed) and a slot for "what we wait for". */
export interface Attempt {
  readonly signal: AbortLike;
  /** e.g. "connecting", "waiting for headers"; shown in the timeout detail */
  pending: Pending;
}

export const ok = (detail: string): Verdict => ({ outcome: 'ok', detail });
export const fail = (detail: string): Verdict => ({ outcome: 'fail', detail });
export const error = (detail: string): Verdict => ({ outcome: 'error', detail });

/**
 * The kit's attempts in flight: closing the kit aborts them all. A set rather than a listener
 * per attempt on one kit-wide AbortSignal, whose addEventListener scans every listener already
 * there (a few percent of CPU with a thousand probes in flight).
 */
export class AttemptRegistry {
  private readonly live = new Set<Cancellation>();
  private closedWith: { readonly reason: unknown } | undefined;

  /** track an attempt; one registered after close is aborted at once */
  add(ac: Cancellation): void {
    if (this.closedWith) ac.abort(this.closedWith.reason);
    else this.live.add(ac);
  }

  delete(ac: Cancellation): void {
    this.live.delete(ac);
  }

  close(reason: unknown): void {
    if (this.closedWith) return;
    this.closedWith = { reason };
    for (const ac of this.live) ac.abort(reason);
    this.live.clear();
  }
}

/** Abort reason once a probe has settled (releases whatever still listens); one shared object, no stack capture per probe. */
const SETTLED = Object.freeze(new Error('probe settled'));

/**
 * Run one probe body under the context's deadline and the kit's registry (closed = stop).
 * Settles as soon as either aborts, even if the body is slow to notice; the body must free its
 * own sockets/children when `attempt.signal` aborts. Once this returns, the attempt's signal is
 * aborted too, so nothing the body started can outlive the check.
 */
export function runAttempt(
  ctx: ProbeContext,
  stop: AttemptRegistry,
  body: (attempt: Attempt) => Promise<Verdict>,
): Promise<ProbeResult> {
  // One promise settled once by whichever comes first, the body or an abort: not an async
  // function racing two more promises (an HTTP check allocated 7.7 KB with those, 6.7 without).
  return new Promise<ProbeResult>((resolve) => {
    const t0 = performance.now();
    const ac = new Cancellation();
    const unlink = link(ctx.signal, ac);
    stop.add(ac);
    const attempt: Attempt = { signal: ac, pending: 'before starting' };
    let settled = false;
    const settle = (v: Verdict): void => {
      if (settled) return;
      settled = true;
      unlink();
      stop.delete(ac);
      ac.removeEventListener('abort', onAbort);
      // nothing the body started may outlive the check
      if (!ac.aborted) ac.abort(SETTLED);
      resolve({ ok: v.outcome === 'ok', outcome: v.outcome, detail: v.detail, durationMs: performance.now() - t0 });
    };
    const onAbort = (): void => settle(abortVerdict(ac.reason, attempt.pending, ctx.timeoutMs));
    if (ac.aborted) {
      onAbort();
      return;
    }
    ac.addEventListener('abort', onAbort, { once: true });
    let work: Promise<Verdict>;
    try {
      work = body(attempt);
    } catch (err) {
      work = Promise.reject(err);
    }
    work.then(settle, (err: unknown) => settle(ac.aborted ? abortVerdict(ac.reason, attempt.pending, ctx.timeoutMs) : error(describeError(err))));
  });
}

/** Forward an abort from `from` to `to`; returns the unlink function (no AbortSignal.any: no leaks on long-lived signals). */
function link(from: AbortLike, to: Cancellation): () => void {
  if (from.aborted) {
    to.abort(from.reason);
    return () => {};
  }
  const fwd = (): void => to.abort(from.reason);
  from.addEventListener('abort', fwd, { once: true });
  return () => from.removeEventListener('abort', fwd);
}

/** A TimeoutError-named reason (AbortSignal.timeout, or the daemon's own deadline) means "timeout". */
export function isTimeoutReason(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
}

export function abortVerdict(reason: unknown, pending: Pending, timeoutMs: number): Verdict {
  if (isTimeoutReason(reason)) return { outcome: 'timeout', detail: `timeout after ${timeoutMs}ms ${pending}` };
  const why = reason instanceof Error ? reason.message : String(reason);
  return error(`aborted ${pending}: ${why}`);
}

/** "ECONNREFUSED", or the message when there is no code. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code !== '') return code;
    return err.message || err.name;
  }
  return String(err);
}

/** A short, printable, quoted prefix of what a peer sent: `"Password: \r\n"`. */
export function quotePrefix(text: string, max = 40): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  // JSON escapes quotes and control bytes; the rest of latin1 is escaped as \xNN
  const body = JSON.stringify(cut)
    .slice(1, -1)
    .replace(/[\u007f-\uffff]/g, (c) => {
      const n = c.charCodeAt(0);
      return n > 0xff ? `\\u${n.toString(16).padStart(4, '0')}` : `\\x${n.toString(16)}`;
    });
  return `"${body}${text.length > max ? '…' : ''}"`;
}

/** First non-empty line, trimmed and shortened, for details. */
export function firstLine(text: string, max = 200): string {
  const line = text.split(/\r?\n/).find((l) => l.trim() !== '')?.trim() ?? '';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** Compile a config regex once per probe; a bad one becomes an `error` verdict for every check, never a throw. */
export function compileRegex(source: string): RegExp | Verdict {
  try {
    return new RegExp(source);
  } catch (err) {
    return error(`invalid regex /${source}/: ${err instanceof Error ? err.message : String(err)}`);
  }
}
