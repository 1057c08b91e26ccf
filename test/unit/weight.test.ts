import { describe, expect, it } from 'vitest';
import { decideWeight, sorryActive, type WeightInput } from '../../src/state/weight.js';

const base: WeightInput = {
  health: 'up', upSince: 0, admin: 'none', configuredWeight: 5, onDown: 'quiescent', slowStartMs: 0, now: 1000,
};

describe('weight decision', () => {
  it.each([
    [{ health: 'up' }, { kind: 'present', weight: 5 }],
    [{ health: 'down' }, { kind: 'present', weight: 0 }],
    [{ health: 'down', onDown: 'remove' }, { kind: 'absent' }],
    [{ health: 'unknown' }, { kind: 'keep' }],
    [{ health: 'up', admin: 'drain' }, { kind: 'present', weight: 0 }],
    [{ health: 'down', admin: 'drain', onDown: 'remove' }, { kind: 'present', weight: 0 }],
    [{ health: 'up', admin: 'maint' }, { kind: 'absent' }],
    [{ health: 'up', configuredWeight: 0 }, { kind: 'present', weight: 0 }],
  ] as const)('%o -> %o', (over, decision) => {
    expect(decideWeight({ ...base, ...over }).decision).toEqual(decision);
  });

  it('ramps the weight linearly over slow_start and reports the next step', () => {
    const at = (now: number) => decideWeight({ ...base, configuredWeight: 10, slowStartMs: 10_000, upSince: 0, now });
    expect(at(0)).toEqual({ decision: { kind: 'present', weight: 1 }, nextChangeAt: 1000 });
    expect(at(999).decision).toEqual({ kind: 'present', weight: 1 });
    expect(at(1000)).toEqual({ decision: { kind: 'present', weight: 1 }, nextChangeAt: 2000 });
    expect(at(5000)).toEqual({ decision: { kind: 'present', weight: 5 }, nextChangeAt: 6000 });
    expect(at(9999)).toEqual({ decision: { kind: 'present', weight: 9 }, nextChangeAt: 10_000 });
    expect(at(10_000)).toEqual({ decision: { kind: 'present', weight: 10 } });
  });

  it('uses at most `weight` steps for small weights, never weight 0 while ramping', () => {
    const at = (now: number) => decideWeight({ ...base, configuredWeight: 3, slowStartMs: 30_000, now }).decision;
    expect([0, 10_000, 20_000, 29_999, 30_000].map((n) => (at(n) as { weight: number }).weight)).toEqual([1, 1, 2, 2, 3]);
  });

  it('slow start does not apply to a down or drained realserver', () => {
    expect(decideWeight({ ...base, health: 'down', slowStartMs: 10_000, now: 10 })).toEqual({ decision: { kind: 'present', weight: 0 } });
  });
});

describe('sorry server', () => {
  it.each([
    [[{ health: 'up', admin: 'none' }, { health: 'down', admin: 'none' }], false],
    [[{ health: 'down', admin: 'none' }, { health: 'down', admin: 'none' }], true],
    [[{ health: 'unknown', admin: 'none' }, { health: 'down', admin: 'none' }], false],
    [[{ health: 'up', admin: 'drain' }, { health: 'down', admin: 'none' }], true],
    [[{ health: 'up', admin: 'maint' }], true],
    [[], true],
  ] as const)('%o -> %s', (rs, active) => {
    expect(sorryActive(rs)).toBe(active);
  });
});
