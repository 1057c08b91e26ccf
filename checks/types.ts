/**
 * The Probe interface: the only thing checks/ shares with the rest of lvsd.
 * A probe answers one question — is this target healthy right now? — and nothing else:
 * rise/fall, scheduling, retries and weights live in the daemon, never here.
 */
import type { AbortLike } from './cancel.js';

export type CheckType = 'icmp' | 'tcp' | 'http' | 'https' | 'banner' | 'exec';

/** What a check of each type needs beyond the target. Produced by the config loader. */
export type CheckSpec =
  | { readonly type: 'icmp'; readonly count: number }
  | { readonly type: 'tcp' }
  | HttpCheckSpec
  | {
      readonly type: 'banner';
      /** written right after connect, if set (escapes already decoded) */
      readonly send?: string;
      /** regex source the first bytes must match; absent = any bytes at all */
      readonly expect?: string;
    }
  | {
      readonly type: 'exec';
      /** argv; `{address}` and `{port}` substituted by the probe */
      readonly command: readonly string[];
    };

export interface HttpCheckSpec {
  readonly type: 'http' | 'https';
  readonly path: string;
  readonly method: string;
  /** Host header; default is the target address (and port when not the scheme's default) */
  readonly host?: string;
  readonly expectStatus: readonly number[];
  /** regex source the body must match */
  readonly expectBody?: string;
  /** https only: verify the certificate chain and name */
  readonly tlsVerify: boolean;
  /** https only: server name sent in the TLS handshake (default: host, if it is a name) */
  readonly sni?: string;
  /** open a new connection for every check instead of reusing a keep-alive one */
  readonly freshConnection: boolean;
}

export interface ProbeTarget {
  /** IPv4 or IPv6 literal, never a name */
  readonly address: string;
  /** the port to probe (icmp ignores it) */
  readonly port: number;
}

export interface ProbeContext {
  /** aborted when the total deadline passes (or the daemon stops); the probe must settle promptly */
  readonly signal: AbortLike;
  /** the same deadline in ms, for tools that take their own timeout (fping -t, ping -W) */
  readonly timeoutMs: number;
}

/**
 * ok      the target passed
 * fail    the target answered, but wrongly (HTTP 503, wrong banner, exit status 1)
 * timeout the deadline passed first
 * error   no answer could be had: refused, reset, unreachable, command not found
 */
export type ProbeOutcome = 'ok' | 'fail' | 'timeout' | 'error';

export interface ProbeResult {
  readonly ok: boolean;
  readonly outcome: ProbeOutcome;
  /** wall time the probe took, ms */
  readonly durationMs: number;
  /** operator-readable reason: "HTTP 503", "connect ECONNREFUSED", "banner did not match /login:/" */
  readonly detail: string;
}

export interface Probe {
  readonly type: CheckType;
  /** Never rejects: every failure is a ProbeResult with ok false. */
  check(target: ProbeTarget, ctx: ProbeContext): Promise<ProbeResult>;
}

/** Shared resources behind all probes of one daemon (keep-alive pool, the fping batcher). */
export interface ProbeKit {
  /** a probe for this spec; equal specs may share one instance */
  probeFor(spec: CheckSpec): Probe;
  /** aborts in-flight work and releases pools and child processes */
  close(): Promise<void>;
}

export interface ProbeKitOptions {
  /** path of fping; default: found on PATH (/usr/bin/fping, /usr/sbin/fping); null = don't use fping */
  readonly fpingPath?: string | null;
  /** path of the system ping used when fping is absent; default: found on PATH */
  readonly pingPath?: string;
  /** told once about degraded modes, e.g. fping missing */
  readonly warn?: (message: string) => void;
  /**
   * where exec checks start their commands: 'worker' (default) spawns on a worker thread, so
   * spawn()'s wait for the exec (~15-20 ms) never blocks this thread (it falls back to
   * 'thread' if a Worker cannot start); 'thread' spawns on this thread, as before
   */
  readonly execSpawn?: 'worker' | 'thread';
  /**
   * tcp checks and fresh-connection http checks on libuv's TCP handle without a net.Socket
   * (checks/tcp-wrap.ts; default true where Node has the bindings); false = net.Socket always
   */
  readonly bareHandles?: boolean;
}
