/**
 * The VRRP codec, on the bytes keepalived 2.2.7 sent on this machine (shared/research/vrrp.md
 * §2.2), and every rejection reason. Random, mutated and hostile packets: test/fuzz/vrrp-fuzz.ts
 * (run in CI by vrrp-fuzz.test.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  decodeAdvert, decodeIpPacket, encodeAdvert, encodeIpPacket, inetChecksum, type Advert, type RejectReason,
} from '../../src/vrrp/packet.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SRC = '192.0.2.11';
const MCAST = '224.0.0.18';
const PEER = '192.0.2.12';
const advert = (version: 2 | 3): Advert => ({ version, vrid: 51, priority: 100, intervalMs: 1000, addresses: ['192.0.2.100'] });

describe('keepalived 2.2.7 adverts', () => {
  const cases = [
    { name: 'v2 multicast', version: 2 as const, dst: MCAST, bytes: '21 33 64 01 00 01 b8 65 c0000264 0000000000000000' },
    { name: 'v2 unicast', version: 2 as const, dst: PEER, bytes: '21 33 64 01 00 01 b8 65 c0000264 0000000000000000' },
    { name: 'v3 multicast', version: 3 as const, dst: MCAST, bytes: '31 33 64 01 0064 0568 c0000264' },
    { name: 'v3 unicast', version: 3 as const, dst: PEER, bytes: '31 33 64 01 0064 236e c0000264' },
  ];
  it.each(cases)('decodes $name', ({ version, dst, bytes }) => {
    const r = decodeAdvert(hex(bytes), SRC, dst, 255);
    expect(r).toEqual({ ok: true, advert: { ...advert(version), src: SRC, dst, oldUnicastChecksum: false } });
  });
  it.each(cases)('encodes $name to the same bytes', ({ version, dst, bytes }) => {
    expect(encodeAdvert(advert(version), SRC, dst).toString('hex')).toBe(hex(bytes).toString('hex'));
  });

  it('accepts the old unicast v3 checksum (224.0.0.18 in the pseudo-header) and says so', () => {
    const r = decodeAdvert(hex('31 33 64 01 0064 0568 c0000264'), SRC, PEER, 255);
    expect(r).toMatchObject({ ok: true, advert: { oldUnicastChecksum: true } });
  });

  it('refuses a v3 checksum computed without the pseudo-header', () => {
    expect(decodeAdvert(hex('31 33 64 01 0064 a802 c0000264'), SRC, MCAST, 255)).toMatchObject({ ok: false, reason: 'checksum' });
  });

  it('round-trips a whole IP packet (IP_HDRINCL form: TOS 0xc0, TTL 255, protocol 112)', () => {
    const a: Advert = { version: 3, vrid: 7, priority: 255, intervalMs: 100, addresses: ['192.0.2.100', '192.0.2.101'] };
    const pkt = encodeIpPacket(a, SRC, MCAST);
    expect(pkt.subarray(0, 2).toString('hex')).toBe('45c0');
    expect(pkt[8]).toBe(255);
    expect(pkt[9]).toBe(112);
    expect(decodeIpPacket(pkt)).toEqual({ ok: true, advert: { ...a, src: SRC, dst: MCAST, oldUnicastChecksum: false } });
  });
});

describe('rejections, each with its reason', () => {
  const v2 = (): Buffer => encodeAdvert(advert(2), SRC, MCAST);
  const v3 = (): Buffer => encodeAdvert(advert(3), SRC, MCAST);
  /** edit bytes, then fix the checksum so only the edit is wrong */
  const edited = (b: Buffer, edit: (b: Buffer) => void, version: 2 | 3 = 2): Buffer => {
    edit(b);
    b.writeUInt16BE(0, 6);
    const pseudo = Buffer.concat([hex('c000020b e0000012 00 70'), Buffer.from([b.length >> 8, b.length & 0xff])]);
    b.writeUInt16BE(version === 2 ? inetChecksum(b) : inetChecksum(pseudo, b), 6);
    return b;
  };
  const cases: { name: string; reason: RejectReason; run: () => ReturnType<typeof decodeAdvert> }[] = [
    { name: 'TTL 64', reason: 'ttl', run: () => decodeAdvert(v2(), SRC, MCAST, 64) },
    { name: 'TTL 1 (multicast TTL left at its default)', reason: 'ttl', run: () => decodeAdvert(v3(), SRC, MCAST, 1) },
    { name: '7 bytes', reason: 'too_short', run: () => decodeAdvert(v3().subarray(0, 7), SRC, MCAST, 255) },
    { name: 'v2 without its 8 auth bytes', reason: 'too_short', run: () => decodeAdvert(v2().subarray(0, 12), SRC, MCAST, 255) },
    { name: 'trailing bytes', reason: 'length', run: () => decodeAdvert(Buffer.concat([v3(), Buffer.alloc(4)]), SRC, MCAST, 255) },
    { name: 'version 4', reason: 'version', run: () => decodeAdvert(edited(v2(), (b) => { b[0] = 0x41; }), SRC, MCAST, 255) },
    { name: 'type 2', reason: 'type', run: () => decodeAdvert(edited(v2(), (b) => { b[0] = 0x22; }), SRC, MCAST, 255) },
    { name: 'VRID 0', reason: 'vrid', run: () => decodeAdvert(edited(v2(), (b) => { b[1] = 0; }), SRC, MCAST, 255) },
    { name: 'count 0', reason: 'address_count', run: () => decodeAdvert(edited(v3(), (b) => { b[3] = 0; }, 3), SRC, MCAST, 255) },
    { name: 'count 2 with one address', reason: 'too_short', run: () => decodeAdvert(edited(v3(), (b) => { b[3] = 2; }, 3), SRC, MCAST, 255) },
    { name: 'v2 interval 0', reason: 'interval', run: () => decodeAdvert(edited(v2(), (b) => { b[5] = 0; }), SRC, MCAST, 255) },
    { name: 'v3 interval 0', reason: 'interval', run: () => decodeAdvert(edited(v3(), (b) => { b[4] = 0xf0; b[5] = 0; }, 3), SRC, MCAST, 255) },
    { name: 'v2 simple-password auth', reason: 'auth', run: () => decodeAdvert(edited(v2(), (b) => { b[4] = 1; }), SRC, MCAST, 255) },
    { name: 'v2 bad checksum', reason: 'checksum', run: () => decodeAdvert(Buffer.from(v2().map((x, i) => (i === 6 ? x ^ 1 : x))), SRC, MCAST, 255) },
    { name: 'v3 checksum for another destination', reason: 'checksum', run: () => decodeAdvert(encodeAdvert(advert(3), SRC, '192.0.2.13'), SRC, PEER, 255) },
    { name: 'IP packet of another protocol', reason: 'not_vrrp', run: () => decodeIpPacket(Buffer.from(encodeIpPacket(advert(3), SRC, MCAST).map((x, i) => (i === 9 ? 6 : x)))) },
    { name: 'IPv6 header', reason: 'ip_header', run: () => decodeIpPacket(Buffer.from(encodeIpPacket(advert(3), SRC, MCAST).map((x, i) => (i === 0 ? 0x60 : x)))) },
    { name: 'header length past the end', reason: 'ip_header', run: () => decodeIpPacket(Buffer.from([0x4f, ...Buffer.alloc(30)])) },
    { name: 'v2 with an IPv6 source (VRRP over IPv6 is not supported)', reason: 'ip_header', run: () => decodeAdvert(v2(), '2001:db8::1', MCAST, 255) },
    { name: 'v3 to an IPv6 group', reason: 'ip_header', run: () => decodeAdvert(v3(), SRC, 'ff02::12', 255) },
  ];
  it.each(cases)('$name → $reason', ({ reason, run }) => {
    expect(run()).toMatchObject({ ok: false, reason });
  });

  it('refuses to encode what it could not send', () => {
    expect(() => encodeAdvert({ ...advert(2), intervalMs: 1500 }, SRC, MCAST)).toThrow(/whole seconds/);
    expect(() => encodeAdvert({ ...advert(3), intervalMs: 5 }, SRC, MCAST)).toThrow(/centiseconds/);
    expect(() => encodeAdvert({ ...advert(3), vrid: 0 }, SRC, MCAST)).toThrow(/vrid/);
    expect(() => encodeAdvert({ ...advert(3), addresses: [] }, SRC, MCAST)).toThrow(/addresses/);
    expect(() => encodeAdvert({ ...advert(3), addresses: ['2001:db8::1'] }, SRC, MCAST)).toThrow(/IPv4/);
  });
});
