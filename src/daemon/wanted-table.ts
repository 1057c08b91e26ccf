/**
 * From config and realserver states to the table lvsd wants: pure. Also says when the answer
 * will change by itself (the next slow-start step), so the daemon can reconcile then.
 */
import type { Endpoint, ServiceConfig } from '../config/types.js';
import { endpointKey, serviceKey, type ServiceEntry, type VirtualService, type WantedDestination, type WantedTable } from '../ipvs/types.js';
import type { HealthState } from '../state/realserver.js';
import { decideWeight, sorryActive, type AdminState, type WeightDecision } from '../state/weight.js';

export interface RealserverView {
  readonly health: HealthState;
  readonly upSince: number;
  readonly admin: AdminState;
  /** the operator's weight in place of the configured one */
  readonly weightOverride?: number | undefined;
}

export interface ServiceView {
  readonly config: ServiceConfig;
  /** same order as config.realservers */
  readonly realservers: readonly RealserverView[];
}

export interface WantedResult {
  readonly table: WantedTable;
  /** per service name: decision per realserver (config order) and whether the sorry server is in */
  readonly decisions: ReadonlyMap<string, { readonly realservers: readonly WeightDecision[]; readonly sorry: boolean }>;
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

export function buildWantedTable(services: readonly ServiceView[], now: number): WantedResult {
  const table = new Map<string, ServiceEntry<WantedDestination>>();
  const decisions = new Map<string, { realservers: WeightDecision[]; sorry: boolean }>();
  let nextChangeAt: number | undefined;
  for (const sv of services) {
    const svc = sv.config;
    const destinations = new Map<string, WantedDestination>();
    const rsDecisions: WeightDecision[] = [];
    svc.realservers.forEach((rs, i) => {
      const view = sv.realservers[i];
      if (!view) throw new Error(`service ${svc.name}: no state for realserver ${rs.id}`);
      const { decision, nextChangeAt: next } = decideWeight({
        health: view.health.health, upSince: view.upSince, admin: view.admin,
        configuredWeight: view.weightOverride ?? rs.weight, onDown: rs.onDown, slowStartMs: svc.slowStartMs, now,
      });
      rsDecisions.push(decision);
      if (next !== undefined) nextChangeAt = nextChangeAt === undefined ? next : Math.min(nextChangeAt, next);
      if (decision.kind === 'absent') return;
      destinations.set(endpointKey(rs.endpoint), {
        endpoint: rs.endpoint, forward: rs.forward,
        weight: decision.kind === 'present' ? decision.weight : view.weightOverride ?? rs.weight,
        upperThreshold: rs.upperThreshold ?? 0, lowerThreshold: rs.lowerThreshold ?? 0,
        ...(decision.kind === 'keep' ? { keep: true } : {}),
      });
    });
    const sorry = svc.sorryServer !== undefined
      && sorryActive(sv.realservers.map((r) => ({ health: r.health.health, admin: r.admin })));
    if (sorry && svc.sorryServer) destinations.set(endpointKey(svc.sorryServer), sorryDestination(svc.sorryServer, svc));
    const vs = virtualService(svc);
    table.set(serviceKey(vs), { service: vs, destinations });
    decisions.set(svc.name, { realservers: rsDecisions, sorry });
  }
  return { table: { services: table }, decisions, ...(nextChangeAt !== undefined ? { nextChangeAt } : {}) };
}

function sorryDestination(endpoint: Endpoint, svc: ServiceConfig): WantedDestination {
  return { endpoint, forward: svc.forward, weight: 1, upperThreshold: 0, lowerThreshold: 0 };
}
