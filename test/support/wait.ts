/** Polling for a condition in integration tests. */

/**
 * Poll `cond` every `everyMs` until it holds; resolves with the time that took (ms), throws
 * naming `what` after `timeoutMs`.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 50): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await cond()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
