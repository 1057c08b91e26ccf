/**
 * A cheap one-shot cancellation for the probe hot path. Node's AbortController is an EventTarget:
 * creating one, adding and removing a listener and aborting it costs 6-17 µs, and a check used
 * three of them (the scheduler's deadline, the attempt, the settle), a fifth of a TCP check's
 * whole cost. `Cancellation` has the part of AbortSignal's shape probes use (aborted, reason,
 * add/removeEventListener('abort')), so a real AbortSignal is accepted wherever an AbortLike is;
 * APIs that need a real one (child_process) get it from `abortSignalOf`, made on first use.
 */

/** what probes need of a signal: an AbortSignal satisfies it */
export interface AbortLike {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { readonly once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export class Cancellation implements AbortLike {
  private state: { readonly reason: unknown } | undefined;
  /** listeners in the order added; few (one to three) per attempt */
  private listeners: (() => void)[] = [];
  private real: AbortController | undefined;

  get aborted(): boolean {
    return this.state !== undefined;
  }

  get reason(): unknown {
    return this.state?.reason;
  }

  /** every listener runs once (aborting is one-shot, as with { once: true }); adding after the abort does nothing, as with AbortSignal */
  addEventListener(_type: 'abort', listener: () => void, _options?: { readonly once?: boolean }): void {
    if (this.state || this.listeners.includes(listener)) return;
    this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  abort(reason: unknown): void {
    if (this.state) return;
    this.state = { reason };
    const listeners = this.listeners;
    this.listeners = [];
    this.real?.abort(reason);
    for (const fn of listeners) {
      try {
        fn();
      } catch (err) {
        // as an EventTarget does: a throwing listener does not stop the others, and is not swallowed
        queueMicrotask(() => { throw err; });
      }
    }
  }

  /** a real AbortSignal that aborts with this one */
  toAbortSignal(): AbortSignal {
    if (!this.real) {
      this.real = new AbortController();
      if (this.state) this.real.abort(this.state.reason);
    }
    return this.real.signal;
  }
}

/** the AbortSignal an API wants (execFile, spawn): the signal itself, or one that follows it */
export function abortSignalOf(s: AbortLike): AbortSignal {
  if (s instanceof AbortSignal) return s;
  if (s instanceof Cancellation) return s.toAbortSignal();
  const ac = new AbortController();
  if (s.aborted) ac.abort(s.reason);
  else s.addEventListener('abort', () => ac.abort(s.reason), { once: true });
  return ac.signal;
}
