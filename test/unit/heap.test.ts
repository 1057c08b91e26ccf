import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { collectParseGarbage, HEAP_GROWING_PERCENT, NO_PRETENURING_FLAG, useCompactHeap, V8_STARTUP_FLAGS } from '../../src/core/heap.js';

describe('useCompactHeap', () => {
  afterEach(() => vi.restoreAllMocks());

  it('sets the heap growing percent and turns pretenuring off when the operator chose neither', () => {
    const set = vi.spyOn(v8, 'setFlagsFromString').mockImplementation(() => {});
    const flags = [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`, NO_PRETENURING_FLAG];
    expect(useCompactHeap({}, [])).toEqual(flags);
    expect(set.mock.calls.map((c) => c[0])).toEqual(flags);
  });

  it("leaves the operator's choice alone (NODE_OPTIONS or node flags), flag by flag", () => {
    const set = vi.spyOn(v8, 'setFlagsFromString').mockImplementation(() => {});
    expect(useCompactHeap({ NODE_OPTIONS: '--heap-growing-percent=200' }, [])).toEqual([NO_PRETENURING_FLAG]);
    expect(useCompactHeap({}, ['--heap_growing_percent=10', '--allocation-site-pretenuring'])).toEqual([]);
    expect(useCompactHeap({ NODE_OPTIONS: '--no-allocation_site_pretenuring' }, [])).toEqual([`--heap-growing-percent=${HEAP_GROWING_PERCENT}`]);
    expect(set.mock.calls.map((c) => c[0])).toEqual([NO_PRETENURING_FLAG, `--heap-growing-percent=${HEAP_GROWING_PERCENT}`]);
  });
});

it('the lvsd executable starts node with the start-up V8 flags', () => {
  const first = readFileSync(new URL('../../src/cli/main.ts', import.meta.url), 'utf8').split('\n')[0];
  expect(first).toBe(`#!/usr/bin/env -S node ${V8_STARTUP_FLAGS.join(' ')}`);
});

it('collectParseGarbage runs a full collection without exposing gc to the process', () => {
  const hadGc = 'gc' in globalThis;
  // 80 MB of doubles held, then let go: garbage in the large-object space, which only a full
  // collection takes (a no-op in place of the collection fails this)
  let held: number[][] | undefined = [];
  for (let i = 0; i < 100; i++) held.push(new Array<number>(100_000).fill(i + 0.5));
  const withGarbage = v8.getHeapStatistics().used_heap_size;
  held = undefined;
  collectParseGarbage();
  collectParseGarbage(); // the second call reuses the first one's gc
  expect(v8.getHeapStatistics().used_heap_size).toBeLessThan(withGarbage - 30 * 2 ** 20);
  expect('gc' in globalThis).toBe(hadGc);
});
