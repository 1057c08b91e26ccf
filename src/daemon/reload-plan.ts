/**
 * What a reload changes, from the running config and the new one: pure. Realservers are the
 * same when their service name and id ("ip:port") are; the same ones keep their state and
 * counters, and their probe job when the check is unchanged. Keys that only a restart can
 * apply (RESTART_ONLY) are listed so the caller can say so, and keep their running value
 * (effectiveConfig); the rest applies live.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Config, RealserverConfig, ServiceConfig } from '../config/types.js';
import { probeJobKey } from './probe-jobs.js';

/** Config keys a reload cannot change, as the config file names them, with how to read each. */
const RESTART_ONLY: readonly { readonly key: string; readonly get: (c: Config) => unknown }[] = [
  { key: 'api', get: (c) => c.api },
  { key: 'failover', get: (c) => c.failover },
  { key: 'state_dir', get: (c) => c.stateDir },
  { key: 'node', get: (c) => c.node.name },
  { key: 'ipvs.driver', get: (c) => c.ipvs.driver },
  { key: 'ipvs.resync_interval', get: (c) => c.ipvs.resyncIntervalMs },
  { key: 'ipvs.command_timeout', get: (c) => c.ipvs.commandTimeoutMs },
  { key: 'max_concurrent_probes', get: (c) => c.maxConcurrentProbes },
];

/** `next` with every RESTART_ONLY key at its running value from `old`: what a reload applies. */
export function effectiveConfig(old: Config, next: Config): Config {
  const { failover: _next, ...rest } = next;
  return {
    ...rest, api: old.api, node: old.node, stateDir: old.stateDir, maxConcurrentProbes: old.maxConcurrentProbes,
    ipvs: { ...next.ipvs, driver: old.ipvs.driver, resyncIntervalMs: old.ipvs.resyncIntervalMs, commandTimeoutMs: old.ipvs.commandTimeoutMs },
    ...(old.failover ? { failover: old.failover } : {}),
  };
}

export interface RealserverRef {
  readonly service: string;
  readonly realserver: string;
}

export interface ReloadPlan {
  readonly services: { readonly added: readonly string[]; readonly removed: readonly string[]; readonly changed: readonly string[] };
  readonly realservers: {
    readonly added: readonly RealserverRef[];
    readonly removed: readonly RealserverRef[];
    /** a new probe (type, port, timing or options differ): the job restarts, the state stays */
    readonly checkChanged: readonly RealserverRef[];
    readonly weightChanged: readonly (RealserverRef & { readonly from: number; readonly to: number })[];
    /** forward, thresholds, on_down, rise/fall, initial_state */
    readonly otherChanged: readonly RealserverRef[];
    readonly unchanged: number;
  };
  readonly alertsChanged: boolean;
  readonly schedulesChanged: boolean;
  /** top-level keys whose new value needs a restart (the old value stays in force) */
  readonly needsRestart: readonly string[];
}

const ref = (s: ServiceConfig, r: RealserverConfig): RealserverRef => ({ service: s.name, realserver: r.id });

/** the service fields that make its IPVS entry (and its sorry server and slow start) */
function serviceHead(s: ServiceConfig): unknown {
  const { realservers: _r, name: _n, ...head } = s;
  return head;
}

export function planReload(old: Config, next: Config): ReloadPlan {
  const oldServices = new Map(old.services.map((s) => [s.name, s]));
  const nextServices = new Map(next.services.map((s) => [s.name, s]));
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  const rsAdded: RealserverRef[] = [];
  const rsRemoved: RealserverRef[] = [];
  const checkChanged: RealserverRef[] = [];
  const weightChanged: (RealserverRef & { from: number; to: number })[] = [];
  const otherChanged: RealserverRef[] = [];
  let unchanged = 0;

  for (const [name, s] of nextServices) {
    const o = oldServices.get(name);
    if (!o) {
      added.push(name);
      for (const r of s.realservers) rsAdded.push(ref(s, r));
      continue;
    }
    if (!isDeepStrictEqual(serviceHead(o), serviceHead(s))) changed.push(name);
    const oldRs = new Map(o.realservers.map((r) => [r.id, r]));
    for (const r of s.realservers) {
      const or = oldRs.get(r.id);
      if (!or) {
        rsAdded.push(ref(s, r));
        continue;
      }
      oldRs.delete(r.id);
      let same = true;
      if (probeJobKey(or.endpoint.host, or.check) !== probeJobKey(r.endpoint.host, r.check)) {
        checkChanged.push(ref(s, r));
        same = false;
      }
      if (or.weight !== r.weight) {
        weightChanged.push({ ...ref(s, r), from: or.weight, to: r.weight });
        same = false;
      }
      const { check: _oc, weight: _ow, ...orRest } = or;
      const { check: _nc, weight: _nw, ...rRest } = r;
      if (!isDeepStrictEqual(orRest, rRest) || or.check.rise !== r.check.rise || or.check.fall !== r.check.fall) {
        otherChanged.push(ref(s, r));
        same = false;
      }
      if (same) unchanged++;
    }
    for (const r of oldRs.values()) rsRemoved.push(ref(o, r));
  }
  for (const [name, o] of oldServices) {
    if (nextServices.has(name)) continue;
    removed.push(name);
    for (const r of o.realservers) rsRemoved.push(ref(o, r));
  }

  const needsRestart = RESTART_ONLY.filter((k) => !isDeepStrictEqual(k.get(old), k.get(next))).map((k) => k.key);

  return {
    services: { added, removed, changed },
    realservers: { added: rsAdded, removed: rsRemoved, checkChanged, weightChanged, otherChanged, unchanged },
    alertsChanged: !isDeepStrictEqual(old.alerts, next.alerts),
    schedulesChanged: !isDeepStrictEqual(old.schedules, next.schedules),
    needsRestart,
  };
}

/** the plan as lines for `lvsd reload --dry-run` and the log */
export function formatPlan(p: ReloadPlan): string {
  const lines: string[] = [];
  const rs = (r: RealserverRef): string => `${r.service} ${r.realserver}`;
  for (const s of p.services.added) lines.push(`+ service ${s}`);
  for (const s of p.services.removed) lines.push(`- service ${s}`);
  for (const s of p.services.changed) lines.push(`~ service ${s} (scheduler, persistence, forwarding, sorry server or slow start)`);
  for (const r of p.realservers.added) lines.push(`+ realserver ${rs(r)}`);
  for (const r of p.realservers.removed) lines.push(`- realserver ${rs(r)} (drained, then removed)`);
  for (const r of p.realservers.weightChanged) lines.push(`~ realserver ${rs(r)} weight ${r.from} -> ${r.to}`);
  for (const r of p.realservers.checkChanged) lines.push(`~ realserver ${rs(r)} check changed (probe restarts, state kept)`);
  for (const r of p.realservers.otherChanged) lines.push(`~ realserver ${rs(r)} settings changed`);
  if (p.alertsChanged) lines.push('~ alerts');
  if (p.schedulesChanged) lines.push('~ schedules');
  for (const k of p.needsRestart) lines.push(`! ${k} changed: needs a restart (the running value stays)`);
  lines.push(`= ${p.realservers.unchanged} realservers unchanged`);
  return lines.join('\n');
}
