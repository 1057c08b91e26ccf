/**
 * The IPVS table as lvsd models it, the operations that change it, and the driver seam.
 * Shaped after what `ipvsadm` can express, so the ipvsadm driver is a faithful translation
 * and the memory driver can enforce the kernel's rules.
 */
import type { Endpoint, Forward, Scheduler } from '../config/types.js';

export type IpvsProtocol = 'tcp' | 'udp' | 'fwmark';

export interface VirtualService {
  readonly protocol: IpvsProtocol;
  /** tcp/udp */
  readonly endpoint?: Endpoint;
  /** fwmark */
  readonly fwmark?: number;
  /** fwmark only: an IPv6 service (ipvsadm -6); tcp/udp take the family from the address */
  readonly ipv6?: boolean;
  readonly scheduler: Scheduler | string;
  /** persistence timeout in whole seconds; absent = not persistent */
  readonly persistenceSec?: number;
  readonly persistenceNetmask?: string;
}

export interface Destination {
  readonly endpoint: Endpoint;
  readonly forward: Forward;
  readonly weight: number;
  /** 0 = no limit, as in the kernel */
  readonly upperThreshold: number;
  readonly lowerThreshold: number;
}

/** A destination as the kernel holds it: with its current connection counts. */
export interface ActualDestination extends Destination {
  readonly activeConns: number;
  readonly inactiveConns: number;
}

export interface ServiceEntry<D extends Destination = ActualDestination> {
  readonly service: VirtualService;
  /** keyed by endpointKey(dest.endpoint) */
  readonly destinations: ReadonlyMap<string, D>;
}

/** What the kernel holds. Keyed by serviceKey(). */
export interface IpvsTable {
  readonly services: ReadonlyMap<string, ServiceEntry>;
}

/** A wanted destination; `keep` = no verdict yet: leave the kernel's weight, add nothing. */
export type WantedDestination = Destination & { readonly keep?: boolean };

/** What lvsd wants for the services it manages. Services not in here are never touched. */
export interface WantedTable {
  readonly services: ReadonlyMap<string, ServiceEntry<WantedDestination>>;
  /** services lvsd managed and no longer wants (a reload removed them): deleted when present */
  readonly remove?: ReadonlyMap<string, VirtualService>;
  /**
   * The destinations (per service key) whose entry may differ from the wanted table of the
   * previous call; absent: anything may have changed. Lets a reconcile pass diff only these.
   */
  readonly changed?: WantedChanges;
}

/** destination keys per service key */
export type WantedChanges = ReadonlyMap<string, ReadonlySet<string>>;

export type IpvsOp =
  | { readonly op: 'add-service'; readonly service: VirtualService }
  | { readonly op: 'edit-service'; readonly service: VirtualService }
  | { readonly op: 'delete-service'; readonly service: VirtualService }
  | { readonly op: 'add-dest'; readonly service: VirtualService; readonly dest: Destination }
  | { readonly op: 'edit-dest'; readonly service: VirtualService; readonly dest: Destination }
  | { readonly op: 'delete-dest'; readonly service: VirtualService; readonly dest: Destination };

export interface OpFailure {
  readonly op: IpvsOp;
  readonly message: string;
}

export interface ApplyResult {
  /** ops the driver knows failed; a driver that cannot tell reports none and the reconciler verifies */
  readonly failures: readonly OpFailure[];
  /** error messages it could not tie to an op (ipvsadm -R's stderr) */
  readonly errors?: readonly string[];
}

/** Totals since the entry was created (ipvsadm -Ln --stats). */
export interface TrafficCounters {
  readonly connections: number;
  readonly packetsIn: number;
  readonly packetsOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** The kernel's rate estimates, per second, refreshed every 2 s (ipvsadm -Ln --rate). */
export interface TrafficRates {
  readonly connections: number;
  readonly packetsIn: number;
  readonly packetsOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface TrafficStats {
  readonly counters: TrafficCounters;
  readonly rates: TrafficRates;
}

/** What identifies a virtual service (serviceKey() of it is the table's key). */
export type ServiceId = Pick<VirtualService, 'protocol' | 'endpoint' | 'fwmark' | 'ipv6'>;

export interface DestinationStats extends TrafficStats {
  readonly endpoint: Endpoint;
}

export interface ServiceStats extends TrafficStats {
  readonly service: ServiceId;
  /** keyed by endpointKey() */
  readonly destinations: ReadonlyMap<string, DestinationStats>;
}

/** Traffic statistics of every service in the kernel, keyed by serviceKey(). */
export interface IpvsStats {
  readonly services: ReadonlyMap<string, ServiceStats>;
}

export interface IpvsDriver {
  readonly name: string;
  /** the kernel's current table */
  read(signal?: AbortSignal): Promise<IpvsTable>;
  /** traffic counters and rates (costs more than read(): called for metrics, not per pass) */
  stats(signal?: AbortSignal): Promise<IpvsStats>;
  /** apply ops in order; never throws for a failing op (see ApplyResult), only when the driver itself is unusable */
  apply(ops: readonly IpvsOp[], signal?: AbortSignal): Promise<ApplyResult>;
  close(): Promise<void>;
}

export function endpointKey(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** "tcp 192.0.2.10:80", "udp [2001:db8::1]:53", "fwmark 7", "fwmark 7 ipv6" */
export function serviceKey(s: ServiceId): string {
  if (s.protocol === 'fwmark') return `fwmark ${s.fwmark ?? 0}${s.ipv6 ? ' ipv6' : ''}`;
  return `${s.protocol} ${s.endpoint ? endpointKey(s.endpoint) : '?'}`;
}
