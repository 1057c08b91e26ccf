/**
 * How VRRP packets travel. Both transports carry whole IPv4 packets (header + VRRP), so the
 * same codec and checks run on either:
 * - RawVrrpTransport: IP protocol 112 on a raw socket (raw-socket, an optional native
 *   dependency), IP_HDRINCL so the source is the interface's primary address and never a VIP,
 *   bound to the interface, multicast group joined with TTL 255, IP_MULTICAST_ALL 0, no loop;
 * - UdpVrrpTransport: the same bytes in UDP datagrams on loopback, for tests without privileges.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { LvsError } from '../core/errors.js';
import { IPPROTO_VRRP } from './packet.js';

export interface VrrpTransport {
  /** send a whole IPv4 packet (from encodeIpPacket) to dst */
  send(packet: Buffer, dst: string): Promise<void>;
  /** every packet received, IP header included (a copy the caller may keep) */
  onPacket(fn: (packet: Buffer) => void): void;
  /** an error that closed the transport (the instance reopens it) */
  onError(fn: (err: Error) => void): void;
  close(): void;
}

// Linux socket option numbers (raw-socket exports only a few)
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const IPPROTO_IP = 0;
const IP_HDRINCL = 3;
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_TTL = 33;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;
const IP_MULTICAST_ALL = 49;

type RawModule = typeof import('raw-socket');

function loadRawSocket(): RawModule {
  try {
    return createRequire(import.meta.url)('raw-socket') as RawModule;
  } catch (e) {
    throw new LvsError('LVSD_ERR_VRRP_TRANSPORT',
      'failover needs the optional native package raw-socket, which is not installed or did not build '
      + '(it needs a C compiler, make and python3 at npm ci: apt-get install build-essential python3, then npm ci)', {}, { cause: e });
  }
}

export class RawVrrpTransport implements VrrpTransport {
  private readonly socket: import('raw-socket').RawSocket;

  constructor(opts: { readonly interface: string; readonly multicast: boolean }) {
    const raw = loadRawSocket();
    const dev = opts.interface;
    const ifindex = Number(readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8'));
    this.socket = raw.createSocket({ protocol: IPPROTO_VRRP, addressFamily: raw.AddressFamily.IPv4 });
    const s = this.socket;
    const name = Buffer.from(`${dev}\0`);
    s.setOption(SOL_SOCKET, SO_BINDTODEVICE, name, name.length);
    s.setOption(IPPROTO_IP, IP_HDRINCL, 1);
    s.setOption(IPPROTO_IP, IP_MULTICAST_TTL, 255);
    s.setOption(IPPROTO_IP, IP_MULTICAST_LOOP, 0);
    // only the groups this socket joined, not every group the host joined
    s.setOption(IPPROTO_IP, IP_MULTICAST_ALL, 0);
    const mreqn = Buffer.alloc(12); // struct ip_mreqn { group, local address, ifindex }
    mreqn.set([224, 0, 0, 18], 0);
    mreqn.writeInt32LE(ifindex, 8);
    s.setOption(IPPROTO_IP, IP_MULTICAST_IF, mreqn, mreqn.length);
    if (opts.multicast) s.setOption(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreqn, mreqn.length);
  }

  send(packet: Buffer, dst: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.send(packet, 0, packet.length, dst, (err) => (err ? reject(err) : resolve()));
    });
  }

  onPacket(fn: (packet: Buffer) => void): void {
    // raw-socket reuses one receive buffer: copy before anything is kept
    this.socket.on('message', (buf) => fn(Buffer.from(buf)));
  }

  onError(fn: (err: Error) => void): void {
    this.socket.on('error', fn);
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * Loopback UDP carrying whole IPv4 packets: a "network" where each router listens on its own
 * port and a destination address maps to the ports that receive it (224.0.0.18: every peer).
 */
export class UdpVrrpTransport implements VrrpTransport {
  private readonly socket = dgram.createSocket('udp4');
  private readonly routes: ReadonlyMap<string, readonly number[]>;

  private constructor(routes: ReadonlyMap<string, readonly number[]>) {
    this.routes = routes;
  }

  /** listen on 127.0.0.1:port; `routes` maps a destination address to the ports of the routers behind it */
  static async open(port: number, routes: ReadonlyMap<string, readonly number[]>): Promise<UdpVrrpTransport> {
    const t = new UdpVrrpTransport(routes);
    await new Promise<void>((resolve, reject) => {
      t.socket.once('error', reject);
      t.socket.bind(port, '127.0.0.1', () => resolve());
    });
    return t;
  }

  get port(): number {
    return this.socket.address().port;
  }

  async send(packet: Buffer, dst: string): Promise<void> {
    const ports = this.routes.get(dst) ?? [];
    await Promise.all(ports.filter((p) => p !== this.port).map((p) => new Promise<void>((resolve, reject) => {
      this.socket.send(packet, p, '127.0.0.1', (err) => (err ? reject(err) : resolve()));
    })));
  }

  onPacket(fn: (packet: Buffer) => void): void {
    this.socket.on('message', (buf) => fn(buf));
  }

  onError(fn: (err: Error) => void): void {
    this.socket.on('error', fn);
  }

  close(): void {
    this.socket.close();
  }
}
