/**
 * What the IPVS table should hold for a realserver, and for a service's sorry server.
 * Pure: takes health, admin state and the time; returns a decision.
 */
import type { OnDown } from '../config/types.js';
import type { Health } from './realserver.js';

/** Operator override (drain/maint come from the control API). */
export type AdminState = 'none' | 'drain' | 'maint';

/** what IPVS accepts as a weight */
export const MAX_WEIGHT = 65535;
export const isWeight = (w: unknown): w is number => typeof w === 'number' && Number.isInteger(w) && w >= 0 && w <= MAX_WEIGHT;

/**
 * present  the entry is in the table with this weight
 * absent   the entry must not be in the table
 * keep     no decision yet (health unknown): leave whatever the kernel has, add nothing
 */
export type WeightDecision =
  | { readonly kind: 'present'; readonly weight: number }
  | { readonly kind: 'absent' }
  | { readonly kind: 'keep' };

export interface WeightInput {
  readonly health: Health;
  /** when the realserver last became UP */
  readonly upSince: number;
  readonly admin: AdminState;
  readonly configuredWeight: number;
  readonly onDown: OnDown;
  readonly slowStartMs: number;
  readonly now: number;
}

/** Number of steps a slow-start ramp takes: never more than the weight, at most 10. */
function rampSteps(weight: number): number {
  return Math.max(1, Math.min(weight, 10));
}

export interface WeightResult {
  readonly decision: WeightDecision;
  /** when the decision will change by itself (next slow-start step), if ever */
  readonly nextChangeAt?: number;
}

export function decideWeight(i: WeightInput): WeightResult {
  if (i.admin === 'maint') return { decision: { kind: 'absent' } };
  if (i.admin === 'drain') return { decision: { kind: 'present', weight: 0 } };
  switch (i.health) {
    case 'unknown':
      return { decision: { kind: 'keep' } };
    case 'down':
      return { decision: i.onDown === 'remove' ? { kind: 'absent' } : { kind: 'present', weight: 0 } };
    case 'up':
      return slowStart(i);
  }
}

function slowStart(i: WeightInput): WeightResult {
  const w = i.configuredWeight;
  const elapsed = i.now - i.upSince;
  if (i.slowStartMs <= 0 || w === 0 || elapsed >= i.slowStartMs) {
    return { decision: { kind: 'present', weight: w } };
  }
  const steps = rampSteps(w);
  const stepMs = i.slowStartMs / steps;
  // step k (0-based) of `steps`: weight grows linearly and reaches the full weight at slow_start;
  // the first step already carries a little traffic (weight >= 1)
  const k = Math.min(steps - 1, Math.floor(elapsed / stepMs));
  const weight = Math.max(1, Math.floor((w * k) / steps));
  return { decision: { kind: 'present', weight }, nextChangeAt: i.upSince + (k + 1) * stepMs };
}

/**
 * The sorry server carries the service while nobody else can: no realserver is UP and none
 * is still UNKNOWN (at start-up we wait for the first verdicts rather than flip to sorry).
 */
export function sorryActive(healths: readonly { health: Health; admin: AdminState }[]): boolean {
  let anyUnknown = false;
  for (const r of healths) {
    if (r.admin !== 'none') continue;
    if (r.health === 'up') return false;
    if (r.health === 'unknown') anyUnknown = true;
  }
  return !anyUnknown;
}
