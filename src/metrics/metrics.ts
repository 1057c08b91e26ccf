/**
 * lvsd's Prometheus metrics on a private Registry (never prom-client's global one).
 * Gauges that mirror state are filled at scrape time from the daemon's view, so a realserver
 * that leaves the config leaves the output with it; counters and histograms count events.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerIpvsMetrics, type IpvsSnapshot } from './ipvs-metrics.js';
import { ProbeMetrics } from './probe-metrics.js';
import { registerRealserverMetrics, type RealserverGaugeRow, type ServiceGaugeRow } from './realserver-metrics.js';

export type { RealserverGaugeRow, ServiceGaugeRow } from './realserver-metrics.js';

export interface MetricsSources {
  readonly realservers: () => Iterable<RealserverGaugeRow>;
  readonly services: () => Iterable<ServiceGaugeRow>;
  /** the last reconcile pass: when (ms since the epoch) and whether the table matched after it */
  readonly reconcile: () => { readonly at: number; readonly converged: boolean } | undefined;
  readonly scheduler: () => { readonly running: number; readonly queued: number };
  /** the kernel's table and traffic statistics, read at scrape time; rejects when the read fails */
  readonly ipvs?: () => Promise<IpvsSnapshot>;
  /** lvsd's name of a managed service, by serviceKey() */
  readonly serviceName?: (serviceKey: string) => string | undefined;
}

/** a scrape within this long of the last kernel read reuses it */
const IPVS_CACHE_MS = 1000;


export interface MetricsOptions {
  /** process and Node.js runtime metrics (lvsd_process_*, lvsd_nodejs_*); default true */
  readonly defaultMetrics?: boolean;
  /** lvsd_build_info's labels */
  readonly build?: { readonly version: string; readonly node: string };
}

export class Metrics {
  readonly registry: Registry;
  /** lvsd_probes_total and lvsd_probe_duration_seconds: a tally per realserver */
  readonly probes = new ProbeMetrics();
  readonly scheduleLag: Histogram;
  readonly ipvsApplyDuration: Histogram;
  readonly ipvsApplyErrors: Counter;
  readonly ipvsChanges: Counter<'op'>;
  /** alert deliveries by target (the alert entry's name) and result */
  readonly alertsSent: Counter<'target' | 'result'>;
  private alertQueues: () => Iterable<{ readonly target: string; readonly depth: number; readonly oldestEnqueuedAt: number | undefined }> = () => [];
  private readonly configReloads: Counter<'result'>;
  private readonly configLastSuccess: Gauge;
  private readonly configLastResult: Gauge;
  /** the realserver rows of the scrape in progress: built once, read by the three gauges */
  private scrapeRows: readonly RealserverGaugeRow[] | undefined;
  private scrapeServices: readonly ServiceGaugeRow[] | undefined;
  /** the kernel view of the scrape in progress (undefined: the read failed) */
  private scrapeIpvs: IpvsSnapshot | undefined;
  private ipvsCache: { readonly at: number; readonly value: Promise<IpvsSnapshot | undefined> } | undefined;

  private readonly sources: MetricsSources;

  constructor(sources: MetricsSources, options: MetricsOptions = {}) {
    this.sources = sources;
    const registry = new Registry();
    this.registry = registry;
    const rows = (): Iterable<RealserverGaugeRow> => this.scrapeRows ?? sources.realservers();
    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: registry, prefix: 'lvsd_' });
      // gauges named like counters (promtool objects); each is the sum of the series of its
      // namesake without _total, which stays (lvsd_nodejs_active_handles{type} ...)
      for (const kind of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`lvsd_nodejs_active_${kind}_total`);
    }

    this.probes.register(registry);
    this.scheduleLag = new Histogram({
      name: 'lvsd_probe_schedule_lag_seconds', help: 'Delay between when a probe was due and when it started.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5], registers: [registry],
    });
    this.ipvsApplyDuration = new Histogram({
      name: 'lvsd_ipvs_apply_duration_seconds', help: 'Time of one reconcile pass that changed the IPVS table.',
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [registry],
    });
    this.ipvsApplyErrors = new Counter({
      name: 'lvsd_ipvs_apply_errors_total', help: 'Reconcile passes that failed or left the table different from the wanted one.',
      registers: [registry],
    });
    this.ipvsChanges = new Counter({
      name: 'lvsd_ipvs_changes_total', help: 'IPVS table changes applied, by operation.',
      labelNames: ['op'], registers: [registry],
    });

    registerRealserverMetrics(registry, rows, () => this.scrapeServices ?? sources.services());
    if (sources.ipvs) registerIpvsMetrics(registry, () => this.scrapeIpvs, sources.serviceName ?? (() => undefined));
    const build = options.build ?? { version: '0.0.0', node: '' };
    new Gauge({
      name: 'lvsd_build_info', help: 'Always 1; labels: lvsd version, Node.js version, node name from the config.',
      labelNames: ['version', 'nodejs', 'node'], registers: [registry],
    }).set({ version: build.version, nodejs: process.versions.node, node: build.node }, 1);
    new Gauge({
      name: 'lvsd_ipvs_in_sync', help: '1 when the last reconcile pass left the IPVS table as lvsd wants it, else 0.',
      registers: [registry],
      collect() {
        const r = sources.reconcile();
        this.set(r?.converged ? 1 : 0);
      },
    });
    new Gauge({
      name: 'lvsd_ipvs_last_reconcile_timestamp_seconds', help: 'When the last reconcile pass ran, seconds since the epoch.',
      registers: [registry],
      collect() {
        const r = sources.reconcile();
        if (r) this.set(r.at / 1000);
      },
    });
    this.alertsSent = new Counter({
      name: 'lvsd_alerts_sent_total',
      help: 'Alerts by target and result: sent; failed (one attempt, retried); rejected (refused by the receiver, not retried); dropped (queue full); suppressed (outside the period).',
      labelNames: ['target', 'result'], registers: [registry],
    });
    const queues = (): Iterable<{ readonly target: string; readonly depth: number; readonly oldestEnqueuedAt: number | undefined }> => this.alertQueues();
    const depth = new Gauge({
      name: 'lvsd_alerts_queue_depth', help: 'Alerts waiting for delivery, per target (kept in state_dir across restarts).',
      labelNames: ['target'], registers: [registry],
      collect() {
        depth.reset();
        for (const q of queues()) depth.set({ target: q.target }, q.depth);
      },
    });
    const oldest = new Gauge({
      name: 'lvsd_alerts_queue_oldest_age_seconds', help: 'Age of the oldest undelivered alert, per target (0 when the queue is empty).',
      labelNames: ['target'], registers: [registry],
      collect() {
        oldest.reset();
        const now = Date.now();
        for (const q of queues()) oldest.set({ target: q.target }, q.oldestEnqueuedAt === undefined ? 0 : Math.max(0, (now - q.oldestEnqueuedAt) / 1000));
      },
    });
    this.configReloads = new Counter({
      name: 'lvsd_config_reloads_total', help: 'Configuration reloads, by result (success, failure: the old config kept running).',
      labelNames: ['result'], registers: [registry],
    });
    for (const result of ['success', 'failure']) this.configReloads.inc({ result }, 0);
    this.configLastResult = new Gauge({
      name: 'lvsd_config_last_reload_successful', help: '1 when the last configuration load or reload succeeded, else 0.', registers: [registry],
    });
    this.configLastSuccess = new Gauge({
      name: 'lvsd_config_last_reload_success_timestamp_seconds', help: 'When the running configuration was loaded, seconds since the epoch.', registers: [registry],
    });
    const inflight = new Gauge({
      name: 'lvsd_probes_in_flight', help: 'Probes running now, and waiting for a concurrency slot.',
      labelNames: ['state'], registers: [registry],
      collect() {
        const l = sources.scheduler();
        inflight.set({ state: 'running' }, l.running);
        inflight.set({ state: 'queued' }, l.queued);
      },
    });
  }

  /** where the alert queue gauges read from (the alert system, once started) */
  setAlertQueues(fn: () => Iterable<{ readonly target: string; readonly depth: number; readonly oldestEnqueuedAt: number | undefined }>): void {
    this.alertQueues = fn;
  }

  /** the config was loaded at start-up (`reload` false) or a reload ended with `ok` */
  configLoaded(ok: boolean, atMs: number, reload: boolean): void {
    if (reload) this.configReloads.inc({ result: ok ? 'success' : 'failure' });
    this.configLastResult.set(ok ? 1 : 0);
    if (ok) this.configLastSuccess.set(atMs / 1000);
  }

  /** drop the probe series of a realserver that left the config (the gauges and transitions follow the rows by themselves) */
  forgetRealserver(service: string, realserver: string, check: string): void {
    this.probes.forget(service, realserver, check);
  }

  async text(): Promise<string> {
    const ipvs = await this.readIpvs();
    // prom-client calls every collect() synchronously inside metrics(), before its first await
    this.scrapeRows = [...this.sources.realservers()];
    this.scrapeServices = [...this.sources.services()];
    this.scrapeIpvs = ipvs;
    try {
      return await this.registry.metrics();
    } finally {
      this.scrapeRows = undefined;
      this.scrapeServices = undefined;
      this.scrapeIpvs = undefined;
    }
  }

  private readIpvs(): Promise<IpvsSnapshot | undefined> {
    const read = this.sources.ipvs;
    if (!read) return Promise.resolve(undefined);
    const now = performance.now();
    if (this.ipvsCache && now - this.ipvsCache.at < IPVS_CACHE_MS) return this.ipvsCache.value;
    const value = read().catch(() => undefined);
    this.ipvsCache = { at: now, value };
    return value;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
