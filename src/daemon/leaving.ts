/**
 * Realservers leaving a managed service: pure. A destination the kernel holds in a service lvsd
 * manages, but that the config does not name (taken out of the config while lvsd was down, or
 * added by hand), is not cut off: it is quiesced (weight 0, no new connections) and removed once
 * its active connections reach 0 or `drainMs` has passed since lvsd first saw it leaving.
 * With drainMs 0, or no active connections, it is removed at once.
 */
import { type IpvsTable, type ServiceEntry, type WantedDestination, type WantedTable } from '../ipvs/types.js';

/** how often a draining destination's connection count is looked at again */
export const LEAVING_POLL_MS = 2000;

export interface LeavingDestination {
  readonly serviceKey: string;
  readonly destKey: string;
  /** when lvsd first saw it leaving */
  readonly since: number;
  readonly activeConns: number;
}

export interface LeavingInput {
  readonly wanted: WantedTable;
  readonly actual: IpvsTable;
  /** per service key, the destinations the config names (realservers and sorry server) */
  readonly configured: ReadonlyMap<string, ReadonlySet<string>>;
  /** "serviceKey|destKey" → since, from the previous pass */
  readonly since: ReadonlyMap<string, number>;
  readonly now: number;
  readonly drainMs: number;
}

export interface LeavingResult {
  /** `wanted` plus the draining destinations at weight 0 */
  readonly table: WantedTable;
  /** the state for the next pass: only destinations still draining */
  readonly since: Map<string, number>;
  readonly draining: readonly LeavingDestination[];
  /** when to look again (a connection count may fall to 0, a drain may time out) */
  readonly nextCheckAt?: number;
}

export function planLeaving(i: LeavingInput): LeavingResult {
  const since = new Map<string, number>();
  const draining: LeavingDestination[] = [];
  const services = new Map(i.wanted.services);
  let nextCheckAt: number | undefined;
  for (const [key, want] of i.wanted.services) {
    const have = i.actual.services.get(key);
    const named = i.configured.get(key);
    if (!have || !named) continue;
    let extra: Map<string, WantedDestination> | undefined;
    for (const [dkey, d] of have.destinations) {
      if (named.has(dkey) || want.destinations.has(dkey)) continue;
      const id = `${key}|${dkey}`;
      const start = i.since.get(id) ?? i.now;
      if (i.drainMs <= 0 || d.activeConns === 0 || i.now - start >= i.drainMs) continue; // removed by the diff
      since.set(id, start);
      draining.push({ serviceKey: key, destKey: dkey, since: start, activeConns: d.activeConns });
      extra ??= new Map(want.destinations);
      extra.set(dkey, {
        endpoint: d.endpoint, forward: d.forward, weight: 0, upperThreshold: d.upperThreshold, lowerThreshold: d.lowerThreshold,
      });
      const at = Math.min(start + i.drainMs, i.now + LEAVING_POLL_MS);
      nextCheckAt = nextCheckAt === undefined ? at : Math.min(nextCheckAt, at);
    }
    if (extra) services.set(key, { service: want.service, destinations: extra } satisfies ServiceEntry<WantedDestination>);
  }
  return { table: { services }, since, draining, ...(nextCheckAt !== undefined ? { nextCheckAt } : {}) };
}
