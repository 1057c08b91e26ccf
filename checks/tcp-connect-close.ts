/**
 * Connect and close again: all the tcp check does. Two ways to do it, same verdicts:
 *
 * - `handleConnectClose`: libuv's TCP handle straight from Node's `tcp_wrap` binding. A
 *   net.Socket is a Duplex stream, an EventEmitter and their state objects, ~4 KB allocated
 *   per connect, and the whole graph outlives young-generation collections (the handle's
 *   wrapper is a weak root there), so at 5,000 checks/s it promoted ~12 MB/s to the old
 *   generation and forced a full collection every 3 s: the clusters of late checks in the 50k
 *   benchmark. Bare handle vs net.Socket, 5,000 connects/s to loopback: 27-32 vs 46-55 CPU ms
 *   per 1k, 0.4 vs 4 KB allocated per connect, nothing promoted.
 * - `socketConnectClose`: net.Socket. Used where the binding is missing or has another shape
 *   (it is Node-internal: a later Node or another runtime may change it), checked once.
 */
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { connectTcp, connectingTo, isVerdict } from './connect.js';
import { error, ok, type Attempt, type Verdict } from './result.js';
import type { ProbeTarget } from './types.js';

export type ConnectClose = (target: ProbeTarget, attempt: Attempt) => Promise<Verdict>;

/** the part of Node's tcp_wrap binding used here */
interface TcpHandle {
  connect(req: ConnectReq, address: string, port: number): number;
  connect6(req: ConnectReq, address: string, port: number): number;
  close(): void;
}
interface ConnectReq {
  oncomplete: (status: number) => void;
}
interface TcpWrapBinding {
  readonly TCP: new (type: number) => TcpHandle;
  readonly TCPConnectWrap: new () => ConnectReq;
  readonly constants: { readonly SOCKET: number };
}

/** Node's tcp_wrap binding if it has the expected shape, else undefined. */
export function loadTcpWrap(
  binding: (name: string) => unknown = (name) => (process as unknown as { binding(n: string): unknown }).binding(name),
): TcpWrapBinding | undefined {
  let b: Partial<Record<keyof TcpWrapBinding, unknown>>;
  try {
    b = binding('tcp_wrap') as typeof b;
  } catch {
    return undefined;
  }
  if (typeof b !== 'object' || b === null) return undefined;
  const { TCP, TCPConnectWrap, constants } = b;
  if (typeof TCP !== 'function' || typeof TCPConnectWrap !== 'function') return undefined;
  if (typeof (constants as { SOCKET?: unknown } | undefined)?.SOCKET !== 'number') return undefined;
  const proto = (TCP as { prototype?: Record<string, unknown> }).prototype;
  if (!proto || !['connect', 'connect6', 'close'].every((m) => typeof proto[m] === 'function')) return undefined;
  return b as TcpWrapBinding;
}

/** "ECONNREFUSED" for a libuv status (negative errno) */
function errnoName(status: number): string {
  try {
    return getSystemErrorName(status);
  } catch {
    return `errno ${status}`;
  }
}

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
