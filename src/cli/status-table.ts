/** `lvsd status` as a table a person reads. */
import type { StatusSnapshot } from '../daemon/status.js';

export function formatStatusTable(s: StatusSnapshot): string {
  const lines: string[] = [];
  const lr = s.ipvs.last_reconcile;
  lines.push(`node ${s.node}  lvsd ${s.version}  ipvs ${s.ipvs.driver}${lr ? (lr.converged ? ', in sync' : `, NOT in sync: ${lr.error ?? 'retrying'}`) : ''}`);
  if (s.vrrp) {
    const v = s.vrrp;
    const prio = v.priority === v.configured_priority ? String(v.priority) : `${v.priority} (configured ${v.configured_priority})`;
    lines.push(`vrrp ${v.state}  vrid ${v.vrid}  priority ${prio}  ${v.interface} ${v.address ?? '?'}  VIPs ${v.virtual_addresses.join(' ')}`);
  }
  const rows: string[][] = [['SERVICE', 'REALSERVER', 'STATE', 'WEIGHT', 'CHECK', 'LAST', 'LATENCY', 'SINCE', 'DETAIL']];
  for (const svc of s.services) {
    if (svc.realservers.length === 0) rows.push([svc.name, '-', '-', '-', '-', '-', '-', '-', 'no realservers']);
    for (const rs of svc.realservers) {
      rows.push([
        svc.name,
        rs.id,
        rs.state,
        rs.weight === null ? '-' : rs.weight === rs.configured_weight ? String(rs.weight) : `${rs.weight}/${rs.configured_weight}`,
        `${rs.check.type}:${rs.check.port}`,
        rs.last ? rs.last.outcome : '-',
        rs.last ? `${rs.last.latency_ms.toFixed(1)}ms` : '-',
        since(rs.since, s.now),
        rs.last && !rs.last.ok ? rs.last.detail : '',
      ]);
    }
    if (svc.sorry_active) rows.push([svc.name, svc.sorry_server ?? '-', 'SORRY', '1', '-', '-', '-', '-', 'sorry server: no realserver is up']);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) lines.push(r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd());
  return lines.join('\n');
}

function since(iso: string, now: string): string {
  const s = Math.max(0, Math.round((Date.parse(now) - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}
