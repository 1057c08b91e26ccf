import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HEAP_GROWING_PERCENT, useCompactHeap, V8_STARTUP_FLAGS } from '../../src/core/heap.js';

describe('useCompactHeap', () => {
  afterEach(() => vi.restoreAllMocks());

  it('sets the heap growing percent when the operator chose none', () => {
    const set = vi.spyOn(v8, 'setFlagsFromString').mockImplementation(() => {});
    expect(useCompactHeap({}, [])).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    expect(set).toHaveBeenCalledWith(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  });

  it("leaves the operator's choice alone (NODE_OPTIONS or node flags)", () => {
    const set = vi.spyOn(v8, 'setFlagsFromString').mockImplementation(() => {});
    expect(useCompactHeap({ NODE_OPTIONS: '--heap-growing-percent=200' }, [])).toBeUndefined();
    expect(useCompactHeap({}, ['--heap_growing_percent=10'])).toBeUndefined();
    expect(set).not.toHaveBeenCalled();
  });
});

it('the lvsd executable starts node with the start-up V8 flags', () => {
  const first = readFileSync(new URL('../../src/cli/main.ts', import.meta.url), 'utf8').split('\n')[0];
  expect(first).toBe(`#!/usr/bin/env -S node ${V8_STARTUP_FLAGS.join(' ')}`);
});
