/**
 * The Daemon: wiring only. config → scheduler → probes → state machine → (reconciler, metrics,
 * events). It owns the realserver records; everything else is a collaborator passed in or
 * built from the deps.
 */
import type { ProbeKit, ProbeResult } from '../../checks/types.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { LvsError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Config, RealserverConfig, ServiceConfig } from '../config/types.js';
import { Reconciler, type ReconcileReport } from '../ipvs/reconciler.js';
import { endpointKey, serviceKey, type IpvsDriver, type IpvsOp, type IpvsTable, type VirtualService, type WantedTable } from '../ipvs/types.js';
import { Metrics, type RealserverGaugeRow } from '../metrics/metrics.js';
import { countTransition } from '../metrics/realserver-metrics.js';
import { ProbeScheduler, type CronStarter, type RunInfo, type ScheduledJob } from '../scheduler/scheduler.js';
import { applyResult, checkPhase, initialHealth, type CheckPhase, type Health, type HealthState, type Transition } from '../state/realserver.js';
import { isWeight, MAX_WEIGHT, type AdminState } from '../state/weight.js';
import { formatDuration } from '../config/duration.js';
import { explainOp } from './explain-op.js';
import { overrideKey, type Override, type OverrideStore } from './overrides.js';
import { effectiveConfig, planReload, type ReloadPlan } from './reload-plan.js';
import { checkSpecOf, probeJobKey, ProbeJob } from './probe-jobs.js';
import { buildStatus, realserverGaugeRows, type RealserverStatus, type StatusSnapshot } from './status.js';
import { planLeaving, type LeavingDestination } from './leaving.js';
import type { ProbeTally } from '../metrics/probe-metrics.js';
import { virtualService, WantedTableBuilder, type WantedResult } from './wanted-table.js';

export interface DaemonDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly random: () => number;
  readonly log: Logger;
  readonly probes: ProbeKit;
  readonly driver: IpvsDriver;
  readonly cron?: CronStarter;
  readonly version?: string;
  readonly defaultMetrics?: boolean;
  /** sees every probe run with its timing (benchmarks, tracing) */
  readonly observeRun?: (key: string, result: ProbeResult, info: RunInfo) => void;
  /** where drain/maint/weight overrides persist (none: they last as long as the process) */
  readonly overrides?: OverrideStore;
}

/** What the daemon tells listeners (the demo's printer now; alerts later). */
export type DaemonEvent =
  | {
      readonly type: 'transition'; readonly service: string; readonly realserver: string;
      readonly from: string; readonly to: string; readonly at: number; readonly detail: string;
      /** consecutive failed probes at the transition */
      readonly failures: number;
    }
  /** a failed probe of a DOWN realserver, or a whole failed round of a down service (mon's alertafter counts these) */
  | {
      readonly type: 'still_down'; readonly scope: 'realserver' | 'service'; readonly service: string; readonly realserver?: string;
      readonly failures: number; readonly at: number; readonly detail: string;
    }
  /** a service lost its last UP realserver (down), or has one again (up) */
  | { readonly type: 'service'; readonly service: string; readonly to: 'down' | 'up'; readonly at: number; readonly detail: string }
  | {
      readonly type: 'admin'; readonly action: 'drain_started' | 'drain_finished'; readonly service: string; readonly realserver: string;
      readonly at: number; readonly detail: string;
    }
  | { readonly type: 'config_reload_failed'; readonly at: number; readonly detail: string }
  | { readonly type: 'ipvs'; readonly report: ReconcileReport }
  | {
      readonly type: 'vrrp'; readonly from: string; readonly to: string; readonly reason: string;
      readonly at: number; readonly priority: number;
    };

export interface RealserverRecord {
  readonly service: ServiceConfig;
  readonly config: RealserverConfig;
  readonly jobKey: string;
  /** position in service.realservers */
  readonly index: number;
  health: HealthState;
  /** when it last came UP from DOWN: the slow-start origin (-Infinity: no ramp pending) */
  upSince: number;
  admin: AdminState;
  /** the operator's weight instead of the configured one (undefined: none) */
  weightOverride?: number | undefined;
  /** the last result and when it came (one object per record, updated in place) */
  last?: { result: ProbeResult; at: number };
  /** its lvsd_probes_total / lvsd_probe_duration_seconds counts (looked up on first use) */
  tally?: ProbeTally;
  transitions: number;
  /** lvsd_realserver_transitions_total (countTransition) */
  transitionCounts?: number[];
  /** an admin state with an end: ready again then */
  drainTimer?: TimerHandle | undefined;
  adminUntil?: number | undefined;
  adminReason?: string | undefined;
}

/** a down service: its failed rounds so far, and who has failed in the current one */
interface ServiceOutage {
  rounds: number;
  readonly failedThisRound: Set<RealserverRecord>;
}

export class Daemon {
  readonly metrics: Metrics;
  private readonly deps: DaemonDeps;
  private config: Config;
  private records: RealserverRecord[] = [];
  /** per service, its records in config order */
  private byService = new Map<ServiceConfig, RealserverRecord[]>();
  /** by overrideKey ("service|ip:port"): control API lookups, overrides, reload carry-over */
  private byId = new Map<string, RealserverRecord>();
  /** job key → the records it feeds */
  private subscribers = new Map<string, RealserverRecord[]>();
  private readonly scheduler: ProbeScheduler;
  private readonly reconciler: Reconciler;
  private readonly listeners = new Set<(e: DaemonEvent) => void>();
  private wanted: WantedResult | undefined;
  /** the wanted table of this config, kept current as records change (markDirty) */
  private builder!: WantedTableBuilder;
  /** when a leaving destination's connection count is looked at next (from the last full pass) */
  private leavingCheckAt: number | undefined;
  private table: IpvsTable | undefined;
  /** per managed service key, the destinations the config names (realservers, sorry server) */
  private configured = new Map<string, Set<string>>();
  private serviceNames = new Map<string, string>();
  /** per managed service key: the service and its records by endpointKey (explaining IPVS ops) */
  private byKey = new Map<string, { readonly service: ServiceConfig; readonly records: Map<string, RealserverRecord> }>();
  /** services a reload removed: deleted from the kernel by the next passes */
  private retired = new Map<string, VirtualService>();
  /** destinations leaving the config: since when ("serviceKey|destKey" → ms), and the last view */
  private leavingSince = new Map<string, number>();
  private leaving: readonly LeavingDestination[] = [];
  private timedChange: TimerHandle | undefined;
  /** services with no UP realserver (the sorry server's rule), for service_down / service_up */
  private outages = new Map<ServiceConfig, ServiceOutage>();
  /** per service: realservers UP and UNKNOWN that are not drained or in maintenance */
  private serviceCounts = new Map<ServiceConfig, { usable: number; unknown: number }>();
  private cronTasks: { stop(): void }[] = [];
  private readonly startedAt: number;
  private stopped = false;

  constructor(deps: DaemonDeps) {
    this.deps = deps;
    this.config = deps.config;
    this.startedAt = deps.clock.now();
    this.wire(deps.config, new Map());
    this.metrics = new Metrics({
      realservers: () => this.gaugeRows(),
      services: () => this.config.services.map((svc) => ({ service: svc.name, sorryActive: this.wanted?.decisions.get(svc.name)?.sorry ?? false })),
      reconcile: () => this.reconciler.lastReport,
      scheduler: () => this.scheduler.load,
      ipvs: async () => {
        // a hanging ipvsadm must not hold the scrape past Prometheus' scrape timeout: the kernel
        // series are left out (lvsd_ipvs_stats_up 0), lvsd's own metrics still answer
        const signal = AbortSignal.timeout(Math.min(this.config.ipvs.commandTimeoutMs, IPVS_SCRAPE_TIMEOUT_MS));
        const [table, stats] = await Promise.all([deps.driver.read(signal), deps.driver.stats(signal)]);
        return { table, stats };
      },
      serviceName: (key) => this.serviceNames.get(key),
    }, { defaultMetrics: deps.defaultMetrics ?? true, build: { version: deps.version ?? '0.0.0', node: this.config.node.name } });
    this.metrics.configLoaded(true, this.startedAt, false);
    this.scheduler = new ProbeScheduler({
      clock: deps.clock, random: deps.random, maxConcurrent: this.config.maxConcurrentProbes,
      onResult: (key, result, info) => this.onResult(key, result, info),
      ...(deps.cron ? { cron: deps.cron } : {}),
      coalesceMs: PROBE_COALESCE_MS,
    });
    this.reconciler = new Reconciler({
      driver: deps.driver, clock: deps.clock, log: deps.log.child({ component: 'ipvs' }),
      resyncIntervalMs: this.config.ipvs.resyncIntervalMs,
      wanted: (actual, full) => this.computeWanted(actual, full),
      onReport: (r) => this.onReconciled(r),
      explain: (op) => this.explain(op),
    });
  }

  /**
   * Build the records and indexes of `config`. A realserver found in `carry` (same service name
   * and id) keeps its state, counters and overrides; the others start in their initial state.
   */
  private wire(config: Config, carry: ReadonlyMap<string, RealserverRecord>): void {
    const now = this.deps.clock.now();
    this.config = config;
    this.records = [];
    this.byService = new Map();
    this.byId = new Map();
    this.subscribers = new Map();
    this.configured = new Map();
    this.serviceNames = new Map();
    this.byKey = new Map();
    const outages = new Map<ServiceConfig, ServiceOutage>();
    const oldOutages = new Map([...this.outages].map(([svc, o]) => [svc.name, o]));
    for (const service of config.services) {
      const key = serviceKey(virtualService(service));
      this.serviceNames.set(key, service.name);
      const named = new Set<string>(service.sorryServer ? [endpointKey(service.sorryServer)] : []);
      this.configured.set(key, named);
      const own: RealserverRecord[] = [];
      this.byService.set(service, own);
      const keyed = new Map<string, RealserverRecord>();
      this.byKey.set(key, { service, records: keyed });
      for (const [index, rs] of service.realservers.entries()) {
        const id = overrideKey(service.name, rs.id);
        // a realserver's id is its endpoint key (config/load.ts): one string for both
        const destKey = rs.id;
        named.add(destKey);
        const old = carry.get(id);
        const rec: RealserverRecord = {
          service, config: rs, index, jobKey: probeJobKey(rs.endpoint.host, rs.check),
          health: old?.health ?? initialHealth(rs.initialState, now), upSince: old?.upSince ?? Number.NEGATIVE_INFINITY,
          admin: old?.admin ?? 'none', transitions: old?.transitions ?? 0,
          ...(old?.transitionCounts ? { transitionCounts: old.transitionCounts } : {}),
          ...(old?.last ? { last: old.last } : {}),
          ...(old?.drainTimer ? { drainTimer: old.drainTimer, adminUntil: old.adminUntil } : {}),
          ...(old?.adminReason !== undefined ? { adminReason: old.adminReason } : {}),
          ...(old?.weightOverride !== undefined ? { weightOverride: old.weightOverride } : {}),
        };
        this.records.push(rec);
        this.byId.set(id, rec);
        own.push(rec);
        keyed.set(destKey, rec);
        const subs = this.subscribers.get(rec.jobKey);
        if (subs) subs.push(rec);
        else this.subscribers.set(rec.jobKey, [rec]);
      }
      const outage = oldOutages.get(service.name);
      if (outage) outages.set(service, { rounds: outage.rounds, failedThisRound: new Set() });
    }
    this.outages = outages;
    this.builder = new WantedTableBuilder(config.services.map((svc) => ({ config: svc, realservers: this.byService.get(svc) ?? [] })));
    this.serviceCounts = new Map(config.services.map((svc) => [svc, { usable: 0, unknown: 0 }]));
    for (const r of this.records) this.countRecord(r, 1);
  }

  /** add (1) or take away (-1) a record's part in its service's counts */
  private countRecord(rec: RealserverRecord, sign: 1 | -1): void {
    this.countHealth(rec, rec.health.health, sign);
  }

  /** countRecord as if the record's health were `health` (a transition: before and after) */
  private countHealth(rec: RealserverRecord, health: Health, sign: 1 | -1): void {
    const c = this.serviceCounts.get(rec.service);
    if (!c || rec.admin !== 'none') return;
    if (health === 'up') c.usable += sign;
    else if (health === 'unknown') c.unknown += sign;
  }

  /** Adopt the kernel's table (nothing is flushed), then start probing. */
  async start(): Promise<void> {
    this.deps.log.info({
      services: this.config.services.length, realservers: this.records.length, probes: this.subscribers.size,
      driver: this.deps.driver.name,
    }, 'lvsd starting');
    await this.restoreOverrides();
    await this.reconciler.start();
    this.scheduler.sync(this.jobs());
    this.startSchedules();
  }

  /** `schedules:` entries: node-cron tasks that drain a realserver for a while */
  private startSchedules(): void {
    const cron = this.deps.cron;
    if (!cron) return;
    for (const sc of this.config.schedules) {
      const { service, realserver, forMs } = sc.drain;
      this.cronTasks.push(cron(sc.cron, async () => {
        if (this.stopped) return;
        this.drain(service, realserver, { forMs, reason: `schedule "${sc.cron}"` });
      }));
    }
  }

  /** Stop probing and reconciling. The IPVS table is left as it is, unless ipvs.cleanup_on_exit. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timedChange?.cancel();
    for (const r of this.records) r.drainTimer?.cancel();
    for (const t of this.cronTasks) t.stop();
    await this.scheduler.close();
    await this.reconciler.close();
    if (this.config.ipvs.cleanupOnExit) {
      try {
        const r = await this.reconciler.removeServices(this.config.services.map(virtualService));
        for (const f of r.failures) this.deps.log.warn({ reason: f.message }, 'cleanup on exit: a service could not be removed');
      } catch (err) {
        this.deps.log.error({ err: errorMessage(err) }, 'cleanup on exit failed: the IPVS table is left as it is');
      }
    }
    this.deps.log.info('lvsd stopped');
  }


  /** probes running and waiting for a slot, and the last reconcile pass (benchmarks, diagnostics) */
  engineLoad(): { readonly running: number; readonly queued: number; readonly lastReconcileMs?: number } {
    const r = this.reconciler.lastReport;
    return { ...this.scheduler.load, ...(r ? { lastReconcileMs: r.durationMs } : {}) };
  }

  onEvent(fn: (e: DaemonEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** services, realservers, state, weight, last probe: what GET /status returns */
  status(): StatusSnapshot {
    return buildStatus({
      config: this.config, records: this.records, wanted: this.wanted ?? this.builder.update(this.deps.clock.now()),
      table: this.table, lastReconcile: this.reconciler.lastReport, startedAt: this.startedAt, leaving: this.leaving,
      now: this.deps.clock.now(), driver: this.deps.driver.name, version: this.deps.version ?? '0.0.0',
    });
  }

  /** one realserver's status row (the control API's answer): builds its service only */
  realserverStatus(service: string, realserver: string): RealserverStatus | undefined {
    const svc = this.config.services.find((s) => s.name === service);
    if (!svc) return undefined;
    const one = buildStatus({
      config: { ...this.config, services: [svc] }, records: this.byService.get(svc) ?? [], wanted: this.wanted ?? this.builder.update(this.deps.clock.now()),
      table: this.table, lastReconcile: this.reconciler.lastReport, startedAt: this.startedAt, leaving: [],
      now: this.deps.clock.now(), driver: this.deps.driver.name, version: this.deps.version ?? '0.0.0',
    });
    return one.services[0]?.realservers.find((r) => r.id === realserver);
  }

  /**
   * A service is down for failover tracking when none of its realservers is UP and none is
   * still UNKNOWN (at start-up the first verdicts are awaited, as for the sorry server).
   */
  serviceDown(name: string): boolean {
    const svc = this.config.services.find((s) => s.name === name);
    const recs = svc ? this.byService.get(svc) ?? [] : [];
    return !recs.some((r) => r.health.health === 'up' || r.health.health === 'unknown');
  }

  /** Wait for any pending reconcile to finish (tests, demo). */
  reconcileNow(): Promise<void> {
    return this.reconciler.runNow();
  }

  private jobs(): ScheduledJob[] {
    const jobs: ScheduledJob[] = [];
    for (const [key, subs] of this.subscribers) {
      const first = subs[0]!;
      const check = first.config.check;
      jobs.push(new ProbeJob(key, first.config.endpoint.host, check, this.deps.probes.probeFor(checkSpecOf(check))));
    }
    return jobs;
  }

  private onResult(key: string, result: ProbeResult, info: RunInfo): CheckPhase {
    const subs = this.subscribers.get(key);
    if (!subs || this.stopped) return 'steady';
    const at = info.finishedAt;
    this.deps.observeRun?.(key, result, info);
    this.metrics.scheduleLag.observe(Math.max(0, info.startedAt - info.scheduledAt) / 1000);
    let changed = false;
    let phase: CheckPhase = 'steady';
    for (const rec of subs) {
      (rec.tally ??= this.metrics.probes.tally(rec.service.name, rec.config.id, rec.config.check.type)).observe(result.outcome, result.durationMs / 1000);
      // in place: a new wrapper per check would live one interval and be promoted
      if (rec.last) {
        rec.last.result = result;
        rec.last.at = at;
      } else rec.last = { result, at };
      const t = applyResult(rec.health, result.ok, rec.config.check, at);
      if (t) {
        // the service counts follow health, which only a transition changes
        this.countHealth(rec, t.from, -1);
        this.countHealth(rec, t.to, 1);
        this.builder.markDirty(rec.service, rec.index);
        changed = true;
        this.onTransition(rec, t, result);
      } else if (!result.ok) {
        if (rec.health.health === 'down' && this.listeners.size > 0) {
          this.emit({
            type: 'still_down', scope: 'realserver', service: rec.service.name, realserver: rec.config.id,
            failures: rec.health.failStreak, at, detail: `${result.outcome}: ${result.detail}`,
          });
        }
        // the probe that took the service down opened its first round; the next rounds count anew
        this.countFailedRound(rec, at, result);
      }
      phase = morePressing(phase, checkPhase(rec.health));
    }
    if (changed) this.reconciler.request();
    return phase;
  }

  private onTransition(rec: RealserverRecord, t: Transition, result: ProbeResult): void {
    rec.transitions++;
    // slow start only after a failure, as HAProxy does: a realserver first seen UP (start-up,
    // config reload) may already carry traffic in the kernel table, and a ramp would cut it
    if (t.to === 'up' && t.from === 'down') rec.upSince = t.at;
    rec.transitionCounts = countTransition(rec.transitionCounts, t.from, t.to);
    this.deps.log.info({
      service: rec.service.name, realserver: rec.config.id, from: t.from, to: t.to,
      reason: `${result.outcome}: ${result.detail}`,
    }, 'realserver transition');
    this.emit({
      type: 'transition', service: rec.service.name, realserver: rec.config.id,
      from: t.from, to: t.to, at: t.at, detail: `${result.outcome}: ${result.detail}`, failures: rec.health.failStreak,
    });
    this.checkService(rec.service, t.at, `${rec.config.id} ${t.from} -> ${t.to} (${result.outcome}: ${result.detail})`);
  }

  /** service_down when the last UP realserver goes (as the sorry server sees it), service_up when one is back */
  private checkService(svc: ServiceConfig, at: number, why: string): void {
    const c = this.serviceCounts.get(svc);
    // the sorry server's rule (sorryActive), from counts kept up to date: O(1) per transition
    const down = c ? c.usable === 0 && c.unknown === 0 : true;
    const was = this.outages.has(svc);
    if (down === was) return;
    if (down) this.outages.set(svc, { rounds: 1, failedThisRound: new Set() });
    else this.outages.delete(svc);
    this.deps.log.info({ service: svc.name, to: down ? 'down' : 'up', reason: why }, down ? 'service down: no realserver UP' : 'service up');
    this.emit({ type: 'service', service: svc.name, to: down ? 'down' : 'up', at, detail: why });
  }

  /** a down service's failed rounds: one more each time every realserver has failed again */
  private countFailedRound(rec: RealserverRecord, at: number, result: ProbeResult): void {
    const outage = this.outages.get(rec.service);
    if (!outage) return;
    outage.failedThisRound.add(rec);
    if (outage.failedThisRound.size < (this.byService.get(rec.service)?.length ?? 0)) return;
    outage.failedThisRound.clear();
    outage.rounds++;
    this.emit({
      type: 'still_down', scope: 'service', service: rec.service.name, failures: outage.rounds, at,
      detail: `no realserver UP (last: ${rec.config.id} ${result.outcome}: ${result.detail})`,
    });
  }

  /**
   * The operator's state for a realserver: `drain` (weight 0, its connections carry on, no new
   * ones), `maint` (out of the table), or `ready` (back to what its checks say). With `forMs`
   * the state ends by itself after that long. Kept in state_dir across restarts and reloads.
   * Unknown names throw.
   */
  setAdmin(service: string, realserver: string, state: 'ready' | 'drain' | 'maint', opts: { readonly forMs?: number; readonly reason: string }): void {
    const rec = this.record(service, realserver);
    const now = this.deps.clock.now();
    this.applyAdmin(rec, state === 'ready' ? 'none' : state, opts.reason, now, opts.forMs !== undefined ? now + opts.forMs : undefined);
    this.saveOverrides();
  }

  drain(service: string, realserver: string, opts: { readonly forMs?: number; readonly reason: string }): void {
    this.setAdmin(service, realserver, 'drain', opts);
  }

  undrain(service: string, realserver: string, opts: { readonly reason: string }): void {
    this.setAdmin(service, realserver, 'ready', opts);
  }

  /** a weight in place of the configured one; null goes back to the config */
  setWeight(service: string, realserver: string, weight: number | null, reason: string): void {
    const rec = this.record(service, realserver);
    if (weight !== null && !isWeight(weight)) {
      throw new LvsError('LVSD_ERR_BAD_REQUEST', `weight must be an integer 0..${MAX_WEIGHT}, or null to go back to the config; got ${weight}`, { weight });
    }
    rec.weightOverride = weight ?? undefined;
    this.builder.markDirty(rec.service, rec.index);
    this.deps.log.info({ service, realserver, weight, configured: rec.config.weight, reason }, weight === null ? 'weight override removed' : 'weight override');
    this.saveOverrides();
    this.reconciler.request();
  }

  /** probe now, outside the schedule (its result counts like any other) */
  checkNow(service: string, realserver: string): void {
    this.scheduler.runNow(this.record(service, realserver).jobKey);
  }

  /** the realserver's active connections as the kernel counts them now (null: not in the table) */
  async activeConnections(service: string, realserver: string): Promise<number | null> {
    const rec = this.record(service, realserver);
    const table = await this.deps.driver.read();
    const d = table.services.get(serviceKey(virtualService(rec.service)))?.destinations.get(rec.config.id);
    return d ? d.activeConns : null;
  }

  private applyAdmin(
    rec: RealserverRecord, admin: AdminState, reason: string, now: number, until: number | undefined,
    opts: { readonly announce?: boolean } = {},
  ): void {
    rec.drainTimer?.cancel();
    rec.drainTimer = undefined;
    rec.adminUntil = until;
    const service = rec.service.name;
    const realserver = rec.config.id;
    if (until !== undefined) {
      rec.drainTimer = this.deps.clock.setTimeout(() => {
        try {
          this.setAdmin(service, realserver, 'ready', { reason: `${admin} for ${formatDuration(until - now)} ended` });
        } catch (e) {
          this.deps.log.warn({ service, realserver, err: errorMessage(e) }, 'timed admin state could not end');
        }
      }, until - now);
    }
    const before = rec.admin;
    if (before === admin) return;
    this.countRecord(rec, -1);
    rec.admin = admin;
    this.countRecord(rec, 1);
    this.builder.markDirty(rec.service, rec.index);
    rec.adminReason = admin === 'none' ? undefined : reason;
    this.deps.log.info({ service, realserver, from: before, to: admin, until: until && new Date(until).toISOString(), reason }, 'admin state');
    if (opts.announce !== false) {
      if (before === 'drain') this.emit({ type: 'admin', action: 'drain_finished', service, realserver, at: now, detail: reason });
      if (admin === 'drain') this.emit({ type: 'admin', action: 'drain_started', service, realserver, at: now, detail: reason });
    }
    this.checkService(rec.service, now, `${realserver} ${admin === 'none' ? 'ready' : admin} (${reason})`);
    this.reconciler.request();
  }

  /** the overrides as they are now, on disk (in order; a failed write is logged, the next one retries) */
  private saveOverrides(): void {
    const store = this.deps.overrides;
    if (!store) return;
    const out = new Map<string, Override>();
    for (const r of this.records) {
      if (r.admin === 'none' && r.weightOverride === undefined) continue;
      out.set(overrideKey(r.service.name, r.config.id), {
        ...(r.admin !== 'none' ? { admin: r.admin } : {}),
        ...(r.weightOverride !== undefined ? { weight: r.weightOverride } : {}),
        ...(r.adminUntil !== undefined ? { until: r.adminUntil } : {}),
        ...(r.adminReason !== undefined ? { reason: r.adminReason } : {}),
        since: this.deps.clock.now(),
      });
    }
    store.save(out).catch((e: unknown) => this.deps.log.error({ err: errorMessage(e) }, 'overrides could not be saved'));
  }

  /** overrides from the last run: applied before the first probe (a drained realserver stays drained) */
  private async restoreOverrides(): Promise<void> {
    const store = this.deps.overrides;
    if (!store) return;
    const saved = await store.load();
    const now = this.deps.clock.now();
    let stale = false;
    for (const [key, o] of saved) {
      const rec = this.byId.get(key);
      if (!rec) {
        this.deps.log.warn({ override: key }, 'override for a realserver no longer in the config: dropped');
        stale = true;
        continue;
      }
      if (o.weight !== undefined) {
        rec.weightOverride = o.weight;
        this.builder.markDirty(rec.service, rec.index);
      }
      const expired = o.until !== undefined && o.until <= now;
      // not announced again: the drain_started alert went out when the operator drained it
      if (o.admin !== undefined && !expired) this.applyAdmin(rec, o.admin, o.reason ?? 'restored', now, o.until, { announce: false });
      if (expired || (o.admin === undefined && o.weight === undefined)) stale = true;
    }
    // the file changes only when an entry went away (a realserver left the config, a timed state ended)
    if (stale) this.saveOverrides();
  }

  /**
   * Apply a new config as a diff (see reload-plan.ts): realservers that stay keep their state,
   * counters, probe jobs (unless their check changed) and overrides; removed ones leave the
   * table through the drain of leaving.ts; removed services are deleted. `dryRun` only plans.
   */
  reload(next: Config, opts: { readonly dryRun?: boolean } = {}): ReloadPlan {
    const plan = planReload(this.config, next);
    if (opts.dryRun || this.stopped) return plan;
    const old = this.config;
    // what needs a restart keeps its running value
    const effective = effectiveConfig(old, next);
    const carry = this.byId;
    const nextKeys = new Set(next.services.map((svc) => serviceKey(virtualService(svc))));
    for (const svc of old.services) {
      const key = serviceKey(virtualService(svc));
      if (!nextKeys.has(key)) this.retired.set(key, virtualService(svc));
    }
    for (const key of nextKeys) this.retired.delete(key);
    /** realservers that stay, with their new check type */
    const staying = new Map(next.services.flatMap((svc) => svc.realservers.map((r) => [overrideKey(svc.name, r.id), r.check.type] as const)));
    /** the overrides file changes only when a realserver that had one left the config */
    let overridesGone = false;
    for (const r of this.records) {
      const nextType = staying.get(overrideKey(r.service.name, r.config.id));
      if (nextType !== undefined) {
        // probe series are labelled with the check type: a new type starts new ones
        if (nextType !== r.config.check.type) this.metrics.probes.forget(r.service.name, r.config.id, r.config.check.type);
        continue;
      }
      r.drainTimer?.cancel();
      this.metrics.forgetRealserver(r.service.name, r.config.id, r.config.check.type);
      if (r.admin !== 'none' || r.weightOverride !== undefined) overridesGone = true;
    }
    this.wire(effective, carry);
    this.scheduler.sync(this.jobs());
    if (plan.schedulesChanged) {
      for (const t of this.cronTasks) t.stop();
      this.cronTasks = [];
      this.startSchedules();
    }
    const now = this.deps.clock.now();
    for (const svc of this.config.services) this.checkService(svc, now, 'config reloaded');
    this.metrics.configLoaded(true, now, true);
    this.deps.log.info({
      services_added: plan.services.added.length, services_removed: plan.services.removed.length, services_changed: plan.services.changed.length,
      realservers_added: plan.realservers.added.length, realservers_removed: plan.realservers.removed.length,
      checks_changed: plan.realservers.checkChanged.length, weights_changed: plan.realservers.weightChanged.length,
      unchanged: plan.realservers.unchanged, needs_restart: plan.needsRestart, reason: 'reload',
    }, 'config reloaded');
    if (plan.needsRestart.length > 0) this.deps.log.warn({ keys: plan.needsRestart }, 'config reloaded, but these changes need a restart: the running values stay');
    if (overridesGone) this.saveOverrides();
    this.reconciler.request({ fresh: true });
    return plan;
  }

  /** a reload that did not happen (the caller could not load the file): counted, and an alert event */
  reloadFailed(detail: string): void {
    const now = this.deps.clock.now();
    this.metrics.configLoaded(false, now, true);
    this.deps.log.error({ reason: detail }, 'config reload refused: the running config stays');
    this.emit({ type: 'config_reload_failed', at: now, detail });
  }

  private record(service: string, realserver: string): RealserverRecord {
    const rec = this.byId.get(overrideKey(service, realserver));
    if (rec) return rec;
    const known = this.config.services.some((s) => s.name === service);
    throw new LvsError('LVSD_ERR_NOT_FOUND', known ? `service ${service} has no realserver ${realserver}` : `no service named ${service}`, { service, realserver });
  }

  /**
   * The wanted table for a reconcile pass. A full pass (given the kernel's table afresh) also
   * keeps destinations the config no longer names at weight 0 while they drain (see leaving.ts)
   * and deletes services a reload removed; a pass for state changes takes what changed since
   * the last pass. Either way only realservers marked dirty are recomputed (every change to a
   * record's health, admin state, weight override or slow-start origin marks it): a resync at
   * 50,000 realservers must not hold the event loop for a recomputation of all of them.
   */
  private computeWanted(actual: IpvsTable, full: boolean): WantedTable {
    const now = this.deps.clock.now();
    const base = this.builder.update(now);
    const changed = this.builder.takeChanges();
    this.wanted = base;
    if (!full) {
      this.armTimedChange(base.nextChangeAt);
      return changed ? { ...base.table, changed } : base.table;
    }
    const leaving = planLeaving({
      wanted: base.table, actual, configured: this.configured, since: this.leavingSince, now,
      drainMs: this.config.ipvs.drainBeforeRemoveMs,
    });
    this.leavingSince = leaving.since;
    this.leaving = leaving.draining;
    this.leavingCheckAt = leaving.nextCheckAt;
    // services a reload removed: gone from the kernel once a pass has deleted them
    for (const key of this.retired.keys()) if (!actual.services.has(key)) this.retired.delete(key);
    this.armTimedChange(base.nextChangeAt);
    return this.retired.size > 0 ? { ...leaving.table, remove: new Map(this.retired) } : leaving.table;
  }

  /** a reconcile when the wanted table changes by itself: a slow-start step, a drain to check */
  private armTimedChange(rampAt: number | undefined): void {
    this.timedChange?.cancel();
    this.timedChange = undefined;
    const drainAt = this.leavingCheckAt;
    if ((rampAt === undefined && drainAt === undefined) || this.stopped) return;
    const at = Math.min(rampAt ?? Infinity, drainAt ?? Infinity);
    // fresh (a full pass): a draining realserver's connection count is what that looks at
    const fresh = drainAt !== undefined && drainAt <= at;
    this.timedChange = this.deps.clock.setTimeout(() => this.reconciler.request({ fresh }), at - this.deps.clock.now());
  }

  /** the reason an IPVS op is made, from the state of the realserver it is about */
  private explain(op: IpvsOp): string {
    const managed = this.byKey.get(serviceKey(op.service));
    const service = managed?.service;
    const destKey = 'dest' in op ? endpointKey(op.dest.endpoint) : undefined;
    const rec = destKey !== undefined ? managed?.records.get(destKey) : undefined;
    return explainOp(op, {
      service,
      isSorryServer: !rec && service?.sorryServer !== undefined && destKey === endpointKey(service.sorryServer),
      realserver: rec && {
        health: rec.health.health, admin: rec.admin, configuredWeight: rec.weightOverride ?? rec.config.weight,
        ...(rec.last ? { lastResult: `${rec.last.result.outcome}: ${rec.last.result.detail}` } : {}),
      },
    });
  }

  private onReconciled(report: ReconcileReport): void {
    if (report.table) this.table = report.table;
    if (report.applied.length > 0) {
      this.metrics.ipvsApplyDuration.observe(report.durationMs / 1000);
      for (const op of report.applied) this.metrics.ipvsChanges.inc({ op: op.op });
    }
    if (!report.converged) this.metrics.ipvsApplyErrors.inc();
    if (report.applied.length > 0 || !report.converged) this.emit({ type: 'ipvs', report });
  }

  private gaugeRows(): Iterable<RealserverGaugeRow> {
    return realserverGaugeRows({ config: this.config, records: this.records, wanted: this.wanted ?? this.builder.update(this.deps.clock.now()), table: this.table });
  }

  /** publish an event of another part (VRRP) on the daemon's bus */
  publish(e: DaemonEvent): void {
    this.emit(e);
  }

  private emit(e: DaemonEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch (err) {
        this.deps.log.error({ err }, 'event listener failed');
      }
    }
  }
}

/**
 * A scheduler wake-up also starts the checks due in the next 10 ms: an idle daemon's wake-ups,
 * not its probes, were most of its CPU at moderate rates. 10 ms early is noise against check
 * intervals of seconds, and the next run is still due a whole interval after the nominal time.
 */
const PROBE_COALESCE_MS = 10;

/** longest a scrape waits for the kernel's table and statistics (Prometheus' default scrape timeout is 10 s) */
const IPVS_SCRAPE_TIMEOUT_MS = 5000;

const PHASE_RANK: Record<CheckPhase, number> = { steady: 0, down: 1, transition: 2 };

function morePressing(a: CheckPhase, b: CheckPhase): CheckPhase {
  return PHASE_RANK[b] > PHASE_RANK[a] ? b : a;
}
