/** Small helpers for calling probes in tests. */
import type { ProbeContext, ProbeTarget } from '../../checks/types.js';

/** A context whose signal fires a TimeoutError after `ms`, like the daemon's deadline. */
export function deadline(ms: number): ProbeContext {
  return { signal: AbortSignal.timeout(ms), timeoutMs: ms };
}

export function local(port: number, address = '127.0.0.1'): ProbeTarget {
  return { address, port };
}
