/**
 * lvsd's Prometheus metrics on a private Registry (never prom-client's global one).
 * Gauges that mirror state are filled at scrape time from the daemon's view, so a realserver
 * that leaves the config leaves the output with it; counters and histograms count events.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerIpvsMetrics, type IpvsSnapshot } from './ipvs-metrics.js';

export interface RealserverGaugeRow {
  readonly service: string;
  readonly realserver: string;
  readonly check: string;
  readonly up: boolean;
  /** weight lvsd wants in the table now (0 when quiescent; absent = not in the table) */
  readonly weight: number | undefined;
  readonly configuredWeight: number;
}

export interface MetricsSources {
  readonly realservers: () => Iterable<RealserverGaugeRow>;
  readonly scheduler: () => { readonly running: number; readonly queued: number };
  /** the kernel's table and traffic statistics, read at scrape time; rejects when the read fails */
  readonly ipvs?: () => Promise<IpvsSnapshot>;
  /** lvsd's name of a managed service, by serviceKey() */
  readonly serviceName?: (serviceKey: string) => string | undefined;
}

/** a scrape within this long of the last kernel read reuses it */
const IPVS_CACHE_MS = 1000;

const RS_LABELS = ['service', 'realserver', 'check'] as const;

export class Metrics {
  readonly registry: Registry;
  readonly probes: Counter<'service' | 'realserver' | 'check' | 'result'>;
  readonly probeDuration: Histogram<'service' | 'realserver' | 'check'>;
  readonly transitions: Counter<'service' | 'realserver' | 'from' | 'to'>;
  readonly scheduleLag: Histogram;
  readonly ipvsApplyDuration: Histogram;
  readonly ipvsApplyErrors: Counter;
  readonly ipvsChanges: Counter<'op'>;
  /** the realserver rows of the scrape in progress: built once, read by the three gauges */
  private scrapeRows: readonly RealserverGaugeRow[] | undefined;
  /** the kernel view of the scrape in progress (undefined: the read failed) */
  private scrapeIpvs: IpvsSnapshot | undefined;
  private ipvsCache: { readonly at: number; readonly value: Promise<IpvsSnapshot | undefined> } | undefined;

  private readonly sources: MetricsSources;

  constructor(sources: MetricsSources, options: { readonly defaultMetrics?: boolean } = {}) {
    this.sources = sources;
    const registry = new Registry();
    this.registry = registry;
    const rows = (): Iterable<RealserverGaugeRow> => this.scrapeRows ?? sources.realservers();
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'lvsd_' });

    this.probes = new Counter({
      name: 'lvsd_probes_total', help: 'Health probes completed, by result (ok, fail, timeout, error).',
      labelNames: [...RS_LABELS, 'result'], registers: [registry],
    });
    this.probeDuration = new Histogram({
      name: 'lvsd_probe_duration_seconds', help: 'Time a health probe took, from start to verdict.',
      labelNames: RS_LABELS, buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    this.transitions = new Counter({
      name: 'lvsd_realserver_transitions_total', help: 'Realserver health transitions.',
      labelNames: ['service', 'realserver', 'from', 'to'], registers: [registry],
    });
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

    const up = new Gauge({
      name: 'lvsd_realserver_up', help: '1 when the realserver is UP by its checks, else 0.',
      labelNames: RS_LABELS, registers: [registry],
      collect() {
        this.reset();
        for (const r of rows()) up.set(labels(r), r.up ? 1 : 0);
      },
    });
    const weight = new Gauge({
      name: 'lvsd_realserver_weight', help: 'Weight lvsd gives the realserver in the IPVS table (-1 = not in the table).',
      labelNames: RS_LABELS, registers: [registry],
      collect() {
        this.reset();
        for (const r of rows()) weight.set(labels(r), r.weight ?? -1);
      },
    });
    const configured = new Gauge({
      name: 'lvsd_realserver_configured_weight', help: 'Weight of the realserver in the config.',
      labelNames: RS_LABELS, registers: [registry],
      collect() {
        this.reset();
        for (const r of rows()) configured.set(labels(r), r.configuredWeight);
      },
    });
    if (sources.ipvs) registerIpvsMetrics(registry, () => this.scrapeIpvs, sources.serviceName ?? (() => undefined));
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

  async text(): Promise<string> {
    const ipvs = await this.readIpvs();
    // prom-client calls every collect() synchronously inside metrics(), before its first await
    this.scrapeRows = [...this.sources.realservers()];
    this.scrapeIpvs = ipvs;
    try {
      return await this.registry.metrics();
    } finally {
      this.scrapeRows = undefined;
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

function labels(r: RealserverGaugeRow): { service: string; realserver: string; check: string } {
  return { service: r.service, realserver: r.realserver, check: r.check };
}
