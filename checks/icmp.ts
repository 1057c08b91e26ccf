/**
 * icmp: echo requests through the kit's pinger — batched fping, or the system ping when
 * fping is absent. At least one reply = ok.
 */
import { FpingBatcher } from './fping.js';
import type { PingReply, PingRequest, Pinger } from './ping-types.js';
import { SystemPinger } from './ping.js';
import { findProgram } from '../src/core/find-program.js';
import { error, fail, ok, runAttempt, type AttemptRegistry } from './result.js';
import type { Probe, ProbeContext, ProbeKitOptions, ProbeResult, ProbeTarget } from './types.js';

/** fping on PATH or in the usual places, else null. */
export function findFping(envPath = process.env.PATH ?? ''): string | null {
  return findProgram('fping', envPath) ?? null;
}

/** fping while it works; the system ping (with one warning) from the moment it does not. */
export class IcmpPinger implements Pinger {
  private fping: FpingBatcher | null;
  private readonly system: SystemPinger;
  private readonly warn: (message: string) => void;
  private warned = false;

  constructor(options: ProbeKitOptions = {}, batch: { windowMs?: number; maxBatch?: number } = {}) {
    const fpingPath = options.fpingPath === undefined ? findFping() : options.fpingPath;
    this.fping = fpingPath === null ? null : new FpingBatcher({ path: fpingPath, ...batch });
    this.system = new SystemPinger(options.pingPath);
    this.warn = options.warn ?? (() => {});
  }

  async ping(req: PingRequest): Promise<PingReply> {
    if (this.fping) {
      const reply = await this.fping.ping(req);
      if (reply.kind !== 'unavailable') return reply;
      // every waiter of the failed batch lands here; the first one switches over
      this.fping?.close();
      this.fping = null;
      this.fallbackWarning(reply.detail);
    } else {
      this.fallbackWarning('fping not found');
    }
    return this.system.ping(req);
  }

  close(): void {
    this.fping?.close();
    this.system.close();
  }

  private fallbackWarning(why: string): void {
    if (this.warned) return;
    this.warned = true;
    const reason = why === 'fping not found' || why.endsWith('(ENOENT)') ? 'fping not found' : why;
    this.warn(`${reason}; falling back to one system ping process per target — install fping`);
  }
}

export function createIcmpProbe(count: number, pinger: Pinger, stop: AttemptRegistry): Probe {
  const n = Math.max(1, Math.floor(count));
  return {
    type: 'icmp',
    check(target: ProbeTarget, ctx: ProbeContext): Promise<ProbeResult> {
      return runAttempt(ctx, stop, async (attempt) => {
        attempt.pending = `waiting for echo reply from ${target.address}`;
        const reply = await pinger.ping({ address: target.address, count: n, timeoutMs: ctx.timeoutMs, signal: attempt.signal });
        if (reply.kind !== 'replies') return error(reply.detail);
        const got = reply.rttsMs.length;
        if (got === 0) return fail(`no reply to ${reply.sent} ping${reply.sent === 1 ? '' : 's'}`);
        const avg = reply.rttsMs.reduce((a, b) => a + b, 0) / got;
        const partial = got < reply.sent ? ` (${got}/${reply.sent} replies)` : '';
        return ok(`rtt ${formatMs(avg)}ms${partial}`);
      });
    },
  };
}

function formatMs(ms: number): string {
  return String(Number(ms.toFixed(3)));
}
