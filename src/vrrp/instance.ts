/**
 * One VRRP instance: the thin driver around the pure election. It feeds received packets and
 * timer ticks to step(), and carries out the actions: adverts on the transport, VIPs and
 * gratuitous ARP through the address manager, transitions to listeners. Tracking lowers the
 * priority; a link going down is FAULT (also at start). All its timers, the link poll included,
 * run on the injected Clock, so a fake clock drives it deterministically (test/fuzz/vrrp-fuzz.ts).
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { AddressManager } from './addresses.js';
import { bareAddress } from './addresses.js';
import { initialState, nextDeadline, step, type ElectionAction, type ElectionConfig, type ElectionEvent, type ElectionState, type VrrpState } from './election.js';
import { VRRP_MULTICAST_V4, decodeIpPacket, encodeIpPacket, type RejectReason } from './packet.js';
import type { VrrpTransport } from './transport.js';

export interface VrrpSettings {
  readonly vrid: number;
  readonly priority: number;
  readonly version: 2 | 3;
  readonly intervalMs: number;
  readonly preempt: boolean;
  readonly preemptDelayMs: number;
  /** empty = multicast */
  readonly unicastPeers: readonly string[];
  /** "a.b.c.d/len" */
  readonly virtualAddresses: readonly string[];
}

export interface VrrpObserver {
  transition?(from: VrrpState, to: VrrpState, reason: string): void;
  sent?(): void;
  received?(): void;
  /** a packet dropped: a codec reason, or an election one (version, addresses, interval) */
  rejected?(reason: RejectReason | 'version' | 'addresses' | 'interval', detail: string): void;
  priority?(priority: number): void;
  dualMaster?(other: string): void;
}

export interface VrrpInstanceDeps {
  readonly settings: VrrpSettings;
  readonly transport: VrrpTransport;
  readonly addresses: AddressManager;
  readonly clock: Clock;
  readonly log: Logger;
  readonly observer?: VrrpObserver;
  /** how often the link state is looked at (FAULT while down) */
  readonly linkPollMs?: number;
}

/** "another master on the link" is logged at most this often (a flood of adverts is counted, not logged each) */
const DUAL_MASTER_LOG_GAP_MS = 10_000;

export class VrrpInstance {
  private readonly deps: VrrpInstanceDeps;
  private cfg: ElectionConfig | undefined;
  private s: ElectionState | undefined;
  private timer: TimerHandle | undefined;
  private linkTimer: TimerHandle | undefined;
  private basePriority: number;
  /** the last tracked priority, kept from before start() (tracking may report while start() is still under way) */
  private tracked: number | undefined;
  private queue: Promise<void> = Promise.resolve();
  /** stop() began: no event but the shutdown is taken any more */
  private stopping = false;
  private stopped = false;
  private dualLoggedAt = Number.NEGATIVE_INFINITY;
  private dualUnlogged = 0;

  constructor(deps: VrrpInstanceDeps) {
    this.deps = deps;
    this.basePriority = deps.settings.priority;
  }

  get state(): VrrpState {
    return this.s?.state ?? 'init';
  }

  get priority(): number {
    return this.s?.priority ?? this.basePriority;
  }

  get self(): string | undefined {
    return this.cfg?.self;
  }

  /** Remove VIPs a killed lvsd may have left, learn our address, and enter the election. */
  async start(): Promise<void> {
    const { settings, addresses, transport } = this.deps;
    await addresses.remove();
    const self = await addresses.primaryAddress();
    this.cfg = {
      version: settings.version, vrid: settings.vrid, priority: settings.priority, intervalMs: settings.intervalMs,
      preempt: settings.preempt, preemptDelayMs: settings.preemptDelayMs,
      addresses: settings.virtualAddresses.map(bareAddress), self,
    };
    this.s = initialState(this.cfg);
    // what tracking said before there was an election goes first: a node whose tracked service is
    // already down must not enter the election (or, as address owner, take over) at full priority
    if (this.tracked !== undefined) this.feed({ type: 'priority', priority: this.tracked });
    transport.onPacket((pkt) => this.onPacket(pkt));
    transport.onError((err) => this.deps.log.error({ err: err.message }, 'VRRP socket failed'));
    const pollMs = this.deps.linkPollMs ?? 500;
    const linkPoll = (): void => {
      if (this.stopping) return;
      const up = addresses.linkUp();
      if (this.state !== 'init' && up !== (this.state !== 'fault')) this.feed({ type: 'interface', up });
      this.linkTimer = this.deps.clock.setTimeout(linkPoll, pollMs);
    };
    this.linkTimer = this.deps.clock.setTimeout(linkPoll, pollMs);
    // a link that is down at start: FAULT until it comes up (keepalived does the same)
    this.feed({ type: 'start', linkUp: addresses.linkUp() });
    await this.queue;
  }

  /** Resolves once every event fed so far, and what it led to, has been handled (tests). */
  async settled(): Promise<void> {
    let q: Promise<void>;
    do {
      q = this.queue;
      await q;
    } while (q !== this.queue);
  }

  /** The effective priority from tracking (configured priority plus the penalties that apply). */
  setTrackedPriority(priority: number): void {
    this.tracked = priority;
    if (this.s) this.feed({ type: 'priority', priority });
  }

  /** As MASTER: advert with priority 0 (the backup takes over after its skew time), then drop the VIPs. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.linkTimer?.cancel();
    this.enqueue({ type: 'shutdown' });
    this.stopping = true; // after the shutdown: nothing queued behind it (a link poll, an advert) is handled
    await this.settled();
    this.stopped = true;
    this.timer?.cancel();
    this.deps.transport.close();
    this.deps.addresses.close();
  }

  private onPacket(pkt: Buffer): void {
    if (this.stopping) return;
    const r = decodeIpPacket(pkt);
    if (!r.ok) {
      this.deps.observer?.rejected?.(r.reason, r.detail);
      return;
    }
    this.deps.observer?.received?.();
    this.feed({ type: 'advert', advert: r.advert });
  }

  /** events are handled one at a time, in order: actions (ip addr, sends) finish before the next */
  private feed(ev: ElectionEvent): void {
    if (this.stopping) return;
    this.enqueue(ev);
  }

  private enqueue(ev: ElectionEvent): void {
    this.queue = this.queue.then(() => this.handle(ev)).catch((e: unknown) => {
      this.deps.log.error({ err: errorMessage(e) }, 'VRRP event failed');
    });
  }

  private async handle(ev: ElectionEvent): Promise<void> {
    if (!this.cfg || !this.s || this.stopped) return;
    const r = step(this.cfg, this.s, ev, this.deps.clock.now());
    if (r.state.priority !== this.s.priority) this.deps.observer?.priority?.(r.state.priority);
    this.s = r.state;
    try {
      for (const a of r.actions) await this.act(a);
    } finally {
      this.arm(); // whatever an action did, the next advert or master-down tick stays scheduled
    }
  }

  private arm(): void {
    this.timer?.cancel();
    this.timer = undefined;
    const at = this.s && nextDeadline(this.s);
    if (at === undefined || this.stopping) return;
    this.timer = this.deps.clock.setTimeout(() => this.feed({ type: 'tick' }), Math.max(0, at - this.deps.clock.now()));
  }

  private async act(a: ElectionAction): Promise<void> {
    const { log, observer, addresses } = this.deps;
    switch (a.type) {
      case 'send':
        await this.send(a.priority);
        return;
      case 'transition':
        log.info({ from: a.from, to: a.to, reason: a.reason, priority: this.s?.priority }, 'VRRP transition');
        // a failing `ip addr` is logged and the transition still completes (state, metrics, hooks)
        try {
          if (a.to === 'master') {
            await addresses.add();
            addresses.announce();
          } else if (a.from === 'master') {
            await addresses.remove();
          }
        } catch (e) {
          log.error({ err: errorMessage(e), to: a.to }, 'could not move the virtual addresses');
        }
        observer?.transition?.(a.from, a.to, a.reason);
        return;
      case 'dual_master': {
        observer?.dualMaster?.(a.other);
        const now = this.deps.clock.now();
        if (now - this.dualLoggedAt < DUAL_MASTER_LOG_GAP_MS) {
          this.dualUnlogged++;
          return;
        }
        log.warn({ other: a.other, suppressed: this.dualUnlogged }, 'another master on the link (split brain)');
        this.dualLoggedAt = now;
        this.dualUnlogged = 0;
        return;
      }
      case 'reassert':
        log.warn({ other: a.other }, 'the other master has a lower priority: re-asserting with gratuitous ARP');
        addresses.announce();
        return;
      case 'ignored':
        // another VRID on the group, our own advert, a master we are about to preempt: all normal
        if (a.reason === 'version' || a.reason === 'addresses' || a.reason === 'interval') observer?.rejected?.(a.reason, a.detail);
        return;
    }
  }

  private async send(priority: number): Promise<void> {
    const { settings, transport, log, observer } = this.deps;
    if (!this.cfg) return;
    const dsts = settings.unicastPeers.length > 0 ? settings.unicastPeers : [VRRP_MULTICAST_V4];
    for (const dst of dsts) {
      const pkt = encodeIpPacket({
        version: settings.version, vrid: settings.vrid, priority, intervalMs: settings.intervalMs, addresses: this.cfg.addresses,
      }, this.cfg.self, dst);
      try {
        await transport.send(pkt, dst);
        observer?.sent?.();
      } catch (e) {
        log.warn({ dst, err: errorMessage(e) }, 'VRRP advert not sent');
      }
    }
  }
}
