/**
 * Two VRRP instances talking over the UDP transport (the same IPv4+VRRP bytes as on the wire,
 * no privileges): election, handover on stop, FAULT while the link is down, and a malformed
 * packet counted and dropped. Addresses are recorded by an in-memory address manager.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import type { AddressManager } from '../../src/vrrp/addresses.js';
import type { VrrpState } from '../../src/vrrp/election.js';
import { VrrpInstance, type VrrpObserver } from '../../src/vrrp/instance.js';
import { VRRP_MULTICAST_V4, decodeIpPacket } from '../../src/vrrp/packet.js';
import { UdpVrrpTransport, type VrrpTransport } from '../../src/vrrp/transport.js';
import { FakeClock } from '../support/fake-clock.js';

class RecordingAddresses implements AddressManager {
  holds = false;
  link = true;
  announced = 0;
  private readonly self: string;
  constructor(self: string) {
    this.self = self;
  }
  async primaryAddress(): Promise<string> { return this.self; }
  linkUp(): boolean { return this.link; }
  async add(): Promise<void> { this.holds = true; }
  async remove(): Promise<void> { this.holds = false; }
  announce(): void { this.announced++; }
  close(): void {}
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (cond: () => boolean, ms: number, what: string): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
};

const running: VrrpInstance[] = [];
afterEach(async () => {
  for (const i of running.splice(0)) await i.stop();
});

async function pair(opts: { preempt?: boolean; intervalMs?: number } = {}) {
  // two routers on loopback ports; "224.0.0.18" reaches both
  const routes = new Map<string, number[]>();
  const ta = await UdpVrrpTransport.open(0, routes);
  const tb = await UdpVrrpTransport.open(0, routes);
  routes.set(VRRP_MULTICAST_V4, [ta.port, tb.port]);
  const rejected: string[] = [];
  const make = (t: UdpVrrpTransport, self: string, priority: number, addresses: RecordingAddresses) => {
    const observer: VrrpObserver = { rejected: (reason) => rejected.push(reason) };
    const i = new VrrpInstance({
      settings: {
        vrid: 51, priority, version: 3, intervalMs: opts.intervalMs ?? 100, preempt: opts.preempt ?? true, preemptDelayMs: 0,
        unicastPeers: [], virtualAddresses: ['192.0.2.100/24'],
      },
      transport: t, addresses, clock: systemClock, log: silentLogger(), observer, linkPollMs: 20,
    });
    running.push(i);
    return i;
  };
  const addrA = new RecordingAddresses('198.51.100.2');
  const addrB = new RecordingAddresses('198.51.100.3');
  const a = make(ta, '198.51.100.2', 150, addrA);
  const b = make(tb, '198.51.100.3', 100, addrB);
  return { a, b, addrA, addrB, ta, tb, rejected };
}

describe('VRRP instances over UDP', () => {
  it('elects the higher priority; the other stays BACKUP; a stop hands over within the skew time', { timeout: 20_000 }, async () => {
    // 1 s adverts: skew 0.61 s against a Master_Down_Interval of 3.61 s, far apart even on a busy machine
    const { a, b, addrA, addrB } = await pair({ intervalMs: 1000 });
    await a.start();
    await b.start();
    await until(() => a.state === 'master' && b.state === 'backup', 6000, 'a MASTER, b BACKUP');
    expect(addrA.holds).toBe(true);
    expect(addrA.announced).toBeGreaterThan(0);
    await sleep(1500); // adverts keep b BACKUP
    expect(b.state).toBe('backup');
    expect(addrB.holds).toBe(false);
    const t0 = Date.now();
    await a.stop();
    running.splice(running.indexOf(a), 1);
    expect(addrA.holds).toBe(false);
    await until(() => b.state === 'master', 4000, 'b MASTER');
    expect(Date.now() - t0).toBeLessThan(2500); // the skew time (0.61 s), not Master_Down_Interval (3.61 s)
    expect(addrB.holds).toBe(true);
  });

  it('goes to FAULT while its link is down (VIPs removed), and comes back', async () => {
    const { a, b, addrA } = await pair();
    await a.start();
    await b.start();
    await until(() => a.state === 'master', 3000, 'a MASTER');
    addrA.link = false;
    await until(() => a.state === 'fault', 1000, 'a FAULT');
    expect(addrA.holds).toBe(false);
    await until(() => b.state === 'master', 2000, 'b MASTER');
    addrA.link = true;
    await until(() => a.state === 'master' && b.state === 'backup', 3000, 'a MASTER again (preempt)');
  });

  it('counts and drops a malformed packet, and keeps running', async () => {
    const { a, b, ta, rejected } = await pair();
    await a.start();
    await b.start();
    await until(() => a.state === 'master', 3000, 'a MASTER');
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.send(Buffer.from('45c0001c0000000040700000c0000201e0000012deadbeef', 'hex'), ta.port, '127.0.0.1', () => r()));
    s.close();
    await until(() => rejected.length > 0, 1000, 'a rejection');
    expect(rejected[0]).toBe('ttl');
    await sleep(300);
    expect(a.state).toBe('master');
    expect(b.state).toBe('backup');
  });
});

/** packets kept in memory: what the instance sent, and a way to hand it packets */
class MemoryTransport implements VrrpTransport {
  readonly sent: Buffer[] = [];
  private handler: ((p: Buffer) => void) | undefined;
  async send(packet: Buffer): Promise<void> { this.sent.push(packet); }
  onPacket(fn: (p: Buffer) => void): void { this.handler = fn; }
  onError(): void {}
  close(): void {}
  inject(p: Buffer): void { this.handler?.(p); }
}

describe('VRRP instance on a fake clock', () => {
  function single(addresses: AddressManager, observer: VrrpObserver = {}, priority = 100) {
    const clock = new FakeClock();
    const transport = new MemoryTransport();
    const i = new VrrpInstance({
      settings: { vrid: 51, priority, version: 3, intervalMs: 1000, preempt: true, preemptDelayMs: 0, unicastPeers: [], virtualAddresses: ['192.0.2.100/24'] },
      transport, addresses, clock, log: silentLogger(), observer, linkPollMs: 500,
    });
    return { i, clock, transport };
  }

  it('started with its link down: FAULT (not stuck in INIT), then the election once the link is up', async () => {
    const addr = new RecordingAddresses('198.51.100.2');
    addr.link = false;
    const transitions: string[] = [];
    const { i, clock, transport } = single(addr, { transition: (from, to) => transitions.push(`${from}->${to}`) });
    await i.start();
    expect(i.state).toBe('fault');
    await clock.advance(10_000);
    expect(i.state).toBe('fault');
    expect(transport.sent).toHaveLength(0); // silent while the link is down
    addr.link = true;
    await clock.advance(600); // the next link poll
    expect(i.state).toBe('backup');
    await clock.advance(4000); // alone: master after Master_Down_Interval (3.61 s)
    expect(i.state).toBe('master');
    expect(addr.holds).toBe(true);
    expect(transitions).toEqual(['init->fault', 'fault->backup', 'backup->master']);
    await i.stop();
    expect(transitions.at(-1)).toBe('master->init');
  });

  it('a failing `ip addr add` does not stop the adverts: the master stays scheduled and the transition is reported', async () => {
    const addr = new RecordingAddresses('198.51.100.2');
    let fail = true;
    addr.add = async () => {
      if (fail) throw new Error('ip timed out');
      addr.holds = true;
    };
    const states: VrrpState[] = [];
    const { i, clock, transport } = single(addr, { transition: (_from, to) => states.push(to) });
    await i.start();
    await clock.advance(3700);
    expect(i.state).toBe('master');
    expect(states).toEqual(['backup', 'master']);
    const before = transport.sent.length;
    await clock.advance(5000);
    expect(transport.sent.length - before).toBeGreaterThanOrEqual(4); // one a second, still
    fail = false;
    await i.stop();
  });

  it('handles nothing once stop() began: a late link poll or advert never follows the shutdown', async () => {
    const addr = new RecordingAddresses('198.51.100.2');
    const transitions: string[] = [];
    const { i, clock, transport } = single(addr, { transition: (from, to) => transitions.push(`${from}->${to}`) });
    await i.start();
    await clock.advance(3700);
    const stopping = i.stop();
    addr.link = false;
    transport.inject(transport.sent[0]!);
    await stopping;
    await clock.advance(2000);
    expect(transitions).toEqual(['init->backup', 'backup->master', 'master->init']);
    expect(clock.pending).toBe(0);
    expect(decodeIpPacket(transport.sent.at(-1)!)).toMatchObject({ ok: true, advert: { priority: 0 } });
  });

  it('keeps a tracked priority reported while start() is under way (a service already down when the election starts)', async () => {
    const addr = new RecordingAddresses('198.51.100.2');
    const { i, clock, transport } = single(addr, {}, 150);
    const starting = i.start(); // start() is at its first `ip addr del` now, no election yet
    i.setTrackedPriority(90);
    await starting;
    expect(i.priority).toBe(90);
    await clock.advance(4000);
    expect(i.state).toBe('master');
    expect(decodeIpPacket(transport.sent.at(-1)!)).toMatchObject({ ok: true, advert: { priority: 90 } });
    await i.stop();
  });

  it('an address owner (255) whose tracking already took 60 off does not take over at once', async () => {
    const addr = new RecordingAddresses('198.51.100.2');
    const { i, clock } = single(addr, {}, 255);
    i.setTrackedPriority(195); // before start(): the tracker's first report
    await i.start();
    expect(i.state).toBe('backup');
    expect(i.priority).toBe(195);
    await clock.advance(4000);
    expect(i.state).toBe('master');
    await i.stop();
  });
});
