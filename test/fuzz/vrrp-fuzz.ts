/**
 * VRRP fuzz: hostile and malformed adverts against the codec, the election and the instance.
 *
 *   node --import tsx test/fuzz/vrrp-fuzz.ts --cases 1000000 --seed 42 [--max-failures 5]
 *
 * prints cases/s and the tallies (rejection reasons, election outcomes, transitions) and exits
 * non-zero on any failure, naming the seed and the case number. test/unit/vrrp-fuzz.test.ts runs
 * the same runVrrpFuzz() with 100k cases, so CI and this script share one code path.
 *
 * Everything is deterministic from the seed (a xoshiro128** PRNG, a fake clock, in-memory
 * transports and address managers): `--seed S --cases N` replays a run up to case N, and a
 * failure prints the stimuli that led to it.
 *
 * Two kinds of case, mixed:
 * - codec: random bytes, mutated / truncated / oversized / padded well-formed packets, bad
 *   checksums (and the old keepalived unicast form), wrong IP version (IPv6), header length,
 *   protocol, TTL, VRRP version and type, VRID 0, address counts, intervals, VRRPv2
 *   authentication variants, IP options, lying total-length fields, non-IPv4 addresses. Every
 *   verdict is compared with a second reading of the wire format (oracle() below: written apart
 *   from the codec, with its own parsing and checksum, in the codec's order of checks); packets
 *   built to be valid must decode to exactly the fields they were built with, and packets built
 *   with one fault to that fault's reason.
 * - world: one to three real VrrpInstances on a fake LAN with a fake clock, fed well-formed but
 *   hostile adverts (strangers with priority 255 or 0, wrong VRID, version, address lists and
 *   intervals, floods from many sources, our own address and a peer's spoofed), malformed
 *   packets, time passing, links going down and up, partitions, tracked-priority changes (NaN
 *   and out of range too), failing sends, restarts. After every case: nothing threw, every
 *   state is a valid one and no started instance sits in INIT, a link down is FAULT and an up
 *   one is not, VIPs are held exactly by masters, every packet was either counted as received
 *   or counted as rejected with the reason the oracle expects (and a dropped or ignored one
 *   changed nothing: not the election's state, no advert, no ARP), every advert sent is well-formed
 *   and ours, the adverts, gratuitous ARPs and timers stay within rate and count bounds (no
 *   per-packet or per-source growth), and each instance's own data stays small. At checkpoints
 *   the hostile traffic stops, links come up and partitions heal, time passes, and the honest
 *   routers must have exactly one master (the highest priority when all preempt).
 */
import { isIPv4 } from 'node:net';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { Clock, TimerHandle } from '../../src/core/clock.js';
import type { AddressManager } from '../../src/vrrp/addresses.js';
import { REASSERT_MIN_GAP_MS, type VrrpState } from '../../src/vrrp/election.js';
import { VrrpInstance } from '../../src/vrrp/instance.js';
import {
  REJECT_REASONS, VRRP_MULTICAST_V4, decodeAdvert, decodeIpPacket, type Decoded, type RejectReason,
} from '../../src/vrrp/packet.js';
import type { VrrpTransport } from '../../src/vrrp/transport.js';

// ---------------------------------------------------------------------------------------------
// PRNG

/** xoshiro128** seeded through splitmix32: fast, 32-bit, and the same sequence on every machine */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split() | 1;
  }

  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** 0 <= n < max */
  int(max: number): number {
    return max <= 1 ? 0 : Math.floor((this.u32() / 4294967296) * max);
  }

  /** lo <= n <= hi */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  byte(): number {
    return this.u32() & 0xff;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

// ---------------------------------------------------------------------------------------------
// the wire format, written independently of src/vrrp/packet.ts

const MCAST = VRRP_MULTICAST_V4;
const MCAST_U32 = 0xe0000012;
const u32ToIp = (n: number): string => `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
const ipToU32 = (s: string): number => s.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) >>> 0;

/** 16-bit one's-complement sum of the concatenation, folded; a message that checks out sums to 0xffff */
function onesSum(...parts: readonly Uint8Array[]): number {
  let total = 0;
  for (const p of parts) total += p.length;
  const all = new Uint8Array(total + (total & 1));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all[i]! * 256 + all[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

function pseudo(src: number, dst: number, len: number): Uint8Array {
  const p = new Uint8Array(12);
  new DataView(p.buffer).setUint32(0, src);
  new DataView(p.buffer).setUint32(4, dst);
  p[9] = 112;
  p[10] = len >> 8;
  p[11] = len & 0xff;
  return p;
}

export type Verdict =
  | { readonly ok: true; readonly version: 2 | 3; readonly vrid: number; readonly priority: number; readonly intervalMs: number;
    readonly addresses: readonly string[]; readonly src: string; readonly dst: string; readonly old: boolean }
  | { readonly ok: false; readonly reason: RejectReason };

const no = (reason: RejectReason): Verdict => ({ ok: false, reason });

/** What a whole IPv4 packet (raw socket view) must decode to. */
export function oracle(pkt: Uint8Array): Verdict {
  if (pkt.length < 20) return no('ip_header');
  if (pkt[0]! >> 4 !== 4) return no('ip_header');
  const ihl = (pkt[0]! & 15) * 4;
  if (ihl < 20 || ihl > pkt.length) return no('ip_header');
  const total = pkt[2]! * 256 + pkt[3]!;
  const end = total >= ihl && total <= pkt.length ? total : pkt.length; // link padding trimmed, a lying length ignored
  if (pkt[9] !== 112) return no('not_vrrp');
  const ip = (o: number): string => `${pkt[o]}.${pkt[o + 1]}.${pkt[o + 2]}.${pkt[o + 3]}`;
  return oracleAdvert(pkt.slice(ihl, end), ip(12), ip(16), pkt[8]!);
}

/** What a VRRP message with these addressing facts must decode to. */
export function oracleAdvert(v: Uint8Array, src: string, dst: string, ttl: number): Verdict {
  if (ttl !== 255) return no('ttl');
  if (v.length < 8) return no('too_short');
  const version = v[0]! >> 4;
  if (version !== 2 && version !== 3) return no('version');
  if ((v[0]! & 15) !== 1) return no('type');
  if (v[1] === 0) return no('vrid');
  const n = v[3]!;
  if (n === 0) return no('address_count');
  const want = 8 + 4 * n + (version === 2 ? 8 : 0);
  if (v.length < want) return no('too_short');
  if (v.length > want) return no('length');
  let intervalMs: number;
  if (version === 2) {
    if (v[4] !== 0) return no('auth');
    if (v[5] === 0) return no('interval');
    intervalMs = v[5]! * 1000;
  } else {
    const cs = (v[4]! & 0x0f) * 256 + v[5]!;
    if (cs === 0) return no('interval');
    intervalMs = cs * 10;
  }
  if (!isIPv4(src) || !isIPv4(dst)) return no('ip_header');
  let old = false;
  if (version === 2) {
    if (onesSum(v) !== 0xffff) return no('checksum');
  } else if (onesSum(pseudo(ipToU32(src), ipToU32(dst), v.length), v) !== 0xffff) {
    if (dst === MCAST || onesSum(pseudo(ipToU32(src), MCAST_U32, v.length), v) !== 0xffff) return no('checksum');
    old = true;
  }
  const addresses: string[] = [];
  for (let i = 0; i < n; i++) addresses.push(`${v[8 + 4 * i]}.${v[9 + 4 * i]}.${v[10 + 4 * i]}.${v[11 + 4 * i]}`);
  return { ok: true, version, vrid: v[1]!, priority: v[2]!, intervalMs, addresses, src, dst, old };
}

interface AdvertSpec {
  version: number;
  type: number;
  vrid: number;
  priority: number;
  /** what goes in the address-count byte (normally addresses.length) */
  count: number;
  addresses: readonly number[];
  /** v2: seconds byte; v3: the 16-bit field (reserved bits included) */
  interval: number;
  /** v2 only */
  authType: number;
  authData?: Uint8Array;
  /** rfc: the checksum RFC 5798 wants (v2: over the message); old: v3 with 224.0.0.18 in the pseudo-header; bad: anything else */
  checksum: 'rfc' | 'old' | 'bad';
}

function vrrpMessage(a: AdvertSpec, src: number, dst: number, rng: Rng): Buffer {
  const v2 = a.version === 2;
  const b = Buffer.alloc(8 + 4 * a.addresses.length + (v2 ? 8 : 0));
  b[0] = ((a.version & 15) << 4) | (a.type & 15);
  b[1] = a.vrid;
  b[2] = a.priority;
  b[3] = a.count;
  if (v2) {
    b[4] = a.authType;
    b[5] = a.interval;
    if (a.authData) b.set(a.authData.subarray(0, 8), 8 + 4 * a.addresses.length);
  } else {
    b.writeUInt16BE(a.interval & 0xffff, 4);
  }
  a.addresses.forEach((x, i) => b.writeUInt32BE(x >>> 0, 8 + 4 * i));
  const fill = (d: number): number => {
    b.writeUInt16BE(0, 6);
    const s = v2 ? onesSum(b) : onesSum(pseudo(src, d, b.length), b);
    return ~s & 0xffff;
  };
  if (a.checksum === 'rfc') b.writeUInt16BE(fill(dst), 6);
  else if (a.checksum === 'old') b.writeUInt16BE(fill(MCAST_U32), 6);
  else {
    const good = fill(dst);
    let bad = rng.u32() & 0xffff;
    if (bad === good) bad ^= 1 << rng.int(16);
    b.writeUInt16BE(bad, 6);
  }
  return b;
}

interface IpSpec {
  src: number;
  dst: number;
  ttl: number;
  proto: number;
  /** 32-bit words of IP options (0..10) */
  optionWords: number;
  /** correct | zero | bigger than the packet | smaller than the header | covers trailing padding only */
  total: 'correct' | 'zero' | 'big' | 'small';
  /** bytes after the VRRP message, not counted in a correct total length (Ethernet padding) */
  padding: number;
}

function ipPacket(msg: Uint8Array, ip: IpSpec, rng: Rng): Buffer {
  const ihl = 20 + 4 * ip.optionWords;
  const b = Buffer.alloc(ihl + msg.length + ip.padding);
  b[0] = 0x40 | (ihl / 4);
  b[1] = 0xc0;
  const len = ihl + msg.length;
  b.writeUInt16BE(ip.total === 'correct' ? len : ip.total === 'zero' ? 0 : ip.total === 'big' ? Math.min(0xffff, b.length + 1 + rng.int(100)) : rng.int(ihl), 2);
  b.writeUInt16BE(rng.u32() & 0xffff, 4);
  b[8] = ip.ttl;
  b[9] = ip.proto;
  b.writeUInt32BE(ip.src >>> 0, 12);
  b.writeUInt32BE(ip.dst >>> 0, 16);
  for (let i = 20; i < ihl; i++) b[i] = i === 20 ? 1 : rng.byte(); // NOP first, then anything (the codec skips options)
  b.set(msg, ihl);
  for (let i = ihl + msg.length; i < b.length; i++) b[i] = rng.byte();
  return b;
}

// ---------------------------------------------------------------------------------------------
// packet generators for codec cases

const TESTNET_BASES = [0xc0000200, 0xc6336400, 0xcb007100]; // 192.0.2.0, 198.51.100.0, 203.0.113.0
const randomTestNet = (rng: Rng): number => (rng.pick(TESTNET_BASES) | rng.range(1, 254)) >>> 0;

function randomValidSpec(rng: Rng): AdvertSpec {
  const version = rng.chance(0.6) ? 3 : 2;
  const n = rng.chance(0.9) ? rng.range(1, 4) : rng.chance(0.5) ? rng.range(5, 40) : rng.range(200, 255);
  const addresses: number[] = [];
  for (let i = 0; i < n; i++) addresses.push(rng.chance(0.8) ? randomTestNet(rng) : rng.u32());
  return {
    version, type: 1, vrid: rng.range(1, 255), priority: rng.chance(0.2) ? rng.pick([0, 255]) : rng.range(1, 254), count: n, addresses,
    interval: version === 2 ? rng.range(1, 255) : (rng.int(16) << 12) * (rng.chance(0.2) ? 1 : 0) | rng.range(1, 4095),
    authType: 0, ...(version === 2 && rng.chance(0.3) ? { authData: rng.bytes(8) } : {}), checksum: 'rfc',
  };
}

function randomIp(rng: Rng, unicast: boolean): IpSpec {
  const total = rng.chance(0.85) ? 'correct' : rng.pick(['zero', 'big', 'small'] as const);
  return {
    src: rng.chance(0.9) ? randomTestNet(rng) : rng.u32(), dst: unicast ? randomTestNet(rng) : MCAST_U32, ttl: 255, proto: 112,
    optionWords: rng.chance(0.1) ? rng.range(1, 10) : 0, total,
    // link padding can only be told from the message by a correct total length
    padding: total === 'correct' && rng.chance(0.1) ? rng.range(1, 46) : 0,
  };
}

/** the fields an accepted packet built from spec must decode to */
function expectedFields(a: AdvertSpec, ip: IpSpec): Verdict {
  return {
    ok: true, version: a.version as 2 | 3, vrid: a.vrid, priority: a.priority,
    intervalMs: a.version === 2 ? a.interval * 1000 : (a.interval & 0x0fff) * 10,
    addresses: a.addresses.map(u32ToIp), src: u32ToIp(ip.src), dst: u32ToIp(ip.dst), old: a.checksum === 'old',
  };
}

/** recompute a message's checksum after an edit (so only the edit is wrong) */
function refix(msg: Buffer, src: number, dst: number): void {
  msg.writeUInt16BE(0, 6);
  const v2 = msg[0]! >> 4 === 2;
  msg.writeUInt16BE(~(v2 ? onesSum(msg) : onesSum(pseudo(src, dst, msg.length), msg)) & 0xffff, 6);
}

export interface CodecCase {
  readonly kind: string;
  readonly packet: Buffer;
  /** when the construction itself says what the verdict must be */
  readonly expect?: Verdict;
  /** decodeAdvert on a bare message with these facts instead of decodeIpPacket */
  readonly bare?: { readonly src: string; readonly dst: string; readonly ttl: number };
}

/** one packet for the codec, of a random kind */
export function codecCase(rng: Rng): CodecCase {
  const k = rng.int(100);
  const spec = randomValidSpec(rng);
  const ip = randomIp(rng, rng.chance(0.4));
  const build = (): Buffer => ipPacket(vrrpMessage(spec, ip.src, ip.dst, rng), ip, rng);
  if (k < 12) {
    // well-formed, every variation the wire allows: must decode to exactly what was built
    if (spec.version === 3 && ip.dst !== MCAST_U32 && rng.chance(0.3)) spec.checksum = 'old';
    return { kind: spec.checksum === 'old' ? 'valid_old_checksum' : ip.optionWords > 0 ? 'valid_ip_options' : ip.padding > 0 ? 'valid_padded' : 'valid', packet: build(), expect: expectedFields(spec, ip) };
  }
  if (k < 30) {
    // one field wrong, checksum right: the reason is known
    const which = rng.int(14);
    let reason: RejectReason;
    let kind: string;
    switch (which) {
      case 0: ip.ttl = rng.pick([0, 1, 64, 128, 254]); reason = 'ttl'; kind = 'ttl'; break;
      case 1: ip.proto = rng.pick([0, 1, 6, 17, 51, 111, 113, 255]); reason = 'not_vrrp'; kind = 'protocol'; break;
      case 2: spec.version = rng.pick([0, 1, 4, 5, 6, 15]); reason = 'version'; kind = 'vrrp_version'; break;
      case 3: spec.type = rng.pick([0, 2, 3, 15]); reason = 'type'; kind = 'vrrp_type'; break;
      case 4: spec.vrid = 0; reason = 'vrid'; kind = 'vrid_0'; break;
      case 5: spec.count = 0; reason = 'address_count'; kind = 'count_0'; break;
      case 6:
        if (spec.addresses.length > 250) spec.addresses = spec.addresses.slice(0, 250);
        spec.count = spec.addresses.length + rng.range(1, 3);
        reason = 'too_short'; kind = 'count_high'; break;
      case 7:
        if (spec.addresses.length < 2) spec.addresses = [...spec.addresses, randomTestNet(rng)];
        spec.count = rng.range(1, spec.addresses.length - 1);
        reason = 'length'; kind = 'count_low'; break;
      case 8:
        spec.version = 2;
        spec.interval = rng.range(1, 255);
        spec.authType = rng.pick([1, 2, 3, 254, 255]);
        spec.authData = spec.authType === 1 ? Buffer.from('secret\0\0') : rng.bytes(8);
        reason = 'auth'; kind = `v2_auth_${spec.authType === 1 ? 'password' : spec.authType === 2 ? 'ah' : 'other'}`; break;
      case 9: spec.interval = spec.version === 2 ? 0 : rng.int(16) << 12; reason = 'interval'; kind = 'interval_0'; break;
      case 10: spec.checksum = 'bad'; reason = 'checksum'; kind = 'bad_checksum'; break;
      case 11: ip.optionWords = 0; reason = 'ip_header'; kind = 'ihl_short'; break;
      case 12: reason = 'ip_header'; kind = 'ipv6'; break;
      default: reason = 'too_short'; kind = 'vrrp_header_cut'; break;
    }
    if (which === 11) {
      const p = build();
      p[0] = 0x40 | rng.range(0, 4);
      return { kind, packet: p, expect: no(reason) };
    }
    if (which === 12) {
      // a VRRPv3 advert in an IPv6 header (next header 112, hop limit 255): not for this IPv4 codec
      const body = vrrpMessage({ ...spec, version: 3, interval: 100 }, ip.src, ip.dst, rng);
      const h = Buffer.alloc(40);
      h[0] = 0x60;
      h.writeUInt16BE(body.length, 4);
      h[6] = 112;
      h[7] = 255;
      h.set(Buffer.from('fe800000000000000000000000000001', 'hex'), 8);
      h.set(Buffer.from('ff020000000000000000000000000012', 'hex'), 24);
      return { kind, packet: Buffer.concat([h, body]), expect: no(reason) };
    }
    if (which === 13) {
      const p = build();
      const ihl = (p[0]! & 15) * 4;
      const cut = p.subarray(0, ihl + rng.int(8));
      cut.writeUInt16BE(cut.length, 2);
      return { kind, packet: cut, expect: no(reason) };
    }
    return { kind, packet: build(), expect: no(reason) };
  }
  if (k < 38) {
    // a bare message through decodeAdvert: TTL and addresses as the transport reports them (IPv6 too)
    const msg = vrrpMessage(spec, ip.src, ip.dst, rng);
    const roll = rng.int(4);
    const src = roll === 0 ? rng.pick(['2001:db8::1', 'fe80::1', '::ffff:192.0.2.1', '', '192.0.2', '256.1.1.1']) : u32ToIp(ip.src);
    const dst = roll === 1 ? rng.pick(['ff02::12', '2001:db8::2', 'x']) : u32ToIp(ip.dst);
    const ttl = rng.chance(0.15) ? rng.int(256) : 255;
    return { kind: roll <= 1 ? 'bare_non_ipv4' : 'bare', packet: msg, bare: { src, dst, ttl } };
  }
  if (k < 55) {
    // a few bytes flipped anywhere
    const p = build();
    const flips = rng.range(1, 4);
    for (let i = 0; i < flips; i++) {
      const at = rng.int(p.length);
      p[at] = rng.chance(0.5) ? p[at]! ^ (1 << rng.int(8)) : rng.byte();
    }
    return { kind: 'mutated', packet: p };
  }
  if (k < 62) {
    // a field edited and the checksum made right again: reaches the checks behind the checksum's
    const p = build();
    const ihl = (p[0]! & 15) * 4;
    const msg = p.subarray(ihl, ihl + (p.length - ihl - ip.padding));
    const o = rng.int(Math.min(msg.length, 12));
    msg[o] = rng.byte();
    if (o !== 6 && o !== 7) refix(Buffer.from(msg.buffer, msg.byteOffset, msg.length), ip.src, ip.dst);
    return { kind: 'edited_refixed', packet: p };
  }
  if (k < 72) {
    // truncated anywhere
    const p = build();
    return { kind: 'truncated', packet: p.subarray(0, rng.int(p.length)) };
  }
  if (k < 78) {
    // oversized: trailing bytes counted in the total length, or a huge packet
    const p = build();
    const extra = rng.chance(0.9) ? rng.range(1, 64) : rng.range(1000, 65000);
    const big = Buffer.concat([p.subarray(0, p.length - ip.padding), rng.bytes(extra)]);
    big.writeUInt16BE(Math.min(0xffff, big.length), 2);
    return { kind: 'oversized', packet: big };
  }
  if (k < 90) {
    // random bytes, often with a plausible IPv4 start
    const n = rng.chance(0.95) ? rng.int(96) : rng.range(96, 2000);
    const p = rng.bytes(n);
    if (n > 20 && rng.chance(0.6)) {
      p[0] = 0x45;
      p[9] = 112;
      if (rng.chance(0.5)) p[8] = 255;
      if (rng.chance(0.5)) p[20] = rng.pick([0x21, 0x31]);
    }
    return { kind: 'random', packet: p };
  }
  // well-formed IP, random VRRP message of a random length
  const n = rng.int(64);
  const msg = rng.bytes(n);
  if (n > 0 && rng.chance(0.7)) msg[0] = rng.pick([0x21, 0x31]);
  if (n > 3 && rng.chance(0.5)) msg[3] = rng.range(1, 3);
  if (n >= 8 && rng.chance(0.5)) refix(msg, ip.src, ip.dst);
  return { kind: 'random_message', packet: ipPacket(msg, { ...ip, total: 'correct', padding: 0 }, rng) };
}

function sameVerdict(d: Decoded, v: Verdict): string | undefined {
  if (!d.ok) {
    if (!(REJECT_REASONS as readonly string[]).includes(d.reason)) return `unknown reason ${d.reason}`;
    if (v.ok) return `rejected (${d.reason}: ${d.detail}) but it is a valid advert`;
    return d.reason === v.reason ? undefined : `reason ${d.reason} (${d.detail}), expected ${v.reason}`;
  }
  if (!v.ok) return `accepted, expected rejection ${v.reason}`;
  const a = d.advert;
  const got = { version: a.version, vrid: a.vrid, priority: a.priority, intervalMs: a.intervalMs, addresses: a.addresses, src: a.src, dst: a.dst, old: a.oldUnicastChecksum };
  const want = { version: v.version, vrid: v.vrid, priority: v.priority, intervalMs: v.intervalMs, addresses: v.addresses, src: v.src, dst: v.dst, old: v.old };
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) return `decoded ${g}, expected ${w}`;
  if (a.vrid < 1 || a.vrid > 255 || a.priority < 0 || a.priority > 255 || a.intervalMs <= 0 || a.addresses.length < 1) return `out-of-range field ${g}`;
  return undefined;
}

function decodeCase(c: CodecCase): Decoded {
  return c.bare ? decodeAdvert(c.packet, c.bare.src, c.bare.dst, c.bare.ttl) : decodeIpPacket(c.packet);
}

function oracleCase(c: CodecCase): Verdict {
  return c.bare ? oracleAdvert(c.packet, c.bare.src, c.bare.dst, c.bare.ttl) : oracle(c.packet);
}

/** decode one codec case; a failure message, or undefined */
export function checkCodecCase(c: CodecCase): { decoded: Decoded; failure?: string } {
  let decoded: Decoded;
  try {
    decoded = decodeCase(c);
  } catch (e) {
    return { decoded: { ok: false, reason: 'ip_header', detail: 'threw' }, failure: `decoder threw: ${e instanceof Error ? e.stack : String(e)}` };
  }
  const verdict = oracleCase(c);
  if (c.expect) {
    const own = JSON.stringify(c.expect) === JSON.stringify(verdict) ? undefined : `the oracle says ${JSON.stringify(verdict)} of a packet built to be ${JSON.stringify(c.expect)}`;
    if (own) return { decoded, failure: own };
  }
  const diff = sameVerdict(decoded, verdict);
  return diff ? { decoded, failure: diff } : { decoded };
}

// ---------------------------------------------------------------------------------------------
// worlds: real VrrpInstances on a fake LAN with a fake clock

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

/** a fake clock with a binary heap of timers; advance() fires them in order and lets the instances settle between */
class FuzzClock {
  t = 1_000_000;
  private seq = 0;
  private heap: Timer[] = [];
  private liveCount = 0;

  now(): number {
    return this.t;
  }

  add(fn: () => void, ms: number): Timer {
    const tm: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, live: true };
    this.push(tm);
    this.liveCount++;
    if (this.heap.length > 64 && this.heap.length > 4 * this.liveCount) this.heap = rebuild(this.heap.filter((x) => x.live));
    return tm;
  }

  cancel(tm: Timer): void {
    if (!tm.live) return;
    tm.live = false;
    this.liveCount--;
  }

  get live(): number {
    return this.liveCount;
  }

  async advance(ms: number, settle: () => Promise<void>): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      while (this.heap.length > 0 && !this.heap[0]!.live) this.pop();
      const top = this.heap[0];
      if (!top || top.at > end) break;
      this.pop();
      top.live = false;
      this.liveCount--;
      if (top.at > this.t) this.t = top.at;
      top.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }

  private push(tm: Timer): void {
    const h = this.heap;
    h.push(tm);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    siftDown(h, 0);
  }
}

const before = (a: Timer, b: Timer): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq);

function siftDown(h: Timer[], i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < h.length && before(h[l]!, h[m]!)) m = l;
    if (r < h.length && before(h[r]!, h[m]!)) m = r;
    if (m === i) return;
    [h[i], h[m]] = [h[m]!, h[i]!];
    i = m;
  }
}

function rebuild(xs: Timer[]): Timer[] {
  for (let i = (xs.length >> 1) - 1; i >= 0; i--) siftDown(xs, i);
  return xs;
}

/** one router's view of the clock: counts its live timers */
class NodeClock implements Clock {
  live = 0;
  private readonly base: FuzzClock;

  constructor(base: FuzzClock) {
    this.base = base;
  }

  now(): number {
    return this.base.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    this.live++;
    let done = false;
    const tm = this.base.add(() => {
      if (done) return;
      done = true;
      this.live--;
      fn();
    }, ms);
    return {
      cancel: () => {
        if (done) return;
        done = true;
        this.live--;
        this.base.cancel(tm);
      },
    };
  }
}

class FuzzAddresses implements AddressManager {
  holds = false;
  link = true;
  announced = 0;
  closed = false;
  private readonly self: string;

  constructor(self: string) {
    this.self = self;
  }

  async primaryAddress(): Promise<string> {
    return this.self;
  }

  linkUp(): boolean {
    return this.link;
  }

  async add(): Promise<void> {
    this.holds = true;
  }

  async remove(): Promise<void> {
    this.holds = false;
  }

  announce(): void {
    this.announced++;
  }

  close(): void {
    this.closed = true;
  }
}

class FuzzTransport implements VrrpTransport {
  handler: ((p: Buffer) => void) | undefined;
  closed = false;
  fail = false;
  private readonly node: FuzzNode;

  constructor(node: FuzzNode) {
    this.node = node;
  }

  async send(packet: Buffer, dst: string): Promise<void> {
    // a violation found here is kept by the world: the instance catches what send() throws
    this.node.world.guard(() => this.node.world.sent(this.node, packet, dst));
    if (this.fail || !this.node.addresses.link) throw new Error('ENETDOWN');
    this.node.world.guard(() => this.node.world.deliver(this.node, packet, dst));
  }

  onPacket(fn: (p: Buffer) => void): void {
    this.handler = fn;
  }

  onError(): void {}

  close(): void {
    this.closed = true;
  }

  receive(p: Buffer): void {
    if (!this.closed) this.handler?.(p);
  }
}

const STATES: readonly VrrpState[] = ['init', 'backup', 'master', 'fault'];

interface Counts {
  received: number;
  /** adverts delivered from honest routers (counted as received too) */
  honest: number;
  rejected: Map<string, number>;
  rejectedTotal: number;
  sends: number;
  masterEntries: number;
  priorityEvents: number;
}

class FuzzNode {
  readonly world: World;
  readonly name: string;
  readonly self: string;
  readonly priority: number;
  readonly preempt: boolean;
  readonly preemptDelayMs: number;
  readonly clock: NodeClock;
  addresses: FuzzAddresses;
  transport: FuzzTransport;
  /** made at start(), once every router of the world exists (unicast peers) */
  instance!: VrrpInstance;
  counts: Counts;
  startedAt = 0;
  running = false;
  /** the link changed then: its state must show once a poll has come */
  linkChangedAt = Number.NEGATIVE_INFINITY;
  /** during stop(): the priority-0 advert is allowed */
  stopping = false;

  constructor(world: World, name: string, self: string, priority: number, preempt: boolean, preemptDelayMs: number) {
    this.world = world;
    this.name = name;
    this.self = self;
    this.priority = priority;
    this.preempt = preempt;
    this.preemptDelayMs = preemptDelayMs;
    this.clock = new NodeClock(world.clock);
    this.addresses = new FuzzAddresses(self);
    this.transport = new FuzzTransport(this);
    this.counts = freshCounts();
  }

  make(): VrrpInstance {
    const w = this.world;
    const c = w.cfg;
    return new VrrpInstance({
      settings: {
        vrid: c.vrid, priority: this.priority, version: c.version, intervalMs: c.intervalMs, preempt: this.preempt,
        preemptDelayMs: this.preemptDelayMs, unicastPeers: c.unicast ? w.peersOf(this.self) : [], virtualAddresses: c.vips.map((v) => `${v}/24`),
      },
      transport: this.transport, addresses: this.addresses, clock: this.clock, log: w.log, linkPollMs: c.linkPollMs,
      observer: {
        received: () => { this.counts.received++; },
        rejected: (reason) => {
          this.counts.rejectedTotal++;
          this.counts.rejected.set(reason, (this.counts.rejected.get(reason) ?? 0) + 1);
          w.tally(w.report.instanceRejected, reason);
        },
        transition: (from, to) => {
          if (to === 'master') this.counts.masterEntries++;
          w.tally(w.report.transitions, `${from}->${to}`);
        },
      },
    });
  }

  /** `tracked`: a tracked priority reported while start() is still under way */
  async start(tracked?: number): Promise<void> {
    this.instance = this.make();
    this.startedAt = this.world.clock.now();
    this.running = true;
    const starting = this.instance.start();
    if (tracked !== undefined) {
      this.counts.priorityEvents++;
      this.instance.setTrackedPriority(tracked);
    }
    await starting;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.instance.stop();
    this.stopping = false;
    this.running = false;
  }

  /** a restart: a new process on the same link (new transport, address manager and instance) */
  async restart(tracked?: number): Promise<void> {
    await this.stop();
    const link = this.addresses.link;
    const holds = this.addresses.holds; // a killed lvsd's VIPs would still be there; a stopped one removed them
    this.addresses = new FuzzAddresses(this.self);
    this.addresses.link = link;
    this.addresses.holds = holds;
    this.transport = new FuzzTransport(this);
    this.counts = freshCounts();
    await this.start(tracked);
  }
}

const freshCounts = (): Counts => ({ received: 0, honest: 0, rejected: new Map(), rejectedTotal: 0, sends: 0, masterEntries: 0, priorityEvents: 0 });

interface WorldConfig {
  version: 2 | 3;
  intervalMs: number;
  vrid: number;
  vips: string[];
  unicast: boolean;
  linkPollMs: number;
}

/** a stimulus, kept for the failure report */
interface Step {
  readonly n: number;
  readonly what: string;
}

export interface FuzzFailure {
  readonly seed: number;
  readonly case: number;
  readonly kind: string;
  readonly message: string;
  /** the stimuli of the world up to the failure, last ones */
  readonly trace: readonly string[];
}

export interface FuzzReport {
  readonly seed: number;
  readonly cases: number;
  readonly elapsedMs: number;
  readonly casesPerSecond: number;
  readonly failures: readonly FuzzFailure[];
  /** codec cases by kind */
  readonly codecKinds: Record<string, number>;
  /** codec verdicts: accepted, or the reject reason */
  readonly codecVerdicts: Record<string, number>;
  /** what instances counted as rejected (codec and election reasons) */
  readonly instanceRejected: Record<string, number>;
  /** world stimuli by kind, and the milliseconds they took (with their checks) */
  readonly stimuli: Record<string, number>;
  readonly stimuliMs: Record<string, number>;
  readonly transitions: Record<string, number>;
  readonly worlds: number;
  readonly checkpoints: number;
  /** adverts delivered between honest routers */
  readonly honestDeliveries: number;
  readonly hostilePackets: number;
}

interface MutableReport {
  codecKinds: Record<string, number>;
  codecVerdicts: Record<string, number>;
  instanceRejected: Record<string, number>;
  stimuli: Record<string, number>;
  stimuliMs: Record<string, number>;
  transitions: Record<string, number>;
  worlds: number;
  checkpoints: number;
  honestDeliveries: number;
  hostilePackets: number;
}

class Violation extends Error {}

const ELECTION_REASONS = new Set(['version', 'addresses', 'interval']);

class World {
  readonly rng: Rng;
  readonly cfg: WorldConfig;
  readonly clock = new FuzzClock();
  readonly nodes: FuzzNode[] = [];
  readonly report: MutableReport;
  readonly log = pino({ level: 'error' }, { write: (line: string) => { this.errors.push(line); } });
  readonly errors: string[] = [];
  /** violations found inside the instances' calls (which catch what they call) */
  readonly violations: string[] = [];
  readonly steps: Step[] = [];
  /** pairs that cannot reach each other, "a|b" */
  readonly partitioned = new Set<string>();
  private stepNo = 0;

  constructor(rng: Rng, report: MutableReport) {
    this.rng = rng;
    this.report = report;
    const version = rng.chance(0.7) ? 3 : 2;
    const intervalMs = version === 2 ? rng.pick([1000, 1000, 2000, 3000]) : rng.chance(0.6) ? 1000 : rng.chance(0.4) ? 100 : 10 * rng.range(10, 300);
    const nVips = rng.chance(0.85) ? rng.range(1, 3) : rng.range(4, 20);
    const vips = new Set<string>();
    while (vips.size < nVips) vips.add(u32ToIp((0xc0000200 | rng.range(1, 254)) >>> 0));
    this.cfg = { version, intervalMs, vrid: rng.range(1, 255), vips: [...vips], unicast: rng.chance(0.3), linkPollMs: rng.pick([100, 250, 500, 1000]) };
    const n = rng.pick([1, 2, 2, 2, 3, 3]);
    const used = new Set<string>();
    for (let i = 0; i < n; i++) {
      let self: string;
      do self = u32ToIp((0xc6336400 | rng.range(2, 254)) >>> 0); while (used.has(self));
      used.add(self);
      const priority = rng.chance(0.08) ? 255 : rng.chance(0.15) && i > 0 ? this.nodes[0]!.priority : rng.range(1, 254);
      this.nodes.push(new FuzzNode(this, `r${i}`, self, priority, rng.chance(0.8), rng.chance(0.75) ? 0 : rng.range(1, 50) * 100));
    }
  }

  private readonly peers = new Map<string, string[]>();

  /** the unicast peers of a router: the others (a lone router has one nobody answers at) */
  peersOf(self: string): string[] {
    let p = this.peers.get(self);
    if (!p) {
      const others = this.nodes.map((x) => x.self).filter((x) => x !== self);
      p = others.length > 0 ? others : ['198.51.100.1'];
      this.peers.set(self, p);
    }
    return p;
  }

  tally(into: Record<string, number>, key: string): void {
    into[key] = (into[key] ?? 0) + 1;
  }

  note(what: string): void {
    this.steps.push({ n: this.stepNo++, what });
    if (this.steps.length > 60) this.steps.shift();
  }

  guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.violations.push(e instanceof Error ? e.message : String(e));
    }
  }

  async settle(): Promise<void> {
    // an instance's handling may deliver adverts to another: until a whole pass delivered nothing
    for (let pass = 0; pass < 1000; pass++) {
      const before = this.report.honestDeliveries;
      for (const n of this.nodes) if (n.running) await n.instance.settled();
      if (this.report.honestDeliveries === before) return;
    }
    throw new Violation('the instances never settle (adverts going back and forth at one instant)');
  }

  reachable(a: FuzzNode, b: FuzzNode): boolean {
    return a.addresses.link && b.addresses.link && !this.partitioned.has(pairKey(a, b));
  }

  /** every advert an honest router sends: well-formed, ours, to the right place */
  sent(from: FuzzNode, packet: Buffer, dst: string): void {
    from.counts.sends++;
    const d = decodeIpPacket(packet);
    if (!d.ok) throw new Violation(`${from.name} sent a packet its peers reject: ${d.reason} ${d.detail}`);
    const a = d.advert;
    const want = from.stopping ? [0, from.instance.priority] : [from.instance.priority];
    if (a.src !== from.self || a.dst !== dst || a.vrid !== this.cfg.vrid || a.version !== this.cfg.version || a.intervalMs !== this.cfg.intervalMs
      || a.addresses.join(',') !== this.cfg.vips.join(',') || !want.includes(a.priority) || a.oldUnicastChecksum) {
      throw new Violation(`${from.name} (${from.self}, priority ${from.instance.priority}) sent an advert that is not its own: ${JSON.stringify(a)}`);
    }
    const dsts = this.cfg.unicast ? this.peersOf(from.self) : [MCAST];
    if (!dsts.includes(dst)) throw new Violation(`${from.name} sent to ${dst}, expected one of ${dsts.join(',')}`);
    if (a.priority === 0 && !from.stopping) throw new Violation(`${from.name} sent priority 0 while not stopping`);
  }

  deliver(from: FuzzNode, packet: Buffer, dst: string): void {
    for (const to of this.nodes) {
      if (to === from || !to.running || !this.reachable(from, to)) continue;
      if (dst !== MCAST && dst !== to.self) continue;
      const before = to.counts.rejectedTotal;
      this.report.honestDeliveries++;
      to.counts.honest++;
      to.transport.receive(Buffer.from(packet));
      if (to.counts.rejectedTotal !== before) throw new Violation(`${to.name} rejected an advert of ${from.name}: ${[...to.counts.rejected.keys()].join(',')}`);
    }
  }

  /** a packet from outside, straight to a router; its counters must show exactly what the oracle says */
  async inject(to: FuzzNode, packet: Buffer): Promise<void> {
    this.report.hostilePackets++;
    const verdict = oracle(packet);
    const received = to.counts.received - to.counts.honest;
    const rejected = to.counts.rejectedTotal;
    const snapshot = new Map(to.counts.rejected);
    const before = electionOf(to);
    const sends = to.counts.sends;
    const garps = to.addresses.announced;
    to.transport.receive(packet);
    await this.settle();
    /** a dropped packet changes nothing: not the election's state, no advert, no ARP */
    const unchanged = (what: string): void => {
      const after = electionOf(to);
      if (after !== before || to.counts.sends !== sends || to.addresses.announced !== garps) {
        throw new Violation(`${what} to ${to.name} changed it: ${before} -> ${after}, adverts +${to.counts.sends - sends}, GARP +${to.addresses.announced - garps}`);
      }
    };
    const dRec = to.counts.received - to.counts.honest - received;
    const dRej = to.counts.rejectedTotal - rejected;
    const reasons = [...to.counts.rejected].filter(([k, v]) => v !== (snapshot.get(k) ?? 0)).map(([k]) => k);
    if (!verdict.ok) {
      if (dRec !== 0 || dRej !== 1 || reasons[0] !== verdict.reason) {
        throw new Violation(`malformed packet (${verdict.reason}) to ${to.name}: received +${dRec}, rejected +${dRej} ${reasons.join(',')}`);
      }
      unchanged(`a malformed packet (${verdict.reason})`);
      return;
    }
    const election = verdict.vrid !== this.cfg.vrid || verdict.src === to.self ? undefined
      : verdict.version !== this.cfg.version ? 'version'
        : verdict.addresses.join(',') !== this.cfg.vips.join(',') ? 'addresses'
          : this.cfg.version === 2 && verdict.intervalMs !== this.cfg.intervalMs ? 'interval' : undefined;
    if (dRec !== 1 || dRej !== (election ? 1 : 0) || (election !== undefined && reasons[0] !== election)) {
      throw new Violation(`valid advert to ${to.name} (expected ${election ?? 'no'} rejection): received +${dRec}, rejected +${dRej} ${reasons.join(',')}`);
    }
    for (const r of reasons) if (!ELECTION_REASONS.has(r)) throw new Violation(`a valid advert counted as ${r}`);
    if (election !== undefined || verdict.vrid !== this.cfg.vrid || verdict.src === to.self) {
      unchanged(`an advert ignored (${election ?? (verdict.src === to.self ? 'own address' : 'another VRID')})`);
    }
  }

  private checks = 0;

  /** invariants that hold after every case */
  check(always = false): void {
    const now = this.clock.now();
    const deep = always || (this.checks++ & 15) === 0; // the footprint walk every 16th time: growth shows all the same
    for (const n of this.nodes) {
      if (!n.running) continue;
      const st = n.instance.state;
      if (!STATES.includes(st)) throw new Violation(`${n.name}: state ${String(st)}`);
      if (st === 'init') throw new Violation(`${n.name}: started but in INIT`);
      if (n.addresses.holds !== (st === 'master')) throw new Violation(`${n.name}: ${st} but ${n.addresses.holds ? 'holds' : 'does not hold'} the VIPs`);
      if (now >= n.linkChangedAt + this.cfg.linkPollMs && (st === 'fault') === n.addresses.link) {
        throw new Violation(`${n.name}: link ${n.addresses.link ? 'up' : 'down'} since ${now - n.linkChangedAt}ms, state ${st}`);
      }
      const p = n.instance.priority;
      if (!Number.isInteger(p) || p < 1 || p > 255 || (p === 255 && n.priority !== 255)) throw new Violation(`${n.name}: priority ${p} (configured ${n.priority})`);
      if (n.clock.live > 2) throw new Violation(`${n.name}: ${n.clock.live} timers (at most the election's and the link poll)`);
      if (n.clock.live < 1) throw new Violation(`${n.name}: no link poll scheduled`);
      if (st === 'master' || st === 'backup') {
        if (n.clock.live !== 2) throw new Violation(`${n.name}: ${st} without its advert / master-down timer`);
      }
      // rates: adverts and gratuitous ARP bounded by time and transitions, never by packets received
      const elapsed = now - n.startedAt;
      const dsts = this.cfg.unicast ? this.peersOf(n.self).length : 1;
      const adverts = n.counts.sends / dsts;
      const bound = 2 * Math.floor(elapsed / this.cfg.intervalMs) + 3 * n.counts.masterEntries + n.counts.priorityEvents + 2;
      if (adverts > bound) throw new Violation(`${n.name}: ${adverts} adverts in ${elapsed}ms (${n.counts.masterEntries} times master), more than ${bound}`);
      const garpBound = 2 * n.counts.masterEntries + Math.floor(elapsed / REASSERT_MIN_GAP_MS) + 1;
      if (n.addresses.announced > garpBound) throw new Violation(`${n.name}: ${n.addresses.announced} gratuitous ARP bursts in ${elapsed}ms, more than ${garpBound}`);
      // nothing grows with what it is sent: the instance's own data stays small
      const size = deep ? footprint(n.instance) : 0;
      if (size > 96 + 2 * this.cfg.vips.length) throw new Violation(`${n.name}: its data holds ${size} entries`);
    }
    if (this.violations.length > 0) throw new Violation(this.violations[0]!);
    if (this.errors.length > 0) throw new Violation(`error logged: ${this.errors[0]}`);
    if (this.clock.live > 2 * this.nodes.length) throw new Violation(`${this.clock.live} live timers for ${this.nodes.length} routers`);
  }

  /** hostile traffic stops, links come up, partitions heal; after long enough one honest master */
  async checkpoint(): Promise<void> {
    this.report.checkpoints++;
    this.note('checkpoint');
    this.partitioned.clear();
    for (const n of this.nodes) {
      n.transport.fail = false;
      if (!n.addresses.link) {
        n.addresses.link = true;
        n.linkChangedAt = this.clock.now();
      }
    }
    // the link polls see the links up; then the longest master-down timer already running (one set by a
    // hostile advert's interval may be minutes away) runs out, and an election at the honest interval follows
    const t0 = this.clock.now();
    await this.clock.advance(2 * this.cfg.linkPollMs + 1, () => this.settle());
    const now = this.clock.now();
    const pending = Math.max(0, ...this.nodes.map((n) => ((n.instance as unknown as { s?: { masterDownAt?: number } }).s?.masterDownAt ?? now) - now));
    const maxDelay = Math.max(...this.nodes.map((n) => n.preemptDelayMs));
    await this.clock.advance(pending + maxDelay + 8 * this.cfg.intervalMs + 2 * this.cfg.linkPollMs + 100, () => this.settle());
    const quiet = this.clock.now() - t0;
    this.check(true);
    const masters = this.nodes.filter((n) => n.instance.state === 'master');
    if (masters.length !== 1) throw new Violation(`${masters.length} masters after ${quiet}ms of quiet:\n${this.describe()}`);
    if (this.nodes.every((n) => n.preempt)) {
      const top = Math.max(...this.nodes.map((n) => n.instance.priority));
      if (masters[0]!.instance.priority !== top) {
        throw new Violation(`master ${masters[0]!.name} has priority ${masters[0]!.instance.priority}, another router ${top} (all preempt)`);
      }
    }
    if (this.nodes.filter((n) => n.addresses.holds).length !== 1) throw new Violation('the VIPs are not on exactly one router');
  }

  /** a well-formed advert with hostile content, as a whole IPv4 packet */
  hostileAdvert(to: FuzzNode): { packet: Buffer; what: string } {
    const rng = this.rng;
    const c = this.cfg;
    const others = this.nodes.filter((n) => n !== to);
    const srcRoll = rng.int(10);
    const src = srcRoll === 0 ? to.self : srcRoll === 1 && others.length > 0 ? rng.pick(others).self : u32ToIp(randomTestNet(rng));
    const prRoll = rng.int(8);
    const priority = prRoll === 0 ? 255 : prRoll === 1 ? 0 : prRoll === 2 ? to.instance.priority : prRoll === 3 ? Math.max(1, to.instance.priority - 1)
      : prRoll === 4 ? Math.min(254, to.instance.priority + 1) : prRoll === 5 ? 1 : rng.range(1, 254);
    const vrid = rng.chance(0.12) ? ((c.vrid + rng.range(1, 254)) % 255) + 1 : c.vrid;
    const version = rng.chance(0.06) ? (c.version === 3 ? 2 : 3) : c.version;
    let addresses = c.vips.map(ipToU32);
    const aRoll = rng.int(20); // a quarter with another address list
    if (aRoll === 0 && addresses.length > 1) addresses = addresses.slice(0, -1);
    else if (aRoll === 1) addresses = [...addresses, randomTestNet(rng)];
    else if (aRoll === 2 && addresses.length > 1) addresses = [...addresses].reverse();
    else if (aRoll === 3) addresses = [randomTestNet(rng)];
    else if (aRoll === 4) addresses = [...addresses, addresses[0]!];
    let interval: number;
    if (version === 2) interval = rng.chance(0.8) ? c.intervalMs / 1000 : rng.range(1, 255);
    else {
      const r = rng.int(10);
      // the world's, any, the shortest and the longest (a backup adopts it: minutes of master-down time)
      const cs = r < 7 ? Math.max(1, Math.round(c.intervalMs / 10)) : r < 8 ? rng.range(1, 4095) : r === 8 ? 1 : rng.chance(0.3) ? 4095 : rng.range(1, 300);
      interval = (rng.chance(0.1) ? rng.int(16) << 12 : 0) | cs;
    }
    const dst = c.unicast ? ipToU32(to.self) : MCAST_U32;
    const old = version === 3 && c.unicast && rng.chance(0.2);
    const spec: AdvertSpec = { version, type: 1, vrid, priority, count: addresses.length, addresses, interval, authType: 0, checksum: old ? 'old' : 'rfc' };
    const ip: IpSpec = { src: ipToU32(src), dst, ttl: rng.chance(0.05) ? 254 : 255, proto: 112, optionWords: rng.chance(0.05) ? 1 : 0, total: 'correct', padding: 0 };
    return {
      packet: ipPacket(vrrpMessage(spec, ip.src, ip.dst, rng), ip, rng),
      what: `advert v${version} vrid ${vrid} prio ${priority} from ${src}${ip.ttl !== 255 ? ' ttl 254' : ''} int ${interval} addrs ${aRoll} -> ${to.name}`,
    };
  }

  /** one stimulus and its checks */
  async stimulus(): Promise<string> {
    const rng = this.rng;
    const live = this.nodes.filter((n) => n.running);
    const to = rng.pick(live);
    const r = rng.int(1000);
    if (r < 460) {
      const h = this.hostileAdvert(to);
      this.note(h.what);
      await this.inject(to, h.packet);
      return 'hostile_advert';
    }
    if (r < 580) {
      const c = codecCase(rng);
      if (c.bare) return this.stimulus(); // bare messages never reach an instance
      this.note(`malformed ${c.kind} (${c.packet.length} bytes) -> ${to.name}`);
      await this.inject(to, c.packet);
      return 'malformed_packet';
    }
    if (r < 600) {
      // a flood from many sources at one instant
      const k = rng.chance(0.8) ? rng.range(10, 60) : rng.range(61, 300);
      this.note(`flood of ${k} -> ${to.name}`);
      const sends = to.counts.sends;
      const garps = to.addresses.announced;
      const wasMaster = to.instance.state === 'master';
      for (let i = 0; i < k; i++) {
        const h = this.hostileAdvert(to);
        this.report.hostilePackets++;
        to.transport.receive(h.packet);
      }
      await this.settle();
      const dsts = this.cfg.unicast ? this.peersOf(to.self).length : 1;
      if ((to.counts.sends - sends) / dsts > 1) throw new Violation(`${to.name} answered a flood of ${k} with ${(to.counts.sends - sends) / dsts} adverts`);
      if (to.addresses.announced - garps > 1) throw new Violation(`${to.name} answered a flood of ${k} with ${to.addresses.announced - garps} GARP bursts`);
      if (!wasMaster && to.addresses.announced !== garps) throw new Violation(`${to.name} announced the VIPs as a backup`);
      return 'flood';
    }
    if (r < 880) {
      const roll = rng.int(10);
      const ms = roll < 6 ? rng.int(this.cfg.intervalMs + 1) : roll < 9 ? rng.int(4 * this.cfg.intervalMs + 1) : rng.int(15_000);
      this.note(`time +${ms}ms`);
      await this.clock.advance(ms, () => this.settle());
      return 'time';
    }
    if (r < 910) {
      to.addresses.link = !to.addresses.link;
      to.linkChangedAt = this.clock.now();
      this.note(`link ${to.name} ${to.addresses.link ? 'up' : 'down'}`);
      return 'link';
    }
    if (r < 925 && this.nodes.length > 1) {
      const [a, b] = [rng.pick(this.nodes), rng.pick(this.nodes)];
      if (a !== b) {
        const key = pairKey(a, b);
        if (this.partitioned.has(key)) this.partitioned.delete(key);
        else this.partitioned.add(key);
        this.note(`partition ${key} ${this.partitioned.has(key) ? 'on' : 'off'}`);
      }
      return 'partition';
    }
    if (r < 955) {
      const roll = rng.int(8);
      const p = roll === 0 ? Number.NaN : roll === 1 ? rng.range(-300, 0) : roll === 2 ? rng.range(255, 600) : roll === 3 ? rng.range(1, 254) + 0.5
        : roll === 4 ? Number.POSITIVE_INFINITY : roll === 5 ? to.priority : to.priority - rng.range(1, 100);
      this.note(`tracked priority ${to.name} ${p}`);
      to.counts.priorityEvents++;
      to.instance.setTrackedPriority(p);
      await this.settle();
      return 'priority';
    }
    if (r < 970) {
      to.transport.fail = !to.transport.fail;
      this.note(`sends of ${to.name} ${to.transport.fail ? 'fail' : 'work'}`);
      return 'send_failure';
    }
    if (r < 977) {
      this.note(`restart ${to.name}`);
      const wasMaster = to.instance.state === 'master';
      const sends = to.counts.sends;
      await to.stop();
      if (to.addresses.holds) throw new Violation(`${to.name} stopped and still holds the VIPs`);
      if (to.clock.live !== 0) throw new Violation(`${to.name} stopped with ${to.clock.live} timers left`);
      if (!to.transport.closed || !to.addresses.closed) throw new Violation(`${to.name} stopped without closing its transport and address manager`);
      if (wasMaster && to.counts.sends === sends) throw new Violation(`${to.name} stopped as master without a priority-0 advert`);
      const tracked = rng.chance(0.4) ? rng.pick([Number.NaN, 0, 300, rng.range(1, 254), to.priority - rng.range(1, 100)]) : undefined;
      if (tracked !== undefined) this.note(`  tracked priority ${tracked} during its start`);
      await to.restart(tracked);
      await this.settle();
      // what tracking reported during start() holds (clamped as the election clamps it; NaN: unchanged)
      const want = tracked === undefined || Number.isNaN(tracked) ? to.priority
        : to.priority === 255 && tracked >= 255 ? 255 : Math.max(1, Math.min(254, Math.round(tracked)));
      if (to.instance.priority !== want) throw new Violation(`${to.name} restarted with tracked priority ${tracked}: advertises ${to.instance.priority}, expected ${want}`);
      return 'restart';
    }
    if (r < 980) {
      await this.checkpoint();
      return 'checkpoint';
    }
    // the codec alone, with the oracle (cheap; keeps the codec share high in worlds too)
    return this.codec();
  }

  codec(): string {
    const c = codecCase(this.rng);
    this.report.codecKinds[c.kind] = (this.report.codecKinds[c.kind] ?? 0) + 1;
    const { decoded, failure } = checkCodecCase(c);
    this.tally(this.report.codecVerdicts, decoded.ok ? 'accepted' : decoded.reason);
    if (failure) throw new Violation(`codec ${c.kind} ${c.packet.toString('hex').slice(0, 400)}${c.bare ? ` (${c.bare.src} -> ${c.bare.dst} ttl ${c.bare.ttl})` : ''}: ${failure}`);
    return 'codec';
  }

  async start(): Promise<void> {
    for (const n of this.nodes) await n.start();
    await this.settle();
  }

  /** the end of a world: everyone stops cleanly */
  async end(): Promise<void> {
    for (const n of this.nodes) {
      if (!n.running) continue;
      const wasMaster = n.instance.state === 'master';
      const sends = n.counts.sends;
      await n.stop();
      if (n.addresses.holds) throw new Violation(`${n.name} stopped and still holds the VIPs`);
      if (n.clock.live !== 0) throw new Violation(`${n.name} stopped with ${n.clock.live} timers left`);
      if (wasMaster && n.addresses.link && !n.transport.fail && n.counts.sends === sends) throw new Violation(`${n.name} stopped as master without a priority-0 advert`);
    }
    await this.settle();
  }

  /** the routers as they are now, for a failure report */
  describe(): string {
    const c = this.cfg;
    return [`    v${c.version} vrid ${c.vrid} interval ${c.intervalMs}ms ${c.unicast ? 'unicast' : 'multicast'} vips ${c.vips.join(',')} at t=${this.clock.now()}`,
      ...this.nodes.map((n) => `    ${n.name} ${n.self} prio ${n.priority}${n.preempt ? '' : ' nopreempt'} delay ${n.preemptDelayMs}: ${n.instance.state}/${n.instance.priority} `
        + `link ${n.addresses.link ? 'up' : 'down'} sends ${n.counts.sends} ${electionOf(n)}`)].join('\n');
  }

  trace(): string[] {
    return this.steps.map((s) => `#${s.n} ${s.what}`);
  }
}

/** the instance's election state, as text (private to it: read here only to compare and report) */
const electionOf = (n: FuzzNode): string => JSON.stringify((n.instance as unknown as { s: unknown }).s);

const pairKey = (a: FuzzNode, b: FuzzNode): string => (a.name < b.name ? `${a.name}|${b.name}` : `${b.name}|${a.name}`);

/** entries in the Maps, Sets, arrays and objects an instance holds (its dependencies excluded) */
function footprint(instance: VrrpInstance): number {
  const seen = new Set<unknown>();
  const walk = (v: unknown, depth: number): number => {
    if (v === null || typeof v !== 'object' || seen.has(v) || depth > 5 || v instanceof Promise) return 0;
    seen.add(v);
    if (v instanceof Map) {
      let n = v.size;
      for (const [k, x] of v) n += walk(k, depth + 1) + walk(x, depth + 1);
      return n;
    }
    if (v instanceof Set) {
      let n = v.size;
      for (const x of v) n += walk(x, depth + 1);
      return n;
    }
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v);
    let n = entries.length;
    for (const [, x] of entries) n += walk(x, depth + 1);
    return n;
  };
  let n = 0;
  for (const [k, v] of Object.entries(instance)) if (k !== 'deps') n += 1 + walk(v, 1);
  return n;
}

// ---------------------------------------------------------------------------------------------
// the run

export interface FuzzOptions {
  readonly cases: number;
  readonly seed: number;
  /** stop after this many failures (default 5) */
  readonly maxFailures?: number;
  /** called every `progressEvery` cases */
  readonly onProgress?: (done: number, elapsedMs: number) => void;
  readonly progressEvery?: number;
}

/** Run `cases` fuzz cases from `seed`. Never throws for a finding: failures are in the report. */
export async function runVrrpFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const rng = new Rng(opts.seed);
  const maxFailures = opts.maxFailures ?? 5;
  const failures: FuzzFailure[] = [];
  const report: MutableReport = {
    codecKinds: {}, codecVerdicts: {}, instanceRejected: {}, stimuli: {}, stimuliMs: {}, transitions: {}, worlds: 0, checkpoints: 0, honestDeliveries: 0, hostilePackets: 0,
  };
  const t0 = performance.now();
  let world: World | undefined;
  let worldLeft = 0;
  let i = 0;
  const fail = (kind: string, e: unknown, trace: string[]): void => {
    const message = e instanceof Violation ? e.message : e instanceof Error ? `threw: ${e.stack ?? e.message}` : `threw: ${String(e)}`;
    failures.push({ seed: opts.seed, case: i, kind, message, trace });
  };
  for (; i < opts.cases && failures.length < maxFailures; i++) {
    if (opts.onProgress && opts.progressEvery && i > 0 && i % opts.progressEvery === 0) opts.onProgress(i, performance.now() - t0);
    // about half the cases are the codec alone; the rest are stimuli to a world of routers
    if (rng.chance(0.45)) {
      try {
        const c = codecCase(rng);
        report.codecKinds[c.kind] = (report.codecKinds[c.kind] ?? 0) + 1;
        const { decoded, failure } = checkCodecCase(c);
        report.codecVerdicts[decoded.ok ? 'accepted' : decoded.reason] = (report.codecVerdicts[decoded.ok ? 'accepted' : decoded.reason] ?? 0) + 1;
        if (failure) {
          fail('codec', new Violation(`${c.kind} ${c.packet.toString('hex').slice(0, 400)}${c.bare ? ` (${c.bare.src} -> ${c.bare.dst} ttl ${c.bare.ttl})` : ''}: ${failure}`), []);
        }
      } catch (e) {
        fail('codec', e, []);
      }
      continue;
    }
    let kind = 'world';
    try {
      if (!world || worldLeft <= 0) {
        if (world) {
          kind = 'world_end';
          await world.checkpoint();
          await world.end();
          world.check();
        }
        world = new World(new Rng(rng.u32()), report);
        report.worlds++;
        worldLeft = rng.range(50, 1500);
        kind = 'world_start';
        await world.start();
        world.check();
      }
      worldLeft--;
      const ts = performance.now();
      kind = await world.stimulus();
      world.check();
      report.stimuli[kind] = (report.stimuli[kind] ?? 0) + 1;
      report.stimuliMs[kind] = (report.stimuliMs[kind] ?? 0) + performance.now() - ts;
    } catch (e) {
      fail(kind, e, world?.trace() ?? []);
      world = undefined; // a broken world is not continued
    }
  }
  if (world && failures.length < maxFailures) {
    try {
      await world.checkpoint();
      await world.end();
    } catch (e) {
      fail('world_end', e, world.trace());
    }
  }
  const elapsedMs = performance.now() - t0;
  return {
    seed: opts.seed, cases: i, elapsedMs, casesPerSecond: Math.round(i / (elapsedMs / 1000)), failures,
    codecKinds: report.codecKinds, codecVerdicts: report.codecVerdicts, instanceRejected: report.instanceRejected, stimuli: report.stimuli,
    stimuliMs: Object.fromEntries(Object.entries(report.stimuliMs).map(([k, v]) => [k, Math.round(v)])),
    transitions: report.transitions, worlds: report.worlds, checkpoints: report.checkpoints, honestDeliveries: report.honestDeliveries,
    hostilePackets: report.hostilePackets,
  };
}

/** the report as text (what the script prints) */
export function formatReport(r: FuzzReport): string {
  const table = (title: string, t: Record<string, number>): string => {
    const rows = Object.entries(t).sort((a, b) => b[1] - a[1]);
    const w = Math.max(0, ...rows.map(([k]) => k.length));
    return `${title}\n${rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n')}`;
  };
  const lines = [
    `seed ${r.seed}: ${r.cases} cases in ${(r.elapsedMs / 1000).toFixed(1)} s, ${r.casesPerSecond} cases/s`,
    `${r.worlds} worlds, ${r.checkpoints} checkpoints, ${r.hostilePackets} hostile/malformed packets to instances, ${r.honestDeliveries} adverts between honest routers`,
    table('codec verdicts (accepted or reject reason):', r.codecVerdicts),
    table('codec cases by kind:', r.codecKinds),
    table('instances: packets counted as rejected, by reason:', r.instanceRejected),
    table('world stimuli:', r.stimuli),
    table('world stimuli, ms spent (with their checks):', r.stimuliMs),
    table('transitions:', r.transitions),
  ];
  if (r.failures.length === 0) lines.push('no failures');
  for (const f of r.failures) {
    lines.push(`FAILURE seed ${f.seed} case ${f.case} (${f.kind}): ${f.message}`);
    if (f.trace.length > 0) lines.push(`  last stimuli of that world:\n${f.trace.map((t) => `    ${t}`).join('\n')}`);
    lines.push(`  reproduce: node --import tsx test/fuzz/vrrp-fuzz.ts --seed ${f.seed} --cases ${f.case + 1}`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cases: { type: 'string', default: '1000000' },
      seed: { type: 'string' },
      'max-failures': { type: 'string', default: '5' },
    },
  });
  const cases = Number(values.cases);
  const seed = values.seed !== undefined ? Number(values.seed) : (Date.now() ^ (process.pid << 16)) >>> 0;
  if (!Number.isInteger(cases) || cases < 0 || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    process.stderr.write('usage: node --import tsx test/fuzz/vrrp-fuzz.ts [--cases N] [--seed 0..4294967295] [--max-failures N]\n');
    process.exit(2);
  }
  process.stdout.write(`vrrp fuzz: seed ${seed}, ${cases} cases\n`);
  const every = Math.max(1000, Math.round(cases / 20));
  const r = await runVrrpFuzz({
    cases, seed, maxFailures: Number(values['max-failures']), progressEvery: every,
    onProgress: (done, ms) => process.stdout.write(`  ${done} cases, ${Math.round(done / (ms / 1000))} cases/s\n`),
  });
  process.stdout.write(`${formatReport(r)}\n`);
  process.exitCode = r.failures.length > 0 ? 1 : 0;
}

const invoked = process.argv[1] !== undefined && (() => {
  try {
    return realpathSync(process.argv[1]!) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (invoked) await main();
