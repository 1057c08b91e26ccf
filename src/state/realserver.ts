/**
 * The realserver health state machine: no clock reads, no I/O; applyResult updates the
 * state it is given.
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

/** A realserver's health and streaks; applyResult updates it in place (one per realserver). */
export interface HealthState {
  health: Health;
  okStreak: number;
  failStreak: number;
  /** when `health` last changed (or the state was created) */
  since: number;
}

export interface Transition {
  readonly from: Health;
  readonly to: Health;
  readonly at: number;
}

export function initialHealth(initial: InitialState, at: number): HealthState {
  return { health: initial, okStreak: 0, failStreak: 0, since: at };
}

/**
 * Count one result into `s` (in place: a new state per check was two objects promoted to the
 * old generation per check at 50,000 realservers, since each lived one interval). Returns the
 * transition when the health changed.
 */
export function applyResult(s: HealthState, ok: boolean, h: Hysteresis, at: number): Transition | undefined {
  s.okStreak = ok ? s.okStreak + 1 : 0;
  s.failStreak = ok ? 0 : s.failStreak + 1;
  const from = s.health;
  if (ok && from !== 'up' && s.okStreak >= h.rise) s.health = 'up';
  else if (!ok && from !== 'down' && s.failStreak >= h.fall) s.health = 'down';
  else return undefined;
  s.since = at;
  return { from, to: s.health, at };
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
