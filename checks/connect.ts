/** TCP connect shared by the tcp and banner probes. */
import net from 'node:net';
import type { Attempt, Pending, Verdict } from './result.js';
import { error } from './result.js';
import type { ProbeTarget } from './types.js';

/** `127.0.0.1:80`, `[::1]:80` */
export function hostPort(target: ProbeTarget): string {
  return net.isIPv6(target.address) ? `[${target.address}]:${target.port}` : `${target.address}:${target.port}`;
}

/**
 * "connecting to 127.0.0.1:80", made only when a check times out while connecting: building it
 * every check (net.isIPv6's regex, the concatenation) was a visible part of a check's cost, and
 * a text kept per target was 50,000 strings at 50,000 realservers.
 */
class ConnectingTo {
  private readonly target: ProbeTarget;
  constructor(target: ProbeTarget) {
    this.target = target;
  }
  toString(): string {
    return `connecting to ${hostPort(this.target)}`;
  }
}
export function connectingTo(target: ProbeTarget): Pending {
  return new ConnectingTo(target);
}

/**
 * Connect, or say why not. The socket is destroyed when the attempt aborts (at any time, also
 * after connect), so callers only have to destroy it on their own normal paths.
 */
export function connectTcp(target: ProbeTarget, attempt: Attempt): Promise<net.Socket | Verdict> {
  attempt.pending = connectingTo(target);
  return new Promise((resolve) => {
    const sock = net.connect({ host: target.address, port: target.port, noDelay: true });
    const onAbort = (): void => {
      sock.destroy();
    };
    attempt.signal.addEventListener('abort', onAbort, { once: true });
    sock.once('close', () => attempt.signal.removeEventListener('abort', onAbort));
    // a late error after we settled must never become an uncaught exception
    sock.on('error', () => {});
    sock.once('error', (e: NodeJS.ErrnoException) => {
      sock.destroy();
      resolve(error(`connect ${e.code ?? e.message}`));
    });
    sock.once('connect', () => resolve(sock));
  });
}

export function isVerdict(x: object): x is Verdict {
  return 'outcome' in x;
}
