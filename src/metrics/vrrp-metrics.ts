/** VRRP metrics on lvsd's registry; returns the observer the instance reports to. */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { VrrpState } from '../vrrp/election.js';
import type { VrrpObserver } from '../vrrp/instance.js';

const STATES: readonly VrrpState[] = ['init', 'backup', 'master', 'fault'];

export function registerVrrpMetrics(registry: Registry, vrid: number, current: () => { state: VrrpState; priority: number }): VrrpObserver {
  const labels = { vrid: String(vrid) };
  const state = new Gauge({
    name: 'lvsd_vrrp_state', help: 'VRRP state of this director: 1 for the current state (init, backup, master, fault), 0 for the others.',
    labelNames: ['vrid', 'state'], registers: [registry],
    collect() {
      const now = current().state;
      for (const s of STATES) state.set({ ...labels, state: s }, s === now ? 1 : 0);
    },
  });
  const priority = new Gauge({
    name: 'lvsd_vrrp_priority', help: 'The priority this director advertises (configured, lowered by tracking).',
    labelNames: ['vrid'], registers: [registry],
    collect() {
      priority.set(labels, current().priority);
    },
  });
  const transitions = new Counter({
    name: 'lvsd_vrrp_transitions_total', help: 'VRRP state changes.', labelNames: ['vrid', 'from', 'to'], registers: [registry],
  });
  const sent = new Counter({ name: 'lvsd_vrrp_adverts_sent_total', help: 'VRRP adverts sent.', labelNames: ['vrid'], registers: [registry] });
  const received = new Counter({ name: 'lvsd_vrrp_adverts_received_total', help: 'Valid VRRP adverts received.', labelNames: ['vrid'], registers: [registry] });
  const rejected = new Counter({
    name: 'lvsd_vrrp_adverts_rejected_total', help: 'VRRP packets dropped, by reason (TTL, checksum, length, version, addresses...).',
    labelNames: ['vrid', 'reason'], registers: [registry],
  });
  const dual = new Counter({
    name: 'lvsd_vrrp_dual_master_seen_total', help: 'Adverts from another master while this director was master (split brain).',
    labelNames: ['vrid'], registers: [registry],
  });
  sent.inc(labels, 0);
  received.inc(labels, 0);
  dual.inc(labels, 0);
  return {
    transition: (from, to) => transitions.inc({ ...labels, from, to }),
    sent: () => sent.inc(labels),
    received: () => received.inc(labels),
    rejected: (reason) => rejected.inc({ ...labels, reason }),
    dualMaster: () => dual.inc(labels),
  };
}
