/**
 * The probe kit: the one place that knows every check type. It owns what probes share —
 * the HTTP connections, the fping batcher, the exec process groups — and hands out one
 * probe instance per distinct spec.
 */
import { createBannerProbe } from './banner.js';
import { createExecProbe, inThreadSpawner, ProcessGroups } from './exec.js';
import { HttpConnections } from './http-connections.js';
import { handleFreshExchange } from './http-handle.js';
import { createHttpProbe } from './http.js';
import { createIcmpProbe, IcmpPinger } from './icmp.js';
import { AttemptRegistry } from './result.js';
import { WorkerSpawner } from './spawn-worker.js';
import { handleConnectClose, socketConnectClose } from './tcp-connect-close.js';
import { loadStreamWrap } from './tcp-wrap.js';
import { createTcpProbe } from './tcp.js';
import type { CheckSpec, Probe, ProbeKit, ProbeKitOptions } from './types.js';

export type * from './types.js';

export function createProbeKit(options: ProbeKitOptions = {}): ProbeKit {
  const stop = new AttemptRegistry();
  const connections = new HttpConnections();
  const groups = new ProcessGroups();
  const spawner = options.execSpawn === 'thread' ? inThreadSpawner : new WorkerSpawner();
  const pinger = new IcmpPinger(options);
  // bare libuv handles for tcp checks and fresh plain-HTTP ones, where Node has the bindings
  const wrap = options.bareHandles === false ? undefined : loadStreamWrap();
  const connectClose = wrap ? handleConnectClose(wrap.tcp) : socketConnectClose;
  const freshHttp = wrap ? handleFreshExchange(wrap) : undefined;
  const probes = new Map<string, Probe>();

  const build = (spec: CheckSpec): Probe => {
    switch (spec.type) {
      case 'icmp':
        return createIcmpProbe(spec.count, pinger, stop);
      case 'tcp':
        return createTcpProbe(stop, connectClose);
      case 'http':
      case 'https':
        return createHttpProbe(spec, connections, stop, freshHttp);
      case 'banner':
        return createBannerProbe(spec, stop);
      case 'exec':
        return createExecProbe(spec.command, groups, stop, spawner);
      default:
        // unreachable for a validated config; a programming error, so it may throw
        throw new Error(`unknown check type ${(spec as { type?: unknown }).type as string}`);
    }
  };

  return {
    probeFor(spec: CheckSpec): Probe {
      const key = specKey(spec);
      let probe = probes.get(key);
      if (!probe) {
        probe = build(spec);
        probes.set(key, probe);
      }
      return probe;
    },
    async close(): Promise<void> {
      stop.close(new Error('probe kit closed'));
      pinger.close();
      groups.killAll();
      probes.clear();
      connections.close();
      // after the kills: the worker ends once the commands it ran are reported
      await spawner.close();
    },
  };
}

/** Equal specs (whatever their key order) get equal keys. */
export function specKey(spec: CheckSpec): string {
  return stableJson(spec);
}

/** JSON with object keys sorted (undefined members dropped): equal values, equal text. */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}
