/**
 * lvsd_probes_total and lvsd_probe_duration_seconds, per (service, realserver, check), counted
 * in plain numbers the daemon holds per realserver and written out at scrape time.
 *
 * Why not prom-client's Counter and Histogram: each inc()/observe() hashes its label object
 * into a string key, and each new series allocates an object per bucket; at 5,000 probes a
 * second over 50,000 realservers that was a measurable share of the probe engine's CPU and
 * heap. The exposition is the same (names, types, label order, le buckets).
 */
import type { Registry } from 'prom-client';
import type { ProbeOutcome } from '../../checks/types.js';
import { flatString } from '../core/flat-string.js';
import { registerCustomMetric, type MetricValue } from './custom-metric.js';

/** the `result` label: a probe's outcome, in this order in the output */
const PROBE_RESULTS = ['ok', 'fail', 'timeout', 'error'] as const satisfies readonly ProbeOutcome[];
const RESULT_INDEX: Readonly<Record<ProbeOutcome, number>> = { ok: 0, fail: 1, timeout: 2, error: 3 };

/** upper bounds in seconds (+Inf implied) */
export const PROBE_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** where the first duration bucket sits in ProbeTally.counts; the results come before it */
const BUCKETS_AT = PROBE_RESULTS.length;

/**
 * One realserver's probe counts and the labels of its series, in one object and one array (labels as plain fields):
 * per result, then per duration bucket (observations that fell in it, not cumulative; the
 * last is +Inf). The first version, a labels object, a series wrapper and two arrays, was six
 * objects per realserver marked by every full collection (~20 MB at 50,000 in a heap snapshot). Not a
 * Float64Array: a typed array brings an ArrayBuffer and a native backing store (~250 bytes each).
 */
export class ProbeTally {
  readonly service: string;
  readonly realserver: string;
  readonly check: string;
  readonly counts: number[] = new Array<number>(BUCKETS_AT + PROBE_DURATION_BUCKETS.length + 1).fill(0);
  sum = 0;
  count = 0;

  constructor(service: string, realserver: string, check: string) {
    this.service = service;
    this.realserver = realserver;
    this.check = check;
  }

  /** its series' labels (made at scrape time: an object kept per realserver is one more to mark) */
  labels(): { readonly service: string; readonly realserver: string; readonly check: string } {
    return { service: this.service, realserver: this.realserver, check: this.check };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  observe(result: ProbeOutcome, seconds: number): void {
    this.counts[RESULT_INDEX[result]]! += 1;
    let i = 0;
    while (i < PROBE_DURATION_BUCKETS.length && seconds > PROBE_DURATION_BUCKETS[i]!) i++;
    this.counts[BUCKETS_AT + i]! += 1;
    this.sum += seconds;
    this.count += 1;
  }
}

export class ProbeMetrics {
  private readonly series = new Map<string, ProbeTally>();

  /** the tally of one realserver's probes (the same object for the same labels, across reloads) */
  tally(service: string, realserver: string, check: string): ProbeTally {
    // flat: the key lives as long as the series (core/flat-string.ts)
    const key = flatString(`${service}\u0000${realserver}\u0000${check}`);
    let t = this.series.get(key);
    if (!t) {
      t = new ProbeTally(service, realserver, check);
      this.series.set(key, t);
    }
    return t;
  }

  forget(service: string, realserver: string, check: string): void {
    this.series.delete(`${service}\u0000${realserver}\u0000${check}`);
  }

  register(registry: Registry): void {
    const metric = (name: string, help: string, type: 'counter' | 'histogram', values: () => MetricValue[]): void => {
      registerCustomMetric(registry, {
        name, help, type, values,
        labelNames: ['service', 'realserver', 'check', ...(type === 'counter' ? ['result'] : [])],
        // records hold their tally: zero it rather than orphan it
        reset: () => { for (const tally of this.series.values()) tally.reset(); },
      });
    };
    metric('lvsd_probes_total', 'Health probes completed, by result (ok, fail, timeout, error).', 'counter', () => {
      const out: MetricValue[] = [];
      for (const tally of this.series.values()) {
        PROBE_RESULTS.forEach((result, i) => {
          const v = tally.counts[i]!;
          if (v > 0) out.push({ labels: { ...tally.labels(), result }, value: v });
        });
      }
      return out;
    });
    metric('lvsd_probe_duration_seconds', 'Time a health probe took, from start to verdict.', 'histogram', () => {
      const out: MetricValue[] = [];
      for (const tally of this.series.values()) {
        if (tally.count === 0) continue;
        const labels = tally.labels();
        let cumulative = 0;
        for (let i = 0; i <= PROBE_DURATION_BUCKETS.length; i++) {
          cumulative += tally.counts[BUCKETS_AT + i]!;
          const le = i < PROBE_DURATION_BUCKETS.length ? PROBE_DURATION_BUCKETS[i]! : '+Inf';
          out.push({ metricName: 'lvsd_probe_duration_seconds_bucket', labels: { le, ...labels }, value: cumulative });
        }
        out.push({ metricName: 'lvsd_probe_duration_seconds_sum', labels, value: tally.sum });
        out.push({ metricName: 'lvsd_probe_duration_seconds_count', labels, value: tally.count });
      }
      return out;
    });
  }
}
