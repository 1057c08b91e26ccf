/**
 * Node's internal `tcp_wrap` and `stream_wrap` bindings: libuv's TCP handle without a
 * net.Socket around it. A net.Socket is a Duplex stream, an EventEmitter and their state
 * objects, ~4 KB allocated per connection, and the whole graph outlives young-generation
 * collections (the handle's wrapper is a weak root there); at thousands of fresh connections
 * per second that is the probe engine's largest cost (checks/tcp-connect-close.ts,
 * checks/http-handle.ts measure it). The bindings are Node-internal: a later Node or another
 * runtime may change them, so their shape is checked once and callers fall back to net.Socket.
 */
import { getSystemErrorName } from 'node:util';

/** the part of a libuv TCP handle used here */
export interface TcpHandle {
  connect(req: ConnectReq, address: string, port: number): number;
  connect6(req: ConnectReq, address: string, port: number): number;
  close(): void;
}
export interface ConnectReq {
  oncomplete: (status: number) => void;
}
export interface TcpWrapBinding {
  readonly TCP: new (type: number) => TcpHandle;
  readonly TCPConnectWrap: new () => ConnectReq;
  readonly constants: { readonly SOCKET: number };
}

/** a TCP handle as a libuv stream: read and write */
export interface StreamHandle extends TcpHandle {
  /** called with this = the handle; nread and offset are in streamBaseState */
  onread: ((this: StreamHandle, data: ArrayBuffer | undefined) => void) | null;
  readStart(): number;
  writeLatin1String(req: WriteReq, text: string): number;
}
export interface WriteReq {
  handle: StreamHandle;
  /** called only for a write that did not complete at once */
  oncomplete: (status: number) => void;
}
export interface StreamWrap {
  readonly tcp: Omit<TcpWrapBinding, 'TCP'> & { readonly TCP: new (type: number) => StreamHandle };
  readonly WriteWrap: new () => WriteReq;
  /** [kReadBytesOrError]: the last read's byte count or negative errno; [kArrayBufferOffset]: where its bytes start */
  readonly streamBaseState: Int32Array;
  readonly kReadBytesOrError: number;
  readonly kArrayBufferOffset: number;
  /** libuv's end-of-stream "error" */
  readonly UV_EOF: number;
}

export type BindingLoader = (name: string) => unknown;
const processBinding: BindingLoader = (name) => (process as unknown as { binding(n: string): unknown }).binding(name);

function load(binding: BindingLoader, name: string): Record<string, unknown> | undefined {
  try {
    const b = binding(name);
    return typeof b === 'object' && b !== null ? (b as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function hasMethods(ctor: unknown, names: readonly string[]): boolean {
  const proto = (ctor as { prototype?: Record<string, unknown> } | undefined)?.prototype;
  return proto !== undefined && names.every((m) => typeof proto[m] === 'function');
}

/** Node's tcp_wrap binding if it has the expected shape, else undefined. */
export function loadTcpWrap(binding: BindingLoader = processBinding): TcpWrapBinding | undefined {
  const b = load(binding, 'tcp_wrap');
  if (!b) return undefined;
  const { TCP, TCPConnectWrap, constants } = b;
  if (typeof TCP !== 'function' || typeof TCPConnectWrap !== 'function') return undefined;
  if (typeof (constants as { SOCKET?: unknown } | undefined)?.SOCKET !== 'number') return undefined;
  if (!hasMethods(TCP, ['connect', 'connect6', 'close'])) return undefined;
  return b as unknown as TcpWrapBinding;
}

/** tcp_wrap plus what reading and writing a handle needs, if all have the expected shape */
export function loadStreamWrap(binding: BindingLoader = processBinding): StreamWrap | undefined {
  const tcp = loadTcpWrap(binding);
  const s = load(binding, 'stream_wrap');
  const uv = load(binding, 'uv');
  if (!tcp || !s || !uv) return undefined;
  const { WriteWrap, streamBaseState, kReadBytesOrError, kArrayBufferOffset } = s;
  if (typeof WriteWrap !== 'function' || !(streamBaseState instanceof Int32Array)) return undefined;
  if (typeof kReadBytesOrError !== 'number' || typeof kArrayBufferOffset !== 'number') return undefined;
  if (typeof uv['UV_EOF'] !== 'number') return undefined;
  if (!hasMethods(tcp.TCP, ['readStart', 'writeLatin1String'])) return undefined;
  // onread is an accessor on the stream prototype, not a method
  if (!('onread' in (tcp.TCP as { prototype: object }).prototype)) return undefined;
  return {
    tcp: tcp as StreamWrap['tcp'], WriteWrap: WriteWrap as StreamWrap['WriteWrap'], streamBaseState,
    kReadBytesOrError, kArrayBufferOffset, UV_EOF: uv['UV_EOF'],
  };
}

/** "ECONNREFUSED" for a libuv status (negative errno) */
export function errnoName(status: number): string {
  try {
    return getSystemErrorName(status);
  } catch {
    return `errno ${status}`;
  }
}
