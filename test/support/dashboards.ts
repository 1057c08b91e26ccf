/** The PromQL of a Grafana dashboard: panels, variables and annotations. */

export interface Query { readonly where: string; readonly expr: string }

/** every PromQL expression of a dashboard, with where it is */
export function dashboardQueries(d: Record<string, unknown>): Query[] {
  const out: Query[] = [];
  const panels = (d.panels as Record<string, unknown>[]).flatMap((p) => [p, ...((p.panels as Record<string, unknown>[] | undefined) ?? [])]);
  for (const p of panels) {
    for (const t of (p.targets as { expr?: string }[] | undefined) ?? []) if (t.expr) out.push({ where: `panel "${String(p.title)}"`, expr: t.expr });
  }
  for (const v of (d.templating as { list: { name: string; type: string; query?: { query?: string } | string }[] }).list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query ?? '';
    // label_values(selector, label): the selector is PromQL, the label must exist on it
    const m = /^label_values\((.*),\s*([a-zA-Z_]\w*)\)$/.exec(q.trim());
    if (!m) throw new Error(`variable ${v.name}: not label_values(selector, label): ${q}`);
    out.push({ where: `variable $${v.name}`, expr: `group by (${m[2]}) (${m[1]})` });
  }
  for (const a of (d.annotations as { list: { name: string; expr?: string }[] }).list) if (a.expr) out.push({ where: `annotation "${a.name}"`, expr: a.expr });
  return out;
}

