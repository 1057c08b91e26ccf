/**
 * The resolved configuration: what the loader produces after validation and inheritance
 * (defaults → service check → realserver check). Durations are milliseconds; addresses are
 * literals. Pure data: nothing here imports the daemon.
 */
import type { CheckSpec } from '../../checks/types.js';

export type Forward = 'masq' | 'route' | 'tunnel';
export type OnDown = 'quiescent' | 'remove';
export type InitialState = 'unknown' | 'up' | 'down';
export type ServiceProtocol = 'tcp' | 'udp' | 'fwmark';

export const SCHEDULERS = [
  'rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos',
] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

/** An IP literal and a port. `host` is the bare literal (no brackets for IPv6). */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** Timing and hysteresis of one check, after inheritance. */
export interface CheckTiming {
  readonly intervalMs: number;
  /** cron expression with a seconds field; when set it replaces `intervalMs` scheduling */
  readonly schedule?: string;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
  /** re-check interval while a realserver is between states (HAProxy fastinter); default = interval */
  readonly fastIntervalMs: number;
  /** re-check interval while DOWN (HAProxy downinter); default = interval */
  readonly downIntervalMs: number;
}

/** A check bound to what it probes: the spec plus timing plus the port actually probed. */
export type ResolvedCheck = CheckSpec & CheckTiming & { readonly port: number };

export interface RealserverConfig {
  readonly endpoint: Endpoint;
  /** "ip:port" (IPv6 as "[ip]:port"): the identity used in labels, API paths and state */
  readonly id: string;
  readonly weight: number;
  readonly forward: Forward;
  readonly upperThreshold?: number;
  readonly lowerThreshold?: number;
  readonly onDown: OnDown;
  readonly initialState: InitialState;
  readonly check: ResolvedCheck;
}

export interface ServiceConfig {
  readonly name: string;
  readonly protocol: ServiceProtocol;
  /** set for tcp/udp */
  readonly endpoint?: Endpoint;
  /** set for fwmark */
  readonly fwmark?: number;
  readonly scheduler: Scheduler;
  readonly persistenceMs?: number;
  readonly persistenceNetmask?: string;
  readonly forward: Forward;
  readonly sorryServer?: Endpoint;
  readonly slowStartMs: number;
  readonly realservers: readonly RealserverConfig[];
}

export interface ApiConfig {
  /** host:port for the HTTP API, or null to disable TCP */
  readonly listen: Endpoint | null;
  /** Unix socket path, or null to disable */
  readonly socket: string | null;
  readonly tokenFile?: string;
}

export interface IpvsConfig {
  readonly driver: 'ipvsadm' | 'memory';
  readonly resyncIntervalMs: number;
  /** how long a realserver that left the config drains at weight 0 before removal (0 = at once) */
  readonly drainBeforeRemoveMs: number;
  /** delete the configured services from the kernel on stop */
  readonly cleanupOnExit: boolean;
  /** per ipvsadm call */
  readonly commandTimeoutMs: number;
}

export interface FailoverConfig {
  readonly interface: string;
  readonly vrid: number;
  readonly priority: number;
  readonly advertIntervalMs: number;
  readonly version: 2 | 3;
  readonly preempt: boolean;
  readonly preemptDelayMs: number;
  /** empty: multicast 224.0.0.18 */
  readonly unicastPeers: readonly string[];
  /** "a.b.c.d/len" */
  readonly virtualAddresses: readonly string[];
  readonly garpRepeatDelayMs: number;
  readonly track: readonly TrackConfig[];
  readonly notify: NotifyConfig;
  readonly syncDaemon?: { readonly interface: string; readonly syncId: number };
}

export type TrackConfig =
  | { readonly kind: 'service'; readonly service: string; readonly weight: number }
  | { readonly kind: 'interface'; readonly interface: string; readonly weight: number }
  | { readonly kind: 'exec'; readonly command: readonly string[]; readonly intervalMs: number; readonly timeoutMs: number; readonly weight: number };

export interface NotifyConfig {
  readonly master?: readonly string[];
  readonly backup?: readonly string[];
  readonly fault?: readonly string[];
  readonly stop?: readonly string[];
  readonly all?: readonly string[];
  readonly timeoutMs: number;
}

// ---------------------------------------------------------------------------------------------
// Alerts and scheduled operations

export const ALERT_EVENT_TYPES = [
  'realserver_down', 'realserver_up', 'service_down', 'service_up', 'failover', 'config_reload_failed',
  'drain_started', 'drain_finished',
] as const;
export type AlertEventType = (typeof ALERT_EVENT_TYPES)[number];

export type WebhookFormat = 'generic' | 'alertmanager' | 'slack';

export type AlertTarget =
  | {
      readonly kind: 'webhook'; readonly url: string; readonly format: WebhookFormat;
      /** file holding the HMAC-SHA256 key of the generic format's signature header (read at start) */
      readonly secretFile?: string;
    }
  | { readonly kind: 'exec'; readonly command: readonly string[] };

export interface AlertConfig {
  /** unique; the metrics' `target` label and the queue's file name */
  readonly name: string;
  readonly target: AlertTarget;
  /** which events this entry sends */
  readonly on: ReadonlySet<AlertEventType>;
  /** only these services / realservers ("ip:port"); undefined = all */
  readonly services?: ReadonlySet<string>;
  readonly realservers?: ReadonlySet<string>;
  /** mon's alertafter: a down alert after this many consecutive failures (>= 1) */
  readonly after: number;
  /** mon's alertevery: repeat a down alert this often while still down; 0 = once */
  readonly everyMs: number;
  /** mon's period: a cron expression (5 or 6 fields) during whose minutes alerts go out */
  readonly period?: string;
  /** outside the period: hold alerts until it opens ('wait') or drop them ('drop') */
  readonly outsidePeriod: 'wait' | 'drop';
  /** most alerts queued for this target; past it the oldest are dropped (and counted) */
  readonly queueMax: number;
  /** one delivery attempt's deadline */
  readonly timeoutMs: number;
  /** retry backoff: first delay and cap (exponential, with jitter) */
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
}

export interface ScheduleConfig {
  /** cron expression (5 or 6 fields) */
  readonly cron: string;
  readonly drain: { readonly service: string; readonly realserver: string; readonly forMs: number };
}

export interface Config {
  /** the file it came from (for messages) */
  readonly file: string;
  readonly node: { readonly name: string };
  readonly api: ApiConfig;
  readonly ipvs: IpvsConfig;
  readonly stateDir: string;
  /** global cap on probes in flight at once */
  readonly maxConcurrentProbes: number;
  readonly services: readonly ServiceConfig[];
  readonly failover?: FailoverConfig;
  readonly alerts: readonly AlertConfig[];
  readonly schedules: readonly ScheduleConfig[];
}
