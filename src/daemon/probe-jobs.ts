/**
 * Probe deduplication: realservers that share an address, a port and an identical check (the
 * same backend behind several VIPs) share one probe job; its result feeds every one of them.
 */
import type { CheckSpec } from '../../checks/types.js';
import type { ResolvedCheck } from '../config/types.js';

/** A stable identity for (target, check): equal checks written in any key order get one key. */
export function probeJobKey(address: string, check: ResolvedCheck): string {
  // rise and fall are per realserver (each applies its own to the shared results): not part of the job
  const { rise: _r, fall: _f, ...job } = check;
  return `${check.type} ${address.includes(':') ? `[${address}]` : address}:${check.port} ${stableJson(job)}`;
}

/** The probe part of a resolved check (what ProbeKit.probeFor takes): timing fields dropped. */
export function checkSpecOf(check: ResolvedCheck): CheckSpec {
  const {
    intervalMs: _i, schedule: _s, timeoutMs: _t, rise: _r, fall: _f, fastIntervalMs: _fi, downIntervalMs: _di, port: _p,
    ...spec
  } = check;
  return spec as CheckSpec;
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
