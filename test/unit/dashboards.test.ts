/**
 * The Grafana dashboards in dashboards/: provisioning-ready JSON whose every query (panels,
 * variables, annotations) names only metrics lvsd exports, with label names those metrics
 * carry. The exported set comes from lvsd's own registry with every family registered (VRRP
 * and IPVS included), not from a list kept by hand.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dashboardQueries } from '../support/dashboards.js';
import { allMetricFamilies } from '../support/metric-families.js';
import { promqlRefs } from '../support/promql.js';
import { ROOT } from '../support/cli.js';

const DIR = path.join(ROOT, 'dashboards');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.json'));

/** every value under a "datasource" key, anywhere in the dashboard */
function datasourceRefs(node: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(node)) for (const n of node) datasourceRefs(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'datasource') out.push(v);
      else datasourceRefs(v, out);
    }
  }
  return out;
}

describe('Grafana dashboards', () => {
  const families = allMetricFamilies();

  it('there are an overview and a realserver drill-down', () => {
    expect(FILES.sort()).toEqual(['lvsd-overview.json', 'lvsd-realserver.json']);
  });

  it('the committed JSON is what dashboards/generate.py writes (edit the generator, then run it)', () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'lvsd-dash-'));
    try {
      const r = spawnSync('python3', [path.join(DIR, 'generate.py'), out], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      for (const f of FILES) expect(readFileSync(path.join(out, f), 'utf8'), f).toBe(readFileSync(path.join(DIR, f), 'utf8'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  for (const file of FILES) {
    describe(file, () => {
      const d = JSON.parse(readFileSync(path.join(DIR, file), 'utf8')) as Record<string, unknown>;

      it('is provisioning-ready: fixed uid, no id, no import inputs, Prometheus chosen by a variable', () => {
        expect(d.id).toBeNull();
        expect(d.uid).toMatch(/^lvsd-[a-z-]+$/);
        expect(d).not.toHaveProperty('__inputs');
        const vars = (d.templating as { list: { name: string; type: string; query: unknown }[] }).list;
        expect(vars[0]).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' });
        // every datasource reference is the variable: no uid of somebody's Grafana
        const refs = datasourceRefs(d);
        expect(refs.length).toBeGreaterThan(10);
        for (const r of refs) expect(r).toEqual({ type: 'prometheus', uid: '${datasource}' });
        const ids = (d.panels as { id: number }[]).map((p) => p.id);
        expect(new Set(ids).size).toBe(ids.length);
      });

      it('every query names metrics lvsd exports, with labels they have', () => {
        const queries = dashboardQueries(d);
        expect(queries.length).toBeGreaterThan(10);
        const problems: string[] = [];
        for (const q of queries) {
          const refs = promqlRefs(q.expr);
          const known = new Set<string>(['instance', 'job', '__name__']);
          if (refs.selectors.length === 0) problems.push(`${q.where}: no metric in ${q.expr}`);
          for (const s of refs.selectors) {
            const fam = families.get(s.metric);
            if (!fam) { problems.push(`${q.where}: ${s.metric || '(nameless selector)'} is not a metric lvsd exports`); continue; }
            for (const l of fam) known.add(l);
            for (const l of s.labels) if (!fam.has(l) && !['instance', 'job'].includes(l)) problems.push(`${q.where}: ${s.metric} has no label ${l}`);
          }
          for (const l of refs.grouping) if (!known.has(l)) problems.push(`${q.where}: grouping by ${l}, which none of its metrics has`);
        }
        expect(problems).toEqual([]);
      });
    });
  }

  it('the overview shows services, UP/DOWN counts, weights, VRRP role, alert deliveries and reloads', () => {
    const d = JSON.parse(readFileSync(path.join(DIR, 'lvsd-overview.json'), 'utf8')) as Record<string, unknown>;
    const metrics = new Set(dashboardQueries(d).flatMap((q) => promqlRefs(q.expr).selectors.map((s) => s.metric)));
    for (const m of ['lvsd_realserver_state', 'lvsd_service_realservers', 'lvsd_realserver_weight', 'lvsd_vrrp_state',
      'lvsd_alerts_sent_total', 'lvsd_config_reloads_total']) expect(metrics).toContain(m);
  });

  it('the realserver drill-down has a latency heatmap, result rates, transitions, connections and traffic', () => {
    const d = JSON.parse(readFileSync(path.join(DIR, 'lvsd-realserver.json'), 'utf8')) as { panels: { type: string; targets?: { expr: string }[] }[] };
    const heat = d.panels.find((p) => p.type === 'heatmap');
    expect(heat?.targets?.[0]?.expr).toContain('lvsd_probe_duration_seconds_bucket');
    const metrics = new Set(dashboardQueries(d as unknown as Record<string, unknown>).flatMap((q) => promqlRefs(q.expr).selectors.map((s) => s.metric)));
    for (const m of ['lvsd_probes_total', 'lvsd_realserver_transitions_total', 'lvsd_ipvs_connections', 'lvsd_ipvs_backend_bytes_total']) expect(metrics).toContain(m);
  });
});

describe('promqlRefs', () => {
  it('finds selectors, their label names and grouping labels; skips functions, strings and durations', () => {
    const r = promqlRefs('histogram_quantile(0.99, sum by (le, service) (rate(lvsd_x_bucket{a="b{c}",d=~"$e"}[$__rate_interval]))) / on (f) group_left lvsd_y > 0');
    expect(r.selectors).toEqual([{ metric: 'lvsd_x_bucket', labels: ['a', 'd'] }, { metric: 'lvsd_y', labels: [] }]);
    expect(r.grouping).toEqual(['le', 'service', 'f']);
  });
});
