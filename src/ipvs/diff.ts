/**
 * The table diff: pure. Given what lvsd wants and what the kernel holds, the ops that turn
 * one into the other — only for services lvsd manages; everything else in the kernel is left
 * alone. Order: services first, then additions and edits, removals last, so a service never
 * passes through an empty moment when one realserver replaces another (sorry server swaps).
 */
import type {
  ActualDestination, Destination, IpvsOp, IpvsTable, VirtualService, WantedDestination, WantedTable,
} from './types.js';

export function planOps(wanted: WantedTable, actual: IpvsTable): IpvsOp[] {
  const serviceOps: IpvsOp[] = [];
  const addOps: IpvsOp[] = [];
  const editOps: IpvsOp[] = [];
  const deleteOps: IpvsOp[] = [];

  for (const [key, want] of wanted.services) {
    const have = actual.services.get(key);
    const service = want.service;
    if (!have) serviceOps.push({ op: 'add-service', service });
    else if (!sameService(service, have.service)) serviceOps.push({ op: 'edit-service', service });

    for (const [dkey, wd] of want.destinations) {
      const hd = have?.destinations.get(dkey);
      if (!hd) {
        if (!wd.keep) addOps.push({ op: 'add-dest', service, dest: strip(wd) });
        continue;
      }
      const target: Destination = wd.keep ? { ...strip(wd), weight: hd.weight } : strip(wd);
      if (!sameDest(target, hd)) editOps.push({ op: 'edit-dest', service, dest: target });
    }
    if (have) {
      for (const [dkey, hd] of have.destinations) {
        if (!want.destinations.has(dkey)) deleteOps.push({ op: 'delete-dest', service, dest: strip(hd) });
      }
    }
  }
  for (const [key, service] of wanted.remove ?? []) {
    if (!wanted.services.has(key) && actual.services.has(key)) deleteOps.push({ op: 'delete-service', service });
  }
  return [...serviceOps, ...addOps, ...editOps, ...deleteOps];
}

function sameService(a: VirtualService, b: VirtualService): boolean {
  return a.scheduler === b.scheduler
    && (a.persistenceSec ?? 0) === (b.persistenceSec ?? 0)
    && (a.persistenceSec ? (a.persistenceNetmask ?? '255.255.255.255') === (b.persistenceNetmask ?? '255.255.255.255') : true);
}

function sameDest(a: Destination, b: Destination): boolean {
  return a.weight === b.weight && a.forward === b.forward
    && a.upperThreshold === b.upperThreshold && a.lowerThreshold === b.lowerThreshold;
}

/** Only the fields an op carries: no `keep` marker, no kernel stats. */
function strip(d: WantedDestination | ActualDestination): Destination {
  return {
    endpoint: d.endpoint, forward: d.forward, weight: d.weight,
    upperThreshold: d.upperThreshold, lowerThreshold: d.lowerThreshold,
  };
}
