/**
 * Probe deduplication: realservers that share an address, a port and an identical check (the
 * same backend behind several VIPs) share one probe job; its result feeds every one of them.
 */
import { flatString } from '../core/flat-string.js';
import { createHash } from 'node:crypto';
import { stableJson } from '../../checks/index.js';
import type { CheckSpec, Probe, ProbeContext, ProbeResult, ProbeTarget } from '../../checks/types.js';
import type { ResolvedCheck } from '../config/types.js';
import type { ScheduledJob } from '../scheduler/scheduler.js';

/**
 * The check's part of a job key, per check object: realservers that inherit their service's
 * check share one object (config/load.ts), so 50k realservers serialize it once, not 50k
 * times at every start and reload. A digest, not the JSON itself: the key is kept per job and
 * an http check's JSON is ~240 characters (12 MB of keys at 50,000 realservers); 96 bits make
 * two different checks sharing a digest a practical impossibility.
 */
const checkKeys = new WeakMap<ResolvedCheck, string>();

/** A stable identity for (target, check): equal checks written in any key order get one key. */
export function probeJobKey(address: string, check: ResolvedCheck): string {
  let checkKey = checkKeys.get(check);
  if (checkKey === undefined) {
    // rise and fall are per realserver (each applies its own to the shared results): not part of the job
    const { rise: _r, fall: _f, ...job } = check;
    checkKey = createHash('sha256').update(stableJson(job)).digest('base64url').slice(0, 16);
    checkKeys.set(check, checkKey);
  }
  // flat: the key lives as long as the job (core/flat-string.ts)
  return flatString(`${check.type} ${address.includes(':') ? `[${address}]` : address}:${check.port} ${checkKey}`);
}

/** The probe part of a resolved check (what ProbeKit.probeFor takes): timing fields dropped. */
export function checkSpecOf(check: ResolvedCheck): CheckSpec {
  const {
    intervalMs: _i, schedule: _s, timeoutMs: _t, rise: _r, fall: _f, fastIntervalMs: _fi, downIntervalMs: _di, port: _p,
    ...spec
  } = check;
  return spec as CheckSpec;
}

/**
 * One probe job: a (target, check) and its timing. A class, not an object with a `run`
 * closure: the closure, its context and a separate target object were ~150 bytes per job
 * (7.5 MB at 50,000 realservers in a heap snapshot), marked by every full collection. The job is its own target.
 */
export class ProbeJob implements ScheduledJob, ProbeTarget {
  readonly intervalMs: number;
  readonly fastIntervalMs: number;
  readonly downIntervalMs: number;
  readonly timeoutMs: number;
  readonly schedule: string | undefined;
  readonly port: number;
  readonly key: string;
  readonly address: string;
  private readonly probe: Probe;

  constructor(key: string, address: string, check: ResolvedCheck, probe: Probe) {
    this.key = key;
    this.address = address;
    this.probe = probe;
    this.intervalMs = check.intervalMs;
    this.fastIntervalMs = check.fastIntervalMs;
    this.downIntervalMs = check.downIntervalMs;
    this.timeoutMs = check.timeoutMs;
    this.schedule = check.schedule;
    this.port = check.port;
  }

  run(ctx: ProbeContext): Promise<ProbeResult> {
    return this.probe.check(this, ctx);
  }
}
