/**
 * From config and realserver states to the table lvsd wants: pure. Kept incrementally: the
 * daemon marks a realserver dirty when its health, admin state or weight override changes, and
 * an update recomputes only those (and the slow-start ramps, which change with time), so a state
 * change costs O(1), not a pass over every realserver of a 50,000-realserver config. It also
 * says which destinations changed since the reconciler last asked (the reconciler diffs only
 * those) and when the answer will change by itself (the next slow-start step).
 */
import type { Endpoint, RealserverConfig, ServiceConfig } from '../config/types.js';
import {
  endpointKey, serviceKey, type ServiceEntry, type VirtualService, type WantedChanges, type WantedDestination, type WantedTable,
} from '../ipvs/types.js';
import type { HealthState } from '../state/realserver.js';
import { decideWeight, type AdminState, type WeightDecision } from '../state/weight.js';

export interface RealserverView {
  readonly health: HealthState;
  readonly upSince: number;
  readonly admin: AdminState;
  /** the operator's weight in place of the configured one */
  readonly weightOverride?: number | undefined;
}

export interface ServiceView {
  readonly config: ServiceConfig;
  /** same order as config.realservers; read again at every update (live objects) */
  readonly realservers: readonly RealserverView[];
}

export interface ServiceDecisions {
  /** per realserver, config order */
  readonly realservers: readonly WeightDecision[];
  /** the sorry server is in */
  readonly sorry: boolean;
}

export interface WantedResult {
  readonly table: WantedTable;
  /** per service name: decision per realserver (config order) and whether the sorry server is in */
  readonly decisions: ReadonlyMap<string, ServiceDecisions>;
  readonly nextChangeAt?: number;
}

export function virtualService(s: ServiceConfig): VirtualService {
  // a fwmark service's family is its realservers' (the loader makes them agree)
  const ipv6 = s.protocol === 'fwmark' && [...s.realservers.map((r) => r.endpoint), ...(s.sorryServer ? [s.sorryServer] : [])]
    .some((e) => e.host.includes(':'));
  return {
    protocol: s.protocol,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(s.fwmark !== undefined ? { fwmark: s.fwmark } : {}),
    ...(ipv6 ? { ipv6 } : {}),
    scheduler: s.scheduler,
    ...(s.persistenceMs ? { persistenceSec: Math.max(1, Math.ceil(s.persistenceMs / 1000)) } : {}),
    ...(s.persistenceMs && s.persistenceNetmask ? { persistenceNetmask: s.persistenceNetmask } : {}),
  };
}

/** what a realserver adds to the sorry server's rule: usable (admin none, UP), waited for (admin none, UNKNOWN), neither */
const Part = { None: 0, Usable: 1, Unknown: 2 } as const;
type Part = (typeof Part)[keyof typeof Part];

function partOf(v: RealserverView): Part {
  if (v.admin !== 'none') return Part.None;
  return v.health.health === 'up' ? Part.Usable : v.health.health === 'unknown' ? Part.Unknown : Part.None;
}

/** one service's wanted entry and the bookkeeping to keep it current */
class ServiceSlot {
  readonly key: string;
  readonly service: VirtualService;
  readonly destinations = new Map<string, WantedDestination>();
  readonly decisions: WeightDecision[];
  readonly result: { realservers: readonly WeightDecision[]; sorry: boolean };
  /** endpointKey per realserver index, and back */
  private readonly destKeys: string[];
  private readonly byDest = new Map<string, number>();
  private readonly sorryKey: string | undefined;
  private readonly parts: Uint8Array;
  private usable = 0;
  private unknown = 0;
  readonly dirty = new Set<number>();
  /** realservers on a slow-start ramp: index → when their weight steps next */
  readonly ramping = new Map<number, number>();

  readonly view: ServiceView;

  constructor(view: ServiceView) {
    this.view = view;
    const svc = view.config;
    this.service = virtualService(svc);
    this.key = serviceKey(this.service);
    // a realserver's id is its endpoint key (config/load.ts): shared, not one more string each
    this.destKeys = svc.realservers.map((rs) => rs.id);
    this.destKeys.forEach((k, i) => this.byDest.set(k, i));
    this.sorryKey = svc.sorryServer ? endpointKey(svc.sorryServer) : undefined;
    this.parts = new Uint8Array(svc.realservers.length);
    this.decisions = svc.realservers.map(() => ({ kind: 'keep' }));
    this.result = { realservers: this.decisions, sorry: false };
    for (let i = 0; i < svc.realservers.length; i++) {
      if (!view.realservers[i]) throw new Error(`service ${svc.name}: no state for realserver ${svc.realservers[i]!.id}`);
      this.dirty.add(i);
    }
  }

  /** recompute the dirty and ramping realservers; `changed` gets every destination whose entry changed */
  update(now: number, changed: (key: string) => void): void {
    const touched: string[] = [];
    const redo = (i: number): void => {
      const view = this.view.realservers[i]!;
      const rs = this.view.config.realservers[i]!;
      const { decision, nextChangeAt } = decideWeight({
        health: view.health.health, upSince: view.upSince, admin: view.admin,
        configuredWeight: view.weightOverride ?? rs.weight, onDown: rs.onDown, slowStartMs: this.view.config.slowStartMs, now,
      });
      this.decisions[i] = decision;
      if (nextChangeAt !== undefined) this.ramping.set(i, nextChangeAt);
      else this.ramping.delete(i);
      const part = partOf(view);
      if (part !== this.parts[i]) {
        this.count(this.parts[i] as Part, -1);
        this.count(part, 1);
        this.parts[i] = part;
      }
      touched.push(this.destKeys[i]!);
    };
    for (const i of this.dirty) redo(i);
    for (const i of this.ramping.keys()) if (!this.dirty.has(i)) redo(i);
    this.dirty.clear();
    // the sorry server carries the service while no realserver is UP and none is still UNKNOWN
    const sorry = this.sorryKey !== undefined && this.usable === 0 && this.unknown === 0;
    if (sorry !== this.result.sorry) {
      this.result.sorry = sorry;
      touched.push(this.sorryKey!);
    }
    for (const key of touched) {
      const want = this.resolve(key);
      const have = this.destinations.get(key);
      if (want === undefined ? have === undefined : have !== undefined && sameWanted(want, have)) continue;
      if (want === undefined) this.destinations.delete(key);
      else this.destinations.set(key, want);
      changed(key);
    }
  }

  private count(part: Part, sign: 1 | -1): void {
    if (part === Part.Usable) this.usable += sign;
    else if (part === Part.Unknown) this.unknown += sign;
  }

  /** the entry a destination key should have: the sorry server while it is in, else its realserver's decision */
  private resolve(key: string): WantedDestination | undefined {
    const svc = this.view.config;
    if (this.result.sorry && key === this.sorryKey) return sorryDestination(svc.sorryServer!, svc);
    const i = this.byDest.get(key);
    if (i === undefined) return undefined;
    const decision = this.decisions[i]!;
    if (decision.kind === 'absent') return undefined;
    const rs: RealserverConfig = svc.realservers[i]!;
    const view = this.view.realservers[i]!;
    return {
      endpoint: rs.endpoint, forward: rs.forward,
      weight: decision.kind === 'present' ? decision.weight : view.weightOverride ?? rs.weight,
      upperThreshold: rs.upperThreshold ?? 0, lowerThreshold: rs.lowerThreshold ?? 0,
      ...(decision.kind === 'keep' ? { keep: true } : {}),
    };
  }
}

function sameWanted(a: WantedDestination, b: WantedDestination): boolean {
  return a.weight === b.weight && a.forward === b.forward && a.upperThreshold === b.upperThreshold
    && a.lowerThreshold === b.lowerThreshold && (a.keep ?? false) === (b.keep ?? false);
}

/**
 * The wanted table of a config, kept current by `markDirty` + `update`. One per config: a
 * reload builds a new one (its first `takeChanges` says "unknown": the reconciler diffs all).
 */
export class WantedTableBuilder {
  private readonly slots: ServiceSlot[];
  private readonly byConfig = new Map<ServiceConfig, ServiceSlot>();
  private readonly services = new Map<string, ServiceEntry<WantedDestination>>();
  private readonly decisions = new Map<string, ServiceDecisions>();
  /** slots with dirty realservers */
  private readonly pending = new Set<ServiceSlot>();
  /** destinations changed since the last takeChanges(); undefined: unknown (a new builder) */
  private changes: Map<string, Set<string>> | undefined;
  private result: WantedResult | undefined;

  constructor(services: readonly ServiceView[]) {
    this.slots = services.map((sv) => new ServiceSlot(sv));
    for (const slot of this.slots) {
      this.byConfig.set(slot.view.config, slot);
      this.services.set(slot.key, { service: slot.service, destinations: slot.destinations });
      this.decisions.set(slot.view.config.name, slot.result);
      this.pending.add(slot);
    }
  }

  /** this realserver's health, admin state, weight override or slow-start origin changed */
  markDirty(service: ServiceConfig, index: number): void {
    const slot = this.byConfig.get(service);
    if (!slot) return;
    slot.dirty.add(index);
    this.pending.add(slot);
  }

  /** bring the table up to date; the maps in the result are live (they change with later updates) */
  update(now: number): WantedResult {
    if (this.pending.size === 0 && this.result && !this.slots.some((s) => s.ramping.size > 0)) return this.result;
    let nextChangeAt: number | undefined;
    for (const slot of this.slots) {
      if (!this.pending.has(slot) && slot.ramping.size === 0) continue;
      slot.update(now, (key) => {
        if (!this.changes) return;
        const keys = this.changes.get(slot.key);
        if (keys) keys.add(key);
        else this.changes.set(slot.key, new Set([key]));
      });
      for (const at of slot.ramping.values()) nextChangeAt = nextChangeAt === undefined ? at : Math.min(nextChangeAt, at);
    }
    this.pending.clear();
    this.result = { table: { services: this.services }, decisions: this.decisions, ...(nextChangeAt !== undefined ? { nextChangeAt } : {}) };
    return this.result;
  }

  /** destinations whose wanted entry changed since the last call (per service key); undefined the first time */
  takeChanges(): WantedChanges | undefined {
    const c = this.changes;
    this.changes = new Map();
    return c;
  }
}

/** the whole wanted table from scratch */
export function buildWantedTable(services: readonly ServiceView[], now: number): WantedResult {
  return new WantedTableBuilder(services).update(now);
}

function sorryDestination(endpoint: Endpoint, svc: ServiceConfig): WantedDestination {
  return { endpoint, forward: svc.forward, weight: 1, upperThreshold: 0, lowerThreshold: 0 };
}
