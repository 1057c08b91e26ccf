/** tcp: the port accepts a connection within the deadline. */
import { connectTcp, isVerdict } from './connect.js';
import { ok, runAttempt, type AttemptRegistry } from './result.js';
import type { Probe, ProbeContext, ProbeResult, ProbeTarget } from './types.js';

export function createTcpProbe(stop: AttemptRegistry): Probe {
  return {
    type: 'tcp',
    check(target: ProbeTarget, ctx: ProbeContext): Promise<ProbeResult> {
      return runAttempt(ctx, stop, async (attempt) => {
        const res = await connectTcp(target, attempt);
        if (isVerdict(res)) return res;
        res.destroy();
        return ok('connected');
      });
    },
  };
}
