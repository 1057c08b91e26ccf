/**
 * The realserver health state machine: pure, no clock reads, no I/O.
 *
 * | health  | result | counters after        | new health                          |
 * |---------|--------|-----------------------|-------------------------------------|
 * | unknown | ok     | ok+1, fail=0          | up   when okStreak   >= rise        |
 * | unknown | fail   | fail+1, ok=0          | down when failStreak >= fall        |
 * | up      | ok     | ok+1, fail=0          | up                                  |
 * | up      | fail   | fail+1, ok=0          | down when failStreak >= fall        |
 * | down    | fail   | fail+1, ok=0          | down                                |
 * | down    | ok     | ok+1, fail=0          | up   when okStreak   >= rise        |
 *
 * Every result resets the opposite streak, so interleaved failures (down, up, down, up...)
 * never accumulate into a transition.
 */
import type { InitialState } from '../config/types.js';

export type Health = 'unknown' | 'up' | 'down';

export interface Hysteresis {
  readonly rise: number;
  readonly fall: number;
}

export interface HealthState {
  readonly health: Health;
  readonly okStreak: number;
  readonly failStreak: number;
  /** when `health` last changed (or the state was created) */
  readonly since: number;
}

export interface Transition {
  readonly from: Health;
  readonly to: Health;
  readonly at: number;
}

export function initialHealth(initial: InitialState, at: number): HealthState {
  return { health: initial, okStreak: 0, failStreak: 0, since: at };
}

export function applyResult(
  s: HealthState,
  ok: boolean,
  h: Hysteresis,
  at: number,
): { readonly state: HealthState; readonly transition?: Transition } {
  const okStreak = ok ? s.okStreak + 1 : 0;
  const failStreak = ok ? 0 : s.failStreak + 1;
  let health = s.health;
  if (ok && health !== 'up' && okStreak >= h.rise) health = 'up';
  else if (!ok && health !== 'down' && failStreak >= h.fall) health = 'down';
  if (health === s.health) return { state: { ...s, okStreak, failStreak } };
  return {
    state: { health, okStreak, failStreak, since: at },
    transition: { from: s.health, to: health, at },
  };
}

/**
 * Which re-check interval applies: `transition` while the last results disagree with the
 * current health (a realserver on its way up or down: check faster, HAProxy's fastinter),
 * `down` while steadily down (downinter), `steady` otherwise.
 */
export type CheckPhase = 'steady' | 'transition' | 'down';

export function checkPhase(s: HealthState): CheckPhase {
  if (s.health === 'unknown') return 'transition';
  if (s.health === 'up' && s.failStreak > 0) return 'transition';
  if (s.health === 'down') return s.okStreak > 0 ? 'transition' : 'down';
  return 'steady';
}
