/**
 * The kernel's IPVS statistics as metrics, read fresh at scrape time (ipvsadm, cached for a
 * second so bursts of scrapes cost one read). Label names follow node_exporter's `node_ipvs_*`:
 * local_address, local_port, local_mark, proto (TCP, UDP, FWM) and, per realserver,
 * remote_address, remote_port; plus lvsd's own vocabulary: `service`, lvsd's name for a service
 * it manages ("" for the others, which are exported too), and per realserver `realserver`
 * ("ip:port", as on the lvsd_realserver_* series, so the two join). Service and backend totals are separate metrics, so a
 * sum() over one never counts traffic twice.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Endpoint } from '../config/types.js';
import type { IpvsadmCall, IpvsadmCommand } from '../ipvs/ipvsadm-driver.js';
import { endpointKey, type ActualDestination, type IpvsStats, type IpvsTable, type ServiceId, type TrafficCounters } from '../ipvs/types.js';

export interface IpvsSnapshot {
  readonly table: IpvsTable;
  readonly stats: IpvsStats;
}

const SERVICE_LABELS = ['service', 'proto', 'local_address', 'local_port', 'local_mark'] as const;
const BACKEND_LABELS = [...SERVICE_LABELS, 'realserver', 'remote_address', 'remote_port'] as const;
type ServiceLabels = Record<(typeof SERVICE_LABELS)[number], string>;
type BackendLabels = Record<(typeof BACKEND_LABELS)[number], string>;

function serviceLabels(s: ServiceId, name: string | undefined): ServiceLabels {
  return {
    service: name ?? '',
    proto: s.protocol === 'fwmark' ? 'FWM' : s.protocol.toUpperCase(),
    local_address: s.endpoint?.host ?? '',
    local_port: s.endpoint ? String(s.endpoint.port) : '0',
    local_mark: s.protocol === 'fwmark' ? String(s.fwmark ?? 0) : '',
  };
}

function backendLabels(svc: ServiceLabels, e: Endpoint): BackendLabels {
  return { ...svc, realserver: endpointKey(e), remote_address: e.host, remote_port: String(e.port) };
}

/** kernel counter → metric name suffix, and the direction label it needs */
const TRAFFIC: readonly { key: keyof TrafficCounters; name: string; direction?: 'in' | 'out'; unit: string }[] = [
  { key: 'connections', name: 'connections', unit: 'connections' },
  { key: 'packetsIn', name: 'packets', direction: 'in', unit: 'packets' },
  { key: 'packetsOut', name: 'packets', direction: 'out', unit: 'packets' },
  { key: 'bytesIn', name: 'bytes', direction: 'in', unit: 'bytes' },
  { key: 'bytesOut', name: 'bytes', direction: 'out', unit: 'bytes' },
];

/**
 * Register the IPVS metrics. `snapshot()` gives the scrape's kernel view (undefined when the
 * read failed: the series vanish and lvsd_ipvs_stats_up says 0); `serviceName` maps a
 * serviceKey() to lvsd's service name.
 */
export function registerIpvsMetrics(
  registry: Registry,
  snapshot: () => IpvsSnapshot | undefined,
  serviceName: (serviceKey: string) => string | undefined,
): void {
  /** every realserver of the scrape's table, with its labels */
  const forEachDestination = (fn: (labels: BackendLabels, d: ActualDestination) => void): void => {
    const snap = snapshot();
    if (!snap) return;
    for (const [key, entry] of snap.table.services) {
      const svc = serviceLabels(entry.service, serviceName(key));
      for (const d of entry.destinations.values()) fn(backendLabels(svc, d.endpoint), d);
    }
  };
  new Gauge({
    name: 'lvsd_ipvs_stats_up', help: '1 when the last read of the kernel\'s IPVS table and statistics worked, else 0.',
    registers: [registry],
    collect() {
      this.set(snapshot() ? 1 : 0);
    },
  });
  const conns = new Gauge({
    name: 'lvsd_ipvs_connections', help: 'Connections the kernel tracks per realserver, by state (active: established; inactive: others, e.g. TIME_WAIT).',
    labelNames: [...BACKEND_LABELS, 'state'], registers: [registry],
    collect() {
      conns.reset();
      forEachDestination((l, d) => {
        conns.set({ ...l, state: 'active' }, d.activeConns);
        conns.set({ ...l, state: 'inactive' }, d.inactiveConns);
      });
    },
  });
  const weight = new Gauge({
    name: 'lvsd_ipvs_backend_weight', help: 'Weight of the realserver in the kernel\'s table (what IPVS schedules by).',
    labelNames: BACKEND_LABELS, registers: [registry],
    collect() {
      weight.reset();
      forEachDestination((l, d) => weight.set(l, d.weight));
    },
  });

  for (const level of ['service', 'backend'] as const) {
    for (const kind of ['connections', 'packets', 'bytes'] as const) {
      const rows = TRAFFIC.filter((t) => t.name === kind);
      const labelNames = [...(level === 'service' ? SERVICE_LABELS : BACKEND_LABELS), ...(kind === 'connections' ? [] : ['direction'])];
      const forEachRow = (emit: (labels: Record<string, string>, counters: TrafficCounters, rates: TrafficCounters) => void): void => {
        const snap = snapshot();
        if (!snap) return;
        for (const [key, s] of snap.stats.services) {
          const svc = serviceLabels(s.service, serviceName(key));
          if (level === 'service') emit(svc, s.counters, s.rates);
          else for (const d of s.destinations.values()) emit(backendLabels(svc, d.endpoint), d.counters, d.rates);
        }
      };
      const total = new Counter({
        name: `lvsd_ipvs_${level}_${kind}_total`,
        help: `${kind === 'connections' ? 'Connections' : kind === 'packets' ? 'Packets' : 'Bytes'} through each ${level === 'service' ? 'virtual service' : 'realserver'} since the kernel created the entry.`,
        labelNames, registers: [registry],
        collect() {
          total.reset();
          forEachRow((labels, counters) => {
            for (const r of rows) total.inc(r.direction ? { ...labels, direction: r.direction } : labels, counters[r.key]);
          });
        },
      });
      const rate = new Gauge({
        name: `lvsd_ipvs_${level}_${kind === 'connections' ? 'connection' : kind === 'packets' ? 'packet' : 'byte'}_rate`,
        help: `The kernel's estimate of ${rows[0]!.unit} per second through each ${level === 'service' ? 'virtual service' : 'realserver'} (refreshed every 2 s).`,
        labelNames, registers: [registry],
        collect() {
          rate.reset();
          forEachRow((labels, _counters, rates) => {
            for (const r of rows) rate.set(r.direction ? { ...labels, direction: r.direction } : labels, rates[r.key]);
          });
        },
      });
    }
  }
}

const COMMANDS: readonly IpvsadmCommand[] = ['read', 'stats', 'change', 'batch'];
const RESULTS: readonly IpvsadmCall['result'][] = ['ok', 'error', 'timeout'];

/**
 * Every ipvsadm call (the driver's onCall): `lvsd_ipvs_commands_total{command,result}` and
 * `lvsd_ipvs_command_duration_seconds{command}`. `command`: read (-S, -Ln --thresholds), stats
 * (--stats, --rate at scrape time), change (one op), batch (-R); `result`: ok, error (non-zero
 * exit, or stderr from -R), timeout (killed at ipvs.command_timeout). Made before the driver, so
 * the start-up read counts too, and registered once the daemon's registry exists.
 */
export class IpvsCommandMetrics {
  private readonly calls = new Counter({
    name: 'lvsd_ipvs_commands_total',
    help: 'ipvsadm calls by purpose (read, stats, change, batch) and result (ok; error: non-zero exit or stderr; timeout: killed at ipvs.command_timeout).',
    labelNames: ['command', 'result'], registers: [],
  });
  private readonly duration = new Histogram({
    name: 'lvsd_ipvs_command_duration_seconds', help: 'Time of one ipvsadm call, by purpose (read, stats, change, batch).',
    labelNames: ['command'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [],
  });

  constructor() {
    // every series from the start: rate() and increase() see the first error
    for (const command of COMMANDS) for (const result of RESULTS) this.calls.inc({ command, result }, 0);
  }

  observe(call: IpvsadmCall): void {
    this.calls.inc({ command: call.command, result: call.result });
    this.duration.observe({ command: call.command }, call.durationMs / 1000);
  }

  register(registry: Registry): void {
    registry.registerMetric(this.calls);
    registry.registerMetric(this.duration);
  }
}
