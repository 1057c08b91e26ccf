/** tcp: the port accepts a connection within the deadline. */
import { runAttempt, type AttemptRegistry } from './result.js';
import { defaultConnectClose, type ConnectClose } from './tcp-connect-close.js';
import type { Probe, ProbeContext, ProbeResult, ProbeTarget } from './types.js';

export function createTcpProbe(stop: AttemptRegistry, connectClose: ConnectClose = defaultConnectClose()): Probe {
  return {
    type: 'tcp',
    check(target: ProbeTarget, ctx: ProbeContext): Promise<ProbeResult> {
      return runAttempt(ctx, stop, (attempt) => connectClose(target, attempt));
    },
  };
}
