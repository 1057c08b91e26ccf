/**
 * V8 heap sizing for a long-running daemon. By default V8 lets the old generation grow to up to
 * 4x the live heap before the next full collection; lvsd's probes promote a steady trickle of
 * short-lived garbage (timers and results that live one interval), so RSS settles near 4x the
 * live set. A 50 % growing factor keeps it near 1.5x at the cost of more frequent (incremental,
 * cheap) full collections. Measured with 5,000 HTTP realservers at 2 s (npm run bench):
 * peak RSS 397 MB -> 215 MB, CPU 0.37 -> 0.36 cores, every check on time either way.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export const HEAP_GROWING_PERCENT = 50;

/**
 * V8 flags that only work at start-up, given on the `#!` line of the lvsd executable
 * (src/cli/main.ts; a unit test keeps the two the same) and to the benchmark's daemon. Young
 * semi-spaces of 4 MB instead of 16: 50,000 TCP realservers at 10 s, peak RSS 315 -> 288 MB for
 * ~5 % more CPU; 10,000 HTTP at 2 s, 209 -> 181 MB for ~10 % (npm run bench). To choose another,
 * run `node --max-semi-space-size=N .../main.js` (NODE_OPTIONS does not override a `#!` flag).
 */
export const V8_STARTUP_FLAGS = ['--max-semi-space-size=4'] as const;

/**
 * No allocation-site pretenuring: V8 learns, per allocation site, whether its objects tend to
 * survive, and from then on allocates them straight into the old generation. lvsd's start-up
 * (every realserver's first checks at the fast interval, a backlog of checks in flight for
 * seconds) taught it that the per-check objects survive; for the rest of the process each
 * check's short-lived objects then went to the old generation, 5-6 MB/s at 50,000 HTTP
 * realservers at 10 s, a full collection every ~9 s, each one a burst of checks started late.
 * Measured on that row (one run each, this machine): 82-87 -> 72 CPU ms per 1k checks, one full
 * collection in the 30 s window instead of three or four, lag p99 5-18 ms -> 0.5 ms.
 */
export const NO_PRETENURING_FLAG = '--no-allocation-site-pretenuring';

/**
 * Apply the compact-heap settings (the growing percent, no pretenuring), each unless the
 * operator chose it (NODE_OPTIONS or node flags). Returns the flags it set.
 */
export function useCompactHeap(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): string[] {
  const given = [...execArgv, env.NODE_OPTIONS ?? ''].join(' ');
  const set: string[] = [];
  if (!/heap[-_]growing[-_]percent/.test(given)) set.push(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  if (!/allocation[-_]site[-_]pretenuring/.test(given)) set.push(NO_PRETENURING_FLAG);
  for (const flag of set) v8.setFlagsFromString(flag);
  return set;
}

/** config texts at least this long get a full collection once parsed (see collectParseGarbage) */
export const BIG_CONFIG_CHARS = 1_000_000;

let fullGc: (() => void) | undefined;

/**
 * A full collection now, to return the `yaml` parser's working set before the next phase of a
 * big config load allocates: 50,000 realservers (2 MB of YAML) leave ~90 MB of parse tokens
 * behind the document, and V8 grew the heap past them instead of collecting them first.
 * Measured on that config: peak RSS of the parse 257-261 -> 210 MB; the collection takes
 * 46-65 ms and the parse's time did not change measurably (2.1-2.6 s without, 2.1-2.5 s with).
 * `gc` is exposed in a fresh context only (node's `--expose-gc`, set here, puts it there), so
 * nothing else in the process sees it.
 */
export function collectParseGarbage(): void {
  if (!fullGc) {
    v8.setFlagsFromString('--expose-gc');
    fullGc = vm.runInNewContext('gc') as () => void;
  }
  fullGc();
}
