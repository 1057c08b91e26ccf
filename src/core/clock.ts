/** Time as the daemon sees it. Pure cores take `at` values; everything else takes a Clock. */

export interface TimerHandle {
  /** idempotent */
  cancel(): void;
}

export interface Clock {
  /** milliseconds since the epoch, monotonic within the process (never jumps back with NTP) */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

const origin = performance.timeOrigin;

/** The real clock. Timers are unref'd: a pending probe timer alone never keeps the process up. */
export const systemClock: Clock = {
  now: () => origin + performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};
