/** What the icmp probe asks of a pinger (fping batcher or the system-ping fallback). */
import type { AbortLike } from './cancel.js';

export interface PingRequest {
  /** IPv4 or IPv6 literal */
  readonly address: string;
  /** echo requests to send */
  readonly count: number;
  /** the check's total deadline, ms; the pinger must answer within it */
  readonly timeoutMs: number;
  readonly signal: AbortLike;
}

export type PingReply =
  /** the pinger ran; `rttsMs` holds one entry per reply (may be empty) */
  | { readonly kind: 'replies'; readonly sent: number; readonly rttsMs: readonly number[] }
  /** the pinger ran but gave no usable answer for this target */
  | { readonly kind: 'error'; readonly detail: string }
  /** the pinger binary could not be started at all (ENOENT, EACCES): switch to the fallback */
  | { readonly kind: 'unavailable'; readonly detail: string };

export interface Pinger {
  ping(req: PingRequest): Promise<PingReply>;
  /** kill running processes and answer every waiter */
  close(): void;
}

/**
 * Per-echo wait so that `count` echoes plus process start-up fit inside the check's deadline:
 * a silent target must come back as "no reply" (`fail`), not as a `timeout`.
 */
export function perEchoWaitMs(timeoutMs: number, count: number, overheadMs: number): number {
  return Math.max(10, Math.floor((timeoutMs * 0.9 - 60 - overheadMs) / Math.max(1, count)));
}
