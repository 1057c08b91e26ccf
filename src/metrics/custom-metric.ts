/**
 * A metric whose samples are computed at scrape time from lvsd's own counts. prom-client's
 * Counter hashes its label object into a string key per inc() and keeps a label object and a
 * value object per series: at 50,000 realservers that was ~10 MB of heap for one counter. The
 * registry only calls get() (and reset() on resetMetrics()), so this is all it needs.
 */
import type { Metric, Registry } from 'prom-client';

export interface MetricValue {
  readonly metricName?: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

export function registerCustomMetric(
  registry: Registry,
  def: {
    readonly name: string;
    readonly help: string;
    readonly type: 'counter' | 'histogram';
    readonly labelNames: readonly string[];
    readonly values: () => MetricValue[];
    readonly reset: () => void;
  },
): void {
  const { name, help, type, labelNames, values, reset } = def;
  const m = {
    name, help, type, labelNames, aggregator: 'sum', reset,
    get: () => Promise.resolve({ name, help, type, values: values(), aggregator: 'sum' }),
  };
  registry.registerMetric(m as unknown as Metric);
}
