/**
 * The status snapshot: what GET /status returns and `lvsd status` prints. Pure: built from
 * the daemon's records, the wanted table and the table last read from the driver.
 */
import type { ProbeOutcome } from '../../checks/types.js';
import type { Config, ServiceConfig } from '../config/types.js';
import type { ReconcileReport } from '../ipvs/reconciler.js';
import { endpointKey, serviceKey, type ActualDestination, type IpvsTable } from '../ipvs/types.js';
import type { RealserverGaugeRow } from '../metrics/realserver-metrics.js';
import type { Health, HealthState } from '../state/realserver.js';
import type { AdminState, WeightDecision } from '../state/weight.js';
import type { LeavingDestination } from './leaving.js';
import { virtualService, type WantedResult } from './wanted-table.js';

/** The state an operator reads: health, or the admin override that trumps it. */
export type DisplayState = 'UP' | 'DOWN' | 'UNKNOWN' | 'DRAINING' | 'MAINT';

export interface RealserverStatus {
  readonly id: string;
  readonly state: DisplayState;
  readonly health: Health;
  /** ISO time of the last health change */
  readonly since: string;
  readonly configured_weight: number;
  /** the operator's weight in place of configured_weight (null: none) */
  readonly weight_override: number | null;
  /** the operator's state: none, drain, maint; when it ends by itself and why it was set */
  readonly admin: AdminState;
  readonly admin_until: string | null;
  readonly admin_reason: string | null;
  /** what lvsd wants in the table: a weight, null = not in the table, "keep" = no verdict yet */
  readonly wanted_weight: number | null | 'keep';
  /** what the table held at the last read (null = absent) */
  readonly weight: number | null;
  /** the kernel's connection counts at the last read (null = not in the table) */
  readonly active_conns: number | null;
  readonly inactive_conns: number | null;
  readonly forward: string;
  readonly check: { readonly type: string; readonly port: number; readonly interval_ms: number; readonly timeout_ms: number };
  readonly consecutive_ok: number;
  readonly consecutive_fail: number;
  readonly transitions: number;
  readonly last: null | {
    readonly outcome: ProbeOutcome; readonly ok: boolean; readonly detail: string;
    readonly latency_ms: number; readonly at: string;
  };
}

export interface ServiceStatus {
  readonly name: string;
  readonly protocol: string;
  readonly address: string;
  readonly scheduler: string;
  readonly forward: string;
  readonly sorry_server: string | null;
  readonly sorry_active: boolean;
  readonly up: number;
  readonly total: number;
  readonly realservers: readonly RealserverStatus[];
  /** destinations the config no longer names, at weight 0 until their connections end */
  readonly leaving: readonly { readonly address: string; readonly since: string; readonly active_conns: number }[];
}

export interface StatusSnapshot {
  readonly node: string;
  readonly version: string;
  readonly started_at: string;
  readonly now: string;
  readonly ipvs: {
    readonly driver: string;
    readonly last_reconcile: null | { readonly at: string; readonly converged: boolean; readonly changes: number; readonly error: string | null };
  };
  readonly vrrp: VrrpStatus | null;
  readonly services: readonly ServiceStatus[];
}

export interface VrrpStatus {
  readonly state: string;
  readonly vrid: number;
  readonly priority: number;
  readonly configured_priority: number;
  readonly interface: string;
  readonly address: string | null;
  readonly virtual_addresses: readonly string[];
}

export interface StatusRecord {
  readonly service: ServiceConfig;
  readonly index: number;
  readonly health: HealthState;
  readonly admin: AdminState;
  readonly weightOverride?: number | undefined;
  readonly adminUntil?: number | undefined;
  readonly adminReason?: string | undefined;
  readonly transitions: number;
  readonly transitionCounts?: readonly number[] | undefined;
  readonly last?: { readonly result: { readonly ok: boolean; readonly outcome: ProbeOutcome; readonly detail: string; readonly durationMs: number }; readonly at: number };
}

export interface StatusInput {
  readonly config: Config;
  readonly records: readonly StatusRecord[];
  readonly wanted: WantedResult;
  readonly table: IpvsTable | undefined;
  readonly lastReconcile: ReconcileReport | undefined;
  readonly startedAt: number;
  readonly now: number;
  readonly driver: string;
  readonly version: string;
  readonly leaving: readonly LeavingDestination[];
}

export function displayState(health: Health, admin: AdminState): DisplayState {
  if (admin === 'maint') return 'MAINT';
  if (admin === 'drain') return 'DRAINING';
  return health === 'up' ? 'UP' : health === 'down' ? 'DOWN' : 'UNKNOWN';
}

const iso = (ms: number): string => new Date(ms).toISOString();

type RowInput = Pick<StatusInput, 'config' | 'records' | 'wanted' | 'table'>;

/** one realserver with what its rows are made of */
interface RowParts {
  readonly r: StatusRecord;
  readonly rs: ServiceConfig['realservers'][number];
  readonly dest: ActualDestination | undefined;
  readonly wanted: number | null | 'keep';
}

/** per service (config order): its key, its sorry decision and its realservers' parts */
function* perService(i: RowInput): Iterable<{ readonly svc: ServiceConfig; readonly key: string; readonly sorry: boolean; readonly rows: RowParts[] }> {
  const byService = new Map<ServiceConfig, StatusRecord[]>();
  for (const r of i.records) {
    const list = byService.get(r.service);
    if (list) list.push(r);
    else byService.set(r.service, [r]);
  }
  for (const svc of i.config.services) {
    const decisions = i.wanted.decisions.get(svc.name);
    const key = serviceKey(virtualService(svc));
    const entry = i.table?.services.get(key);
    const rows = (byService.get(svc) ?? []).map((r): RowParts => {
      const rs = svc.realservers[r.index]!;
      // a realserver's id is its endpoint key (config/load.ts)
      return { r, rs, dest: entry?.destinations.get(rs.id), wanted: wantedWeight(decisions?.realservers[r.index]) };
    });
    yield { svc, key, sorry: decisions?.sorry ?? false, rows };
  }
}

/** The metric rows of every realserver, straight from the records (no status strings to parse back). */
export function* realserverGaugeRows(i: RowInput): Iterable<RealserverGaugeRow> {
  for (const { svc, rows } of perService(i)) {
    for (const { r, rs, dest, wanted } of rows) {
      yield {
        service: svc.name, realserver: rs.id, check: rs.check.type, up: r.health.health === 'up',
        state: displayState(r.health.health, r.admin).toLowerCase() as RealserverGaugeRow['state'], since: r.health.since,
        weight: dest?.weight, wantedWeight: wanted ?? undefined, configuredWeight: rs.weight, weightOverride: r.weightOverride,
        consecutiveOk: r.health.okStreak, consecutiveFail: r.health.failStreak,
        last: r.last ? { ok: r.last.result.ok, at: r.last.at, durationMs: r.last.result.durationMs } : undefined,
        transitionCounts: r.transitionCounts,
      };
    }
  }
}

export function buildStatus(i: StatusInput): StatusSnapshot {
  const services = [...perService(i)].map(({ svc, key, sorry, rows }): ServiceStatus => {
    const realservers = rows.map(({ r, rs, dest, wanted }): RealserverStatus => {
      return {
        id: rs.id,
        state: displayState(r.health.health, r.admin),
        health: r.health.health,
        since: iso(r.health.since),
        configured_weight: rs.weight,
        weight_override: r.weightOverride ?? null,
        admin: r.admin,
        admin_until: r.adminUntil !== undefined ? iso(r.adminUntil) : null,
        admin_reason: r.adminReason ?? null,
        wanted_weight: wanted,
        weight: dest ? dest.weight : null,
        active_conns: dest ? dest.activeConns : null,
        inactive_conns: dest ? dest.inactiveConns : null,
        forward: rs.forward,
        check: { type: rs.check.type, port: rs.check.port, interval_ms: rs.check.intervalMs, timeout_ms: rs.check.timeoutMs },
        consecutive_ok: r.health.okStreak,
        consecutive_fail: r.health.failStreak,
        transitions: r.transitions,
        last: r.last ? {
          outcome: r.last.result.outcome, ok: r.last.result.ok, detail: r.last.result.detail,
          latency_ms: Math.round(r.last.result.durationMs * 1000) / 1000, at: iso(r.last.at),
        } : null,
      };
    });
    return {
      name: svc.name,
      protocol: svc.protocol,
      address: svc.protocol === 'fwmark' ? `fwmark ${svc.fwmark ?? 0}` : svc.endpoint ? endpointKey(svc.endpoint) : '',
      scheduler: svc.scheduler,
      forward: svc.forward,
      sorry_server: svc.sorryServer ? endpointKey(svc.sorryServer) : null,
      sorry_active: sorry,
      up: realservers.filter((r) => r.health === 'up').length,
      total: realservers.length,
      realservers,
      leaving: i.leaving.filter((l) => l.serviceKey === key).map((l) => ({ address: l.destKey, since: iso(l.since), active_conns: l.activeConns })),
    };
  });
  const lr = i.lastReconcile;
  return {
    node: i.config.node.name,
    version: i.version,
    started_at: iso(i.startedAt),
    now: iso(i.now),
    ipvs: {
      driver: i.driver,
      last_reconcile: lr ? { at: iso(lr.at), converged: lr.converged, changes: lr.applied.length, error: lr.error ?? null } : null,
    },
    vrrp: null,
    services,
  };
}

function wantedWeight(d: WeightDecision | undefined): number | null | 'keep' {
  if (!d) return null;
  if (d.kind === 'present') return d.weight;
  return d.kind === 'keep' ? 'keep' : null;
}
