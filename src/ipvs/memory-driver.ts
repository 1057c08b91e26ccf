/**
 * The in-memory IPVS driver: a table that enforces the kernel's rules (no duplicate service or
 * destination, no edit of what is missing, known schedulers, weight and threshold ranges,
 * DR/TUN destinations on the service's port) and reports each change as the equivalent
 * ipvsadm command. Real code: `lvsd demo` and ipvs.driver: memory run on it.
 */
import { SCHEDULERS } from '../config/types.js';
import { flatString } from '../core/flat-string.js';
import { opCommand } from './ipvsadm-format.js';
import {
  endpointKey, serviceKey,
  type ActualDestination, type ApplyResult, type Destination, type IpvsDriver, type IpvsOp, type IpvsStats,
  type IpvsTable, type OpFailure, type ServiceEntry, type ServiceStats, type TrafficStats, type VirtualService,
} from './types.js';

const ZERO_TRAFFIC = { connections: 0, packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0 } as const;
const NO_TRAFFIC: TrafficStats = { counters: ZERO_TRAFFIC, rates: ZERO_TRAFFIC };

interface MutableService {
  service: VirtualService;
  destinations: Map<string, ActualDestination>;
  /** a snapshot holds `destinations`: copy it before the next change (copy on write) */
  shared: boolean;
}

export interface MemoryDriverOptions {
  /** called with `ipvsadm ...` for every applied change */
  readonly onChange?: (command: string, op: IpvsOp) => void;
}

export class MemoryIpvsDriver implements IpvsDriver {
  readonly name = 'memory';
  private readonly services = new Map<string, MutableService>();
  private readonly onChange: ((command: string, op: IpvsOp) => void) | undefined;

  constructor(options: MemoryDriverOptions = {}) {
    this.onChange = options.onChange;
  }

  async read(): Promise<IpvsTable> {
    return this.snapshot();
  }

  /**
   * A view callers can never use to change the driver's table, and that later changes do not
   * reach: read-only maps that the driver copies before it next changes them (copy on write),
   * and destination and service objects it freezes and replaces rather than changes. Copying
   * 50,000 destinations on every read was 11 ms of a 35 ms resync pass at that size; now only
   * a pass that changes something pays for a copy.
   */
  snapshot(): IpvsTable {
    const services = new Map<string, ServiceEntry>();
    for (const [k, s] of this.services) {
      s.shared = true;
      services.set(k, { service: s.service, destinations: new ReadOnlyView(s.destinations) });
    }
    return { services };
  }

  /** `s`'s destinations, to change: its own copy if a snapshot holds them */
  private writable(s: MutableService): Map<string, ActualDestination> {
    if (s.shared) {
      s.destinations = new Map(s.destinations);
      s.shared = false;
    }
    return s.destinations;
  }

  /** No traffic flows through an in-memory table: every counter and rate is 0. */
  async stats(): Promise<IpvsStats> {
    const services = new Map<string, ServiceStats>();
    for (const [k, s] of this.services) {
      services.set(k, {
        service: { ...s.service }, ...NO_TRAFFIC,
        destinations: new Map([...s.destinations].map(([dk, d]) => [dk, { endpoint: d.endpoint, ...NO_TRAFFIC }])),
      });
    }
    return { services };
  }

  async apply(ops: readonly IpvsOp[]): Promise<ApplyResult> {
    const failures: OpFailure[] = [];
    for (const op of ops) {
      const message = this.applyOne(op);
      if (message) failures.push({ op, message });
      else this.onChange?.(opCommand(op), op);
    }
    return { failures };
  }

  /** Set a destination's connection counts (what clients would do); false if it does not exist. */
  setConns(service: VirtualService, dest: Pick<Destination, 'endpoint'>, conns: { activeConns?: number; inactiveConns?: number }): boolean {
    const entry = this.services.get(serviceKey(service));
    const d = entry?.destinations.get(endpointKey(dest.endpoint));
    if (!entry || !d) return false;
    this.writable(entry).set(endpointKey(dest.endpoint), Object.freeze({ ...d, ...conns }));
    return true;
  }

  async close(): Promise<void> {}

  /** returns an error message in ipvsadm's words, or undefined on success */
  private applyOne(op: IpvsOp): string | undefined {
    const key = serviceKey(op.service);
    const existing = this.services.get(key);
    switch (op.op) {
      case 'add-service':
      case 'edit-service': {
        if (op.op === 'add-service' && existing) return 'Service already exists';
        if (op.op === 'edit-service' && !existing) return 'No such service';
        const bad = checkService(op.service);
        if (bad) return bad;
        if (existing) existing.service = Object.freeze({ ...op.service });
        else this.services.set(key, { service: Object.freeze({ ...op.service }), destinations: new Map(), shared: false });
        return undefined;
      }
      case 'delete-service':
        if (!existing) return 'No such service';
        this.services.delete(key);
        return undefined;
      case 'add-dest':
      case 'edit-dest': {
        if (!existing) return 'Service not defined';
        // flat where it is stored (core/flat-string.ts), not in endpointKey: that runs per parsed line and per metric row
        const dkey = op.op === 'add-dest' ? flatString(endpointKey(op.dest.endpoint)) : endpointKey(op.dest.endpoint);
        const have = existing.destinations.get(dkey);
        if (op.op === 'add-dest' && have) return 'Destination already exists';
        if (op.op === 'edit-dest' && !have) return 'No such destination';
        const bad = checkDest(existing.service, op.dest);
        if (bad) return bad;
        this.writable(existing).set(dkey, Object.freeze({
          endpoint: op.dest.endpoint, forward: op.dest.forward, weight: op.dest.weight,
          upperThreshold: op.dest.upperThreshold, lowerThreshold: op.dest.lowerThreshold,
          activeConns: have?.activeConns ?? 0, inactiveConns: have?.inactiveConns ?? 0,
        }));
        return undefined;
      }
      case 'delete-dest': {
        if (!existing) return 'Service not defined';
        const dkey = endpointKey(op.dest.endpoint);
        if (!existing.destinations.has(dkey)) return 'No such destination';
        this.writable(existing).delete(dkey);
        return undefined;
      }
    }
  }
}

/**
 * A Map seen through ReadonlyMap's methods only: a caller that casts a snapshot's map back to
 * Map finds no set, delete or clear to change the driver's table with.
 */
class ReadOnlyView<K, V> implements ReadonlyMap<K, V> {
  readonly #map: ReadonlyMap<K, V>;

  constructor(map: ReadonlyMap<K, V>) {
    this.#map = map;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.#map) fn.call(thisArg, v, k, this);
  }

  entries(): MapIterator<[K, V]> {
    return this.#map.entries();
  }

  keys(): MapIterator<K> {
    return this.#map.keys();
  }

  values(): MapIterator<V> {
    return this.#map.values();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.#map.entries();
  }
}

function checkService(s: VirtualService): string | undefined {
  if (!(SCHEDULERS as readonly string[]).includes(s.scheduler)) return 'Scheduler not found';
  if (s.protocol === 'fwmark' ? !(s.fwmark && s.fwmark > 0) : !s.endpoint) return 'Invalid service address';
  if (s.endpoint && (s.endpoint.port < 0 || s.endpoint.port > 65535)) return 'Invalid port';
  return undefined;
}

function checkDest(s: VirtualService, d: Destination): string | undefined {
  if (!Number.isInteger(d.weight) || d.weight < 0 || d.weight > 65535) return 'Weight out of range (0-65535)';
  if (d.upperThreshold < 0 || d.lowerThreshold < 0) return 'Invalid threshold';
  if (d.upperThreshold > 0 && d.lowerThreshold > d.upperThreshold) return 'Lower threshold exceeds upper threshold';
  // ipvsadm forces DR/TUN destinations onto the service port; a different one is a config error
  if (d.forward !== 'masq' && s.endpoint && d.endpoint.port !== s.endpoint.port && d.endpoint.port !== 0) {
    return `Forwarding ${d.forward} needs the service port ${s.endpoint.port}`;
  }
  return undefined;
}
