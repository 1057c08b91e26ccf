/**
 * VRRP advertisements over IPv4, v2 (RFC 3768) and v3 (RFC 5798): pure encode/decode with
 * strict validation. A packet that is not a valid advert is never thrown at: decode returns
 * the reason, which the daemon counts (lvsd_vrrp_adverts_rejected_total{reason}).
 *
 * Wire facts verified against keepalived 2.2.7 (shared/research/vrrp.md):
 * - v2 always carries the 8 auth-data bytes (even with auth type 0); its checksum covers the
 *   VRRP message only;
 * - v3 carries no auth data; its checksum covers a pseudo-header src|dst|0|112|len with the
 *   real destination (224.0.0.18, or the unicast peer); keepalived before 1.3.6 (and 2.2.7 once
 *   it has seen one) put 224.0.0.18 there for unicast too: accepted on receive, never sent;
 * - TTL must be 255.
 */
import { isIPv4 } from 'node:net';

export const IPPROTO_VRRP = 112;
export const VRRP_MULTICAST_V4 = '224.0.0.18';
export const VRRP_TTL = 255;
const ADVERTISEMENT = 1;
const V2_AUTH_BYTES = 8;
const IPV4_HEADER = 20;

export type VrrpVersion = 2 | 3;

export interface Advert {
  readonly version: VrrpVersion;
  /** virtual router id, 1..255 */
  readonly vrid: number;
  /** 0 (master leaving) .. 255 (address owner) */
  readonly priority: number;
  /** the advertisement interval in milliseconds (v2 carries whole seconds, v3 centiseconds) */
  readonly intervalMs: number;
  /** the virtual IPv4 addresses, in packet order */
  readonly addresses: readonly string[];
}

export interface ReceivedAdvert extends Advert {
  readonly src: string;
  readonly dst: string;
  /** a v3 unicast advert whose checksum used 224.0.0.18 in the pseudo-header (old keepalived) */
  readonly oldUnicastChecksum: boolean;
}

export const REJECT_REASONS = [
  'ip_header', 'not_vrrp', 'ttl', 'too_short', 'length', 'version', 'type', 'vrid', 'address_count', 'interval', 'auth', 'checksum',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type Decoded =
  | { readonly ok: true; readonly advert: ReceivedAdvert }
  | { readonly ok: false; readonly reason: RejectReason; readonly detail: string };

const reject = (reason: RejectReason, detail: string): Decoded => ({ ok: false, reason, detail });

/** RFC 1071 one's-complement sum over the chunks as one byte string; 0 when verifying a correct message. */
export function inetChecksum(...chunks: readonly Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined; // a byte left over from the previous chunk
  for (const c of chunks) {
    let i = 0;
    if (odd !== undefined && c.length > 0) {
      sum += (odd << 8) | c[0]!;
      odd = undefined;
      i = 1;
    }
    for (; i + 1 < c.length; i += 2) sum += (c[i]! << 8) | c[i + 1]!;
    if (i < c.length) odd = c[i]!;
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ip4Bytes(addr: string): Buffer {
  if (!isIPv4(addr)) throw new RangeError(`not an IPv4 address: ${addr}`);
  return Buffer.from(addr.split('.').map(Number));
}

const ip4Text = (b: Uint8Array, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

function pseudoHeader(src: Uint8Array, dst: Uint8Array, length: number): Buffer {
  const p = Buffer.alloc(12);
  p.set(src, 0);
  p.set(dst, 4);
  p[9] = IPPROTO_VRRP;
  p.writeUInt16BE(length, 10);
  return p;
}

/** The VRRP message (no IP header), checksum filled in for this src → dst. */
export function encodeAdvert(a: Advert, src: string, dst: string): Buffer {
  if (!Number.isInteger(a.vrid) || a.vrid < 1 || a.vrid > 255) throw new RangeError(`vrid ${a.vrid} out of 1..255`);
  if (!Number.isInteger(a.priority) || a.priority < 0 || a.priority > 255) throw new RangeError(`priority ${a.priority} out of 0..255`);
  if (a.addresses.length < 1 || a.addresses.length > 255) throw new RangeError(`${a.addresses.length} addresses (1..255)`);
  const n = a.addresses.length;
  const b = Buffer.alloc(8 + 4 * n + (a.version === 2 ? V2_AUTH_BYTES : 0));
  b[0] = (a.version << 4) | ADVERTISEMENT;
  b[1] = a.vrid;
  b[2] = a.priority;
  b[3] = n;
  if (a.version === 2) {
    const sec = a.intervalMs / 1000;
    if (!Number.isInteger(sec) || sec < 1 || sec > 255) throw new RangeError(`v2 interval ${a.intervalMs}ms: whole seconds 1..255`);
    b[4] = 0; // no authentication
    b[5] = sec;
  } else {
    const cs = a.intervalMs / 10;
    if (!Number.isInteger(cs) || cs < 1 || cs > 0x0fff) throw new RangeError(`v3 interval ${a.intervalMs}ms: centiseconds 1..4095`);
    b.writeUInt16BE(cs, 4);
  }
  a.addresses.forEach((addr, i) => b.set(ip4Bytes(addr), 8 + 4 * i));
  const sum = a.version === 2 ? inetChecksum(b) : inetChecksum(pseudoHeader(ip4Bytes(src), ip4Bytes(dst), b.length), b);
  b.writeUInt16BE(sum, 6);
  return b;
}

/**
 * The whole IPv4 packet for a raw socket with IP_HDRINCL: TOS 0xc0 (network control, as
 * keepalived), TTL 255, protocol 112; the kernel fills in the id and the header checksum.
 */
export function encodeIpPacket(a: Advert, src: string, dst: string): Buffer {
  const body = encodeAdvert(a, src, dst);
  const ip = Buffer.alloc(IPV4_HEADER);
  ip[0] = 0x45;
  ip[1] = 0xc0;
  ip.writeUInt16BE(IPV4_HEADER + body.length, 2);
  ip[8] = VRRP_TTL;
  ip[9] = IPPROTO_VRRP;
  ip.set(ip4Bytes(src), 12);
  ip.set(ip4Bytes(dst), 16);
  return Buffer.concat([ip, body]);
}

/** What a raw AF_INET socket delivers: IPv4 header + VRRP message. */
export function decodeIpPacket(pkt: Uint8Array): Decoded {
  if (pkt.length < IPV4_HEADER) return reject('ip_header', `${pkt.length} bytes, shorter than an IPv4 header`);
  if (pkt[0]! >> 4 !== 4) return reject('ip_header', `IP version ${pkt[0]! >> 4}`);
  const ihl = (pkt[0]! & 0x0f) * 4;
  if (ihl < IPV4_HEADER || ihl > pkt.length) return reject('ip_header', `header length ${ihl} in a ${pkt.length}-byte packet`);
  const total = (pkt[2]! << 8) | pkt[3]!;
  // the kernel reports the total length without the header on some paths; trust what arrived
  const end = total >= ihl && total <= pkt.length ? total : pkt.length;
  if (pkt[9] !== IPPROTO_VRRP) return reject('not_vrrp', `IP protocol ${pkt[9]}`);
  return decodeAdvert(pkt.subarray(ihl, end), ip4Text(pkt, 12), ip4Text(pkt, 16), pkt[8]!);
}

/** A VRRP message with the addressing facts the IP header (or the transport) gave. */
export function decodeAdvert(v: Uint8Array, src: string, dst: string, ttl: number): Decoded {
  if (ttl !== VRRP_TTL) return reject('ttl', `TTL ${ttl}, expected ${VRRP_TTL}`);
  if (v.length < 8) return reject('too_short', `${v.length} bytes, shorter than the VRRP header`);
  const version = v[0]! >> 4;
  if (version !== 2 && version !== 3) return reject('version', `version ${version}`);
  const type = v[0]! & 0x0f;
  if (type !== ADVERTISEMENT) return reject('type', `type ${type}, expected 1 (advertisement)`);
  const vrid = v[1]!;
  if (vrid === 0) return reject('vrid', 'VRID 0');
  const count = v[3]!;
  if (count === 0) return reject('address_count', 'no addresses');
  const expected = 8 + 4 * count + (version === 2 ? V2_AUTH_BYTES : 0);
  if (v.length < expected) return reject('too_short', `${v.length} bytes, expected ${expected} for ${count} address(es)`);
  if (v.length > expected) return reject('length', `${v.length} bytes, expected ${expected} for ${count} address(es)`);
  let intervalMs: number;
  if (version === 2) {
    if (v[4] !== 0) return reject('auth', `authentication type ${v[4]} (lvsd sends and accepts none)`);
    if (v[5] === 0) return reject('interval', 'advertisement interval 0');
    intervalMs = v[5]! * 1000;
  } else {
    const cs = ((v[4]! << 8) | v[5]!) & 0x0fff; // the top 4 bits are reserved: ignored on receive
    if (cs === 0) return reject('interval', 'advertisement interval 0');
    intervalMs = cs * 10;
  }
  // IPv4 only (VRRP over IPv6 is not supported): v3's checksum needs them, and the election compares them
  if (!isIPv4(src) || !isIPv4(dst)) return reject('ip_header', `addresses ${src} -> ${dst}`);
  let oldUnicastChecksum = false;
  if (version === 2) {
    if (inetChecksum(v) !== 0) return reject('checksum', 'bad VRRPv2 checksum');
  } else {
    const s = ip4Bytes(src);
    if (inetChecksum(pseudoHeader(s, ip4Bytes(dst), v.length), v) !== 0) {
      const old = dst !== VRRP_MULTICAST_V4 && inetChecksum(pseudoHeader(s, ip4Bytes(VRRP_MULTICAST_V4), v.length), v) === 0;
      if (!old) return reject('checksum', 'bad VRRPv3 checksum');
      oldUnicastChecksum = true;
    }
  }
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) addresses.push(ip4Text(v, 8 + 4 * i));
  return { ok: true, advert: { version, vrid, priority: v[2]!, intervalMs, addresses, src, dst, oldUnicastChecksum } };
}
