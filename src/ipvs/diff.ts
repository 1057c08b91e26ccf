/**
 * The table diff: pure. Given what lvsd wants and what the kernel holds, the ops that turn
 * one into the other — only for services lvsd manages; everything else in the kernel is left
 * alone. Order: services first, then additions and edits, removals last, so a service never
 * passes through an empty moment when one realserver replaces another (sorry server swaps).
 */
import type {
  ActualDestination, Destination, IpvsOp, IpvsTable, ServiceEntry, VirtualService, WantedChanges, WantedDestination, WantedTable,
} from './types.js';

/**
 * With `scope`, only those destinations of those services are compared (the rest is known to
 * match already); a scoped service missing from `actual` is planned whole, and services to
 * remove are left to an unscoped pass.
 */
export function planOps(wanted: WantedTable, actual: IpvsTable, scope?: WantedChanges): IpvsOp[] {
  const ops: Ops = { service: [], add: [], edit: [], delete: [] };
  if (scope) {
    for (const [key, keys] of scope) {
      const want = wanted.services.get(key);
      if (!want) continue;
      const have = actual.services.get(key);
      if (have) planService(want, have, keys, ops);
      else planService(want, undefined, undefined, ops);
    }
    return [...ops.service, ...ops.add, ...ops.edit, ...ops.delete];
  }
  for (const [key, want] of wanted.services) planService(want, actual.services.get(key), undefined, ops);
  for (const [key, service] of wanted.remove ?? []) {
    if (!wanted.services.has(key) && actual.services.has(key)) ops.delete.push({ op: 'delete-service', service });
  }
  return [...ops.service, ...ops.add, ...ops.edit, ...ops.delete];
}

interface Ops {
  readonly service: IpvsOp[];
  readonly add: IpvsOp[];
  readonly edit: IpvsOp[];
  readonly delete: IpvsOp[];
}

/** one service: every destination on either side, or only `keys` */
function planService(
  want: ServiceEntry<WantedDestination>, have: ServiceEntry | undefined, keys: ReadonlySet<string> | undefined, ops: Ops,
): void {
  const service = want.service;
  if (!have) ops.service.push({ op: 'add-service', service });
  else if (!sameService(service, have.service)) ops.service.push({ op: 'edit-service', service });
  const one = (dkey: string, wd: WantedDestination | undefined): void => {
    const hd = have?.destinations.get(dkey);
    if (!wd) {
      if (hd) ops.delete.push({ op: 'delete-dest', service, dest: strip(hd) });
      return;
    }
    if (!hd) {
      if (!wd.keep) ops.add.push({ op: 'add-dest', service, dest: strip(wd) });
      return;
    }
    // compared before anything is allocated: a full pass over 50,000 matching destinations makes no garbage
    const weight = wd.keep ? hd.weight : wd.weight;
    if (weight === hd.weight && wd.forward === hd.forward && wd.upperThreshold === hd.upperThreshold && wd.lowerThreshold === hd.lowerThreshold) return;
    ops.edit.push({ op: 'edit-dest', service, dest: { ...strip(wd), weight } });
  };
  if (keys) {
    for (const dkey of keys) one(dkey, want.destinations.get(dkey));
    return;
  }
  for (const [dkey, wd] of want.destinations) one(dkey, wd);
  if (have) {
    for (const [dkey, hd] of have.destinations) {
      if (!want.destinations.has(dkey)) ops.delete.push({ op: 'delete-dest', service, dest: strip(hd) });
    }
  }
}

function sameService(a: VirtualService, b: VirtualService): boolean {
  return a.scheduler === b.scheduler
    && (a.persistenceSec ?? 0) === (b.persistenceSec ?? 0)
    && (a.persistenceSec ? (a.persistenceNetmask ?? '255.255.255.255') === (b.persistenceNetmask ?? '255.255.255.255') : true);
}

/** Only the fields an op carries: no `keep` marker, no kernel stats. */
function strip(d: WantedDestination | ActualDestination): Destination {
  return {
    endpoint: d.endpoint, forward: d.forward, weight: d.weight,
    upperThreshold: d.upperThreshold, lowerThreshold: d.lowerThreshold,
  };
}
