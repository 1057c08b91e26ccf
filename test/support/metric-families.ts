/**
 * Every metric family lvsd can export, from its own registry: the daemon's Metrics with the IPVS
 * source, plus the VRRP families a `failover:` section adds and the ipvsadm driver's per-call ones. Names map to their label names
 * (histograms as _bucket (with le), _sum and _count).
 */
import { Metrics } from '../../src/metrics/metrics.js';
import { IpvsCommandMetrics } from '../../src/metrics/ipvs-metrics.js';
import { registerVrrpMetrics } from '../../src/metrics/vrrp-metrics.js';

export function allMetricsRegistry(): Metrics {
  const metrics = new Metrics({
    realservers: () => [], services: () => [], reconcile: () => undefined, scheduler: () => ({ running: 0, queued: 0 }),
    ipvs: () => Promise.reject(new Error('no kernel here')),
  });
  registerVrrpMetrics(metrics.registry, 51, () => ({ state: 'backup', priority: 100 }));
  new IpvsCommandMetrics().register(metrics.registry);
  return metrics;
}

export function allMetricFamilies(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const m of allMetricsRegistry().registry.getMetricsAsArray()) {
    const meta = m as unknown as { name: string; labelNames: string[]; type: string };
    const labels = new Set(meta.labelNames);
    if (meta.type === 'histogram') {
      out.set(`${meta.name}_bucket`, new Set([...labels, 'le']));
      out.set(`${meta.name}_sum`, labels);
      out.set(`${meta.name}_count`, labels);
    } else {
      out.set(meta.name, labels);
    }
  }
  return out;
}
