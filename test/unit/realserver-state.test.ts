import { describe, expect, it } from 'vitest';
import { applyResult, checkPhase, initialHealth, type Health, type HealthState } from '../../src/state/realserver.js';

const H = { rise: 2, fall: 3 };

/** run a sequence of results (1 = ok, 0 = fail) from an initial health; returns health after each */
function run(initial: Health, seq: string, h = H): { healths: Health[]; transitions: string[]; state: HealthState } {
  const s = initialHealth(initial, 0);
  const healths: Health[] = [];
  const transitions: string[] = [];
  [...seq].forEach((c, i) => {
    const t = applyResult(s, c === '1', h, i + 1);
    healths.push(s.health);
    if (t) transitions.push(`${t.from}->${t.to}@${t.at}`);
  });
  return { healths, transitions, state: s };
}

describe('realserver state machine (rise 2, fall 3)', () => {
  it.each([
    // initial, results, health after each result, transitions
    ['unknown', '1', ['unknown'], []],
    ['unknown', '11', ['unknown', 'up'], ['unknown->up@2']],
    ['unknown', '000', ['unknown', 'unknown', 'down'], ['unknown->down@3']],
    ['unknown', '101', ['unknown', 'unknown', 'unknown'], []],
    ['unknown', '0011', ['unknown', 'unknown', 'unknown', 'up'], ['unknown->up@4']],
    ['up', '00', ['up', 'up'], []],
    ['up', '000', ['up', 'up', 'down'], ['up->down@3']],
    ['up', '00100', ['up', 'up', 'up', 'up', 'up'], []],
    ['up', '0101010', ['up', 'up', 'up', 'up', 'up', 'up', 'up'], []],
    ['up', '111', ['up', 'up', 'up'], []],
    ['down', '1', ['down'], []],
    ['down', '11', ['down', 'up'], ['down->up@2']],
    ['down', '101', ['down', 'down', 'down'], []],
    ['down', '000', ['down', 'down', 'down'], []],
    ['up', '000110001', ['up', 'up', 'down', 'down', 'up', 'up', 'up', 'down', 'down'], ['up->down@3', 'down->up@5', 'up->down@8']],
  ] as const)('%s + %s', (initial, seq, healths, transitions) => {
    const r = run(initial, seq);
    expect(r.healths).toEqual(healths);
    expect(r.transitions).toEqual(transitions);
  });

  it('resets the opposite streak on every result', () => {
    const r = run('up', '0010');
    expect(r.state).toMatchObject({ okStreak: 0, failStreak: 1 });
    const r2 = run('up', '001');
    expect(r2.state).toMatchObject({ okStreak: 1, failStreak: 0 });
  });

  it('records since at the transition only', () => {
    const r = run('unknown', '1111');
    expect(r.state.since).toBe(2);
  });

  it('rise 1 / fall 1 flips on every change', () => {
    const r = run('up', '0101', { rise: 1, fall: 1 });
    expect(r.healths).toEqual(['down', 'up', 'down', 'up']);
  });

  it.each([
    ['unknown', '', 'transition'],
    ['up', '11', 'steady'],
    ['up', '10', 'transition'],
    ['down', '00', 'down'],
    ['down', '1', 'transition'],
  ] as const)('phase of %s after "%s" is %s', (initial, seq, phase) => {
    expect(checkPhase(run(initial, seq).state)).toBe(phase);
  });
});
