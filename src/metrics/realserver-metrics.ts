/**
 * Gauges that mirror the daemon's view of realservers and services, filled at scrape time from
 * rows the daemon builds once per scrape: a realserver that leaves the config leaves the output
 * with it. Labels: `service`, `realserver` ("ip:port"), `check` (the check type).
 */
import { Gauge, type Registry } from 'prom-client';
import type { Health } from '../state/realserver.js';
import { registerCustomMetric, type MetricValue } from './custom-metric.js';

/** `from` and `to` of lvsd_realserver_transitions_total; a realserver's counts are indexed from * 3 + to */
const TRANSITION_HEALTHS = ['unknown', 'up', 'down'] as const satisfies readonly Health[];

/** count one transition of a realserver (its counts array, made on the first) */
export function countTransition(counts: number[] | undefined, from: Health, to: Health): number[] {
  const c = counts ?? new Array<number>(TRANSITION_HEALTHS.length ** 2).fill(0);
  c[TRANSITION_HEALTHS.indexOf(from) * TRANSITION_HEALTHS.length + TRANSITION_HEALTHS.indexOf(to)]! += 1;
  return c;
}

/** The operator's state: health, or the admin override that trumps it (lower case). */
export const REALSERVER_STATES = ['up', 'down', 'unknown', 'draining', 'maint'] as const;
export type RealserverMetricState = (typeof REALSERVER_STATES)[number];

export interface RealserverGaugeRow {
  readonly service: string;
  readonly realserver: string;
  readonly check: string;
  /** healthy by its checks (a drained realserver can be up) */
  readonly up: boolean;
  readonly state: RealserverMetricState;
  /** ms since the epoch of the last health change */
  readonly since: number;
  /** weight in the table at the last read (undefined = not in the table) */
  readonly weight: number | undefined;
  /** weight lvsd wants (undefined = not in the table; 'keep' = no verdict yet, the kernel's stands) */
  readonly wantedWeight: number | undefined | 'keep';
  readonly configuredWeight: number;
  /** the operator's weight in place of the configured one */
  readonly weightOverride: number | undefined;
  readonly consecutiveOk: number;
  readonly consecutiveFail: number;
  readonly last: undefined | { readonly ok: boolean; readonly at: number; readonly durationMs: number };
  /** health transitions so far (countTransition), undefined before the first */
  readonly transitionCounts: readonly number[] | undefined;
}

export interface ServiceGaugeRow {
  readonly service: string;
  readonly sorryActive: boolean;
}

const RS_LABELS = ['service', 'realserver', 'check'] as const;

export function registerRealserverMetrics(
  registry: Registry,
  rows: () => Iterable<RealserverGaugeRow>,
  services: () => Iterable<ServiceGaugeRow>,
): void {
  /** one gauge per realserver field; rows without a value for it have no series */
  const perRealserver = (name: string, help: string, value: (r: RealserverGaugeRow) => number | undefined): void => {
    const g: Gauge<(typeof RS_LABELS)[number]> = new Gauge({
      name, help, labelNames: RS_LABELS, registers: [registry],
      collect() {
        g.reset();
        for (const r of rows()) {
          const v = value(r);
          if (v !== undefined) g.set(labels(r), v);
        }
      },
    });
  };
  perRealserver('lvsd_realserver_up', '1 when the realserver is UP by its checks, else 0.', (r) => (r.up ? 1 : 0));
  perRealserver('lvsd_realserver_weight', 'Weight of the realserver in the IPVS table at the last read (-1 = not in the table).', (r) => r.weight ?? -1);
  perRealserver('lvsd_realserver_wanted_weight', 'Weight lvsd wants for the realserver now (-1 = out of the table; no series before the first verdict).',
    (r) => (r.wantedWeight === 'keep' ? undefined : r.wantedWeight ?? -1));
  perRealserver('lvsd_realserver_configured_weight', 'Weight of the realserver in the config.', (r) => r.configuredWeight);
  perRealserver('lvsd_realserver_weight_override', 'Weight the operator set in place of the configured one (only while set).', (r) => r.weightOverride);
  perRealserver('lvsd_realserver_state_since_timestamp_seconds', 'When the realserver\'s health last changed (or lvsd started), seconds since the epoch.', (r) => r.since / 1000);
  perRealserver('lvsd_realserver_consecutive_failures', 'Failed probes in a row (0 after a success).', (r) => r.consecutiveFail);
  perRealserver('lvsd_realserver_consecutive_successes', 'Successful probes in a row (0 after a failure).', (r) => r.consecutiveOk);
  perRealserver('lvsd_realserver_last_probe_timestamp_seconds', 'When the last probe of the realserver finished, seconds since the epoch.', (r) => (r.last ? r.last.at / 1000 : undefined));
  perRealserver('lvsd_realserver_last_probe_success', '1 when the last probe succeeded, else 0.', (r) => (r.last ? (r.last.ok ? 1 : 0) : undefined));
  perRealserver('lvsd_realserver_last_probe_duration_seconds', 'How long the last probe took.', (r) => (r.last ? r.last.durationMs / 1000 : undefined));

  // a counter kept on the realserver's record, so it leaves the output with the realserver
  registerCustomMetric(registry, {
    name: 'lvsd_realserver_transitions_total', help: 'Realserver health transitions.', type: 'counter',
    labelNames: ['service', 'realserver', 'from', 'to'],
    values: () => {
      const out: MetricValue[] = [];
      const n = TRANSITION_HEALTHS.length;
      for (const r of rows()) {
        const c = r.transitionCounts;
        if (!c) continue;
        for (let i = 0; i < c.length; i++) {
          if (c[i]! > 0) out.push({ labels: { service: r.service, realserver: r.realserver, from: TRANSITION_HEALTHS[Math.floor(i / n)]!, to: TRANSITION_HEALTHS[i % n]! }, value: c[i]! });
        }
      }
      return out;
    },
    reset: () => { for (const r of rows()) (r.transitionCounts as number[] | undefined)?.fill(0); },
  });

  const state = new Gauge({
    name: 'lvsd_realserver_state', help: '1 for the realserver\'s current state (up, down, unknown, draining, maint), 0 for the others.',
    labelNames: [...RS_LABELS, 'state'], registers: [registry],
    collect() {
      state.reset();
      for (const r of rows()) for (const s of REALSERVER_STATES) state.set({ ...labels(r), state: s }, s === r.state ? 1 : 0);
    },
  });
  const counts = new Gauge({
    name: 'lvsd_service_realservers', help: 'Realservers of the service in each state.',
    labelNames: ['service', 'state'], registers: [registry],
    collect() {
      counts.reset();
      for (const s of services()) for (const st of REALSERVER_STATES) counts.set({ service: s.service, state: st }, 0);
      for (const r of rows()) counts.inc({ service: r.service, state: r.state });
    },
  });
  const sorry = new Gauge({
    name: 'lvsd_service_sorry_active', help: '1 while the service\'s sorry server is in the table (no realserver UP), else 0.',
    labelNames: ['service'], registers: [registry],
    collect() {
      sorry.reset();
      for (const s of services()) sorry.set({ service: s.service }, s.sorryActive ? 1 : 0);
    },
  });
}

function labels(r: RealserverGaugeRow): { service: string; realserver: string; check: string } {
  return { service: r.service, realserver: r.realserver, check: r.check };
}
