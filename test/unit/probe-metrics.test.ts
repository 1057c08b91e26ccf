import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ProbeOutcome } from '../../checks/types.js';
import { PROBE_DURATION_BUCKETS, ProbeMetrics } from '../../src/metrics/probe-metrics.js';

describe('ProbeMetrics', () => {
  it('writes exactly what prom-client\'s Counter and Histogram write for the same probes', async () => {
    const ours = new Registry();
    const probes = new ProbeMetrics();
    probes.register(ours);
    const theirs = new Registry();
    const counter = new Counter({ name: 'lvsd_probes_total', help: 'Health probes completed, by result (ok, fail, timeout, error).', labelNames: ['service', 'realserver', 'check', 'result'], registers: [theirs] });
    const histogram = new Histogram({ name: 'lvsd_probe_duration_seconds', help: 'Time a health probe took, from start to verdict.', labelNames: ['service', 'realserver', 'check'], buckets: [...PROBE_DURATION_BUCKETS], registers: [theirs] });
    const runs: [string, string, ProbeOutcome, number][] = [
      ['web', '198.51.100.2:80', 'ok', 0.0004], ['web', '198.51.100.2:80', 'ok', 0.001], ['web', '198.51.100.2:80', 'timeout', 3],
      ['web', '198.51.100.3:80', 'error', 0.02], ['dns', '198.51.100.2:53', 'fail', 12], ['web', '198.51.100.2:80', 'ok', 0.25],
    ];
    for (const [service, realserver, result, seconds] of runs) {
      const check = service === 'dns' ? 'icmp' : 'http';
      probes.tally(service, realserver, check).observe(result, seconds);
      counter.inc({ service, realserver, check, result });
      histogram.observe({ service, realserver, check }, seconds);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // a realserver that left the config leaves the output
    probes.forget('web', '198.51.100.3:80', 'http');
    counter.remove({ service: 'web', realserver: '198.51.100.3:80', check: 'http', result: 'error' });
    histogram.remove({ service: 'web', realserver: '198.51.100.3:80', check: 'http' });
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).not.toContain('198.51.100.3');
  });

  it('hands out one tally per label set', () => {
    const probes = new ProbeMetrics();
    expect(probes.tally('web', 'a', 'http')).toBe(probes.tally('web', 'a', 'http'));
    expect(probes.tally('web', 'a', 'http')).not.toBe(probes.tally('web', 'a', 'tcp'));
  });
});
