/**
 * Connect and close again: all the tcp check does. Two ways to do it, same verdicts:
 *
 * - `handleConnectClose`: libuv's TCP handle straight from Node's `tcp_wrap` binding
 *   (checks/tcp-wrap.ts). With net.Socket, 5,000 checks/s promoted ~12 MB/s to the old
 *   generation and forced a full collection every 3 s: the clusters of late checks in the 50k
 *   benchmark. Bare handle vs net.Socket, 5,000 connects/s to loopback: 27-32 vs 46-55 CPU ms
 *   per 1k, 0.4 vs 4 KB allocated per connect, nothing promoted.
 * - `socketConnectClose`: net.Socket. Used where the binding is missing or has another shape.
 */
import net from 'node:net';
import { connectTcp, connectingTo, isVerdict } from './connect.js';
import { error, ok, type Attempt, type Verdict } from './result.js';
import { errnoName, loadTcpWrap, type TcpWrapBinding } from './tcp-wrap.js';
import type { ProbeTarget } from './types.js';

export type ConnectClose = (target: ProbeTarget, attempt: Attempt) => Promise<Verdict>;

export function handleConnectClose(b: TcpWrapBinding): ConnectClose {
  return (target, attempt) => {
    attempt.pending = connectingTo(target);
    return new Promise<Verdict>((resolve) => {
      const handle = new b.TCP(b.constants.SOCKET);
      let open = true;
      const close = (): void => {
        if (!open) return;
        open = false;
        handle.close();
      };
      // an abort closes the handle (libuv then completes the connect with ECANCELED); the
      // attempt has already settled with the abort's own verdict
      const onAbort = close;
      const req = new b.TCPConnectWrap();
      req.oncomplete = (status) => {
        attempt.signal.removeEventListener('abort', onAbort);
        close();
        resolve(status === 0 ? ok('connected') : error(`connect ${errnoName(status)}`));
      };
      // a ProbeTarget address is an IP literal: a colon means IPv6
      const err = target.address.includes(':')
        ? handle.connect6(req, target.address, target.port)
        : handle.connect(req, target.address, target.port);
      if (err !== 0) {
        close();
        resolve(error(`connect ${errnoName(err)}`));
        return;
      }
      attempt.signal.addEventListener('abort', onAbort, { once: true });
    });
  };
}

export const socketConnectClose: ConnectClose = async (target, attempt) => {
  const res: net.Socket | Verdict = await connectTcp(target, attempt);
  if (isVerdict(res)) return res;
  res.destroy();
  return ok('connected');
};

/** the handle way where the binding is there, else the socket way */
export function defaultConnectClose(): ConnectClose {
  const b = loadTcpWrap();
  return b ? handleConnectClose(b) : socketConnectClose;
}
