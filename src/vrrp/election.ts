/**
 * The VRRP election (RFC 5798 §6.4, with keepalived's behaviour where the RFC leaves room):
 * pure. `step(config, state, event, now)` returns the next state and what to do; timers are
 * deadlines in the state, and the driver calls step({ type: 'tick' }) when the earliest is due.
 *
 *   Skew_Time            = (256 - Priority) * Master_Adver_Interval / 256
 *   Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time
 *
 * A v3 backup adopts the master's advertised interval (keepalived does; v2 requires equal
 * intervals and ignores adverts that differ). Ties between equal priorities go to the higher
 * primary address. Priority 255 is the address owner: it becomes master at once on start.
 *
 * Hostile or broken peers cannot make it do unbounded work: a MASTER answers a priority-0 advert
 * or a lower-priority master (split brain, or a stranger flooding adverts) with an advert at
 * most once per advert interval, and re-asserts with gratuitous ARP (a process per VIP) at most
 * once per REASSERT_MIN_GAP_MS; its regular adverts go on regardless.
 */
import type { ReceivedAdvert, VrrpVersion } from './packet.js';

export type VrrpState = 'init' | 'backup' | 'master' | 'fault';

export interface ElectionConfig {
  readonly version: VrrpVersion;
  readonly vrid: number;
  /** configured priority 1..255 */
  readonly priority: number;
  readonly intervalMs: number;
  readonly preempt: boolean;
  /** after entering BACKUP, lower-priority masters are accepted this long before preempting */
  readonly preemptDelayMs: number;
  /** the virtual addresses, as sent (the peer must send the same list) */
  readonly addresses: readonly string[];
  /** this router's primary address on the interface (advert source, tie-breaker) */
  readonly self: string;
}

export interface ElectionState {
  readonly state: VrrpState;
  /** the priority sent: configured, lowered by tracking (never below 1; 255 only as owner) */
  readonly priority: number;
  /** the master's interval as learned (v3), else ours */
  readonly masterIntervalMs: number;
  readonly masterDownAt?: number;
  readonly nextAdvertAt?: number;
  /** BACKUP: lower-priority adverts are accepted until then (preempt_delay) */
  readonly preemptAt?: number;
  /** the last master heard (BACKUP) */
  readonly master?: { readonly src: string; readonly priority: number };
  /** MASTER: when it last answered another router's advert with one of its own, and re-asserted with gratuitous ARP */
  readonly answeredAt?: number;
  readonly reassertedAt?: number;
}

/** gratuitous ARP against a lower-priority master: at most this often (and never more often than adverts) */
export const REASSERT_MIN_GAP_MS = 1000;

export type ElectionEvent =
  /** enter the election: BACKUP (MASTER as address owner), or FAULT when the link is down */
  | { readonly type: 'start'; readonly linkUp?: boolean }
  | { readonly type: 'tick' }
  | { readonly type: 'advert'; readonly advert: ReceivedAdvert }
  /** the effective priority after tracking (the configured one minus penalties) */
  | { readonly type: 'priority'; readonly priority: number }
  | { readonly type: 'interface'; readonly up: boolean }
  | { readonly type: 'shutdown' };

export type IgnoreReason = 'vrid' | 'own' | 'version' | 'addresses' | 'interval' | 'lower_priority';

export type ElectionAction =
  /** send an advert now with this priority */
  | { readonly type: 'send'; readonly priority: number }
  /** a state change: the driver moves the VIPs, sends GARP, runs notify hooks */
  | { readonly type: 'transition'; readonly from: VrrpState; readonly to: VrrpState; readonly reason: string }
  /** MASTER heard another master (split brain): counted, whoever wins */
  | { readonly type: 'dual_master'; readonly other: string }
  /** ... and it had the lower priority: re-assert with an advert and GARP */
  | { readonly type: 'reassert'; readonly other: string }
  | { readonly type: 'ignored'; readonly reason: IgnoreReason; readonly detail: string };

export interface Step {
  readonly state: ElectionState;
  readonly actions: readonly ElectionAction[];
}

export function initialState(cfg: ElectionConfig): ElectionState {
  return { state: 'init', priority: cfg.priority, masterIntervalMs: cfg.intervalMs };
}

export function skewMs(priority: number, masterIntervalMs: number): number {
  return ((256 - priority) * masterIntervalMs) / 256;
}

export function masterDownMs(priority: number, masterIntervalMs: number): number {
  return 3 * masterIntervalMs + skewMs(priority, masterIntervalMs);
}

/** when step() wants to be called with 'tick' next, if ever */
export function nextDeadline(s: ElectionState): number | undefined {
  const ts = [s.masterDownAt, s.nextAdvertAt].filter((t): t is number => t !== undefined);
  return ts.length > 0 ? Math.min(...ts) : undefined;
}

/** IPv4 dotted quads compared as numbers */
function addressAbove(a: string, b: string): boolean {
  const n = (x: string): number => x.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return n(a) > n(b);
}

function clampPriority(cfg: ElectionConfig, p: number): number {
  if (cfg.priority === 255 && p >= 255) return 255;
  return Math.max(1, Math.min(254, Math.round(p)));
}

export function step(cfg: ElectionConfig, s: ElectionState, ev: ElectionEvent, now: number): Step {
  switch (ev.type) {
    case 'start':
      if (s.state !== 'init') return { state: s, actions: [] };
      if (ev.linkUp === false) {
        return { state: { state: 'fault', priority: s.priority, masterIntervalMs: cfg.intervalMs }, actions: [{ type: 'transition', from: 'init', to: 'fault', reason: 'interface down at start' }] };
      }
      return s.priority === 255 ? toMaster(cfg, s, now, 'address owner (priority 255)') : toBackup(cfg, s, now, 'start');
    case 'shutdown': {
      if (s.state === 'init') return { state: s, actions: [] };
      const actions: ElectionAction[] = s.state === 'master' ? [{ type: 'send', priority: 0 }] : [];
      actions.push({ type: 'transition', from: s.state, to: 'init', reason: 'shutdown' });
      return { state: { state: 'init', priority: s.priority, masterIntervalMs: cfg.intervalMs }, actions };
    }
    case 'interface':
      // INIT is before start and after shutdown: not in the election, so nothing to do
      if (s.state === 'init') return { state: s, actions: [] };
      if (!ev.up) {
        if (s.state === 'fault') return { state: s, actions: [] };
        return {
          state: { state: 'fault', priority: s.priority, masterIntervalMs: cfg.intervalMs },
          actions: [{ type: 'transition', from: s.state, to: 'fault', reason: 'interface down' }],
        };
      }
      if (s.state !== 'fault') return { state: s, actions: [] };
      return s.priority === 255 ? toMaster(cfg, s, now, 'interface up (address owner)') : toBackup(cfg, s, now, 'interface up');
    case 'priority': {
      if (Number.isNaN(ev.priority)) return { state: s, actions: [] }; // no number: keep what is advertised
      const priority = clampPriority(cfg, ev.priority);
      if (priority === s.priority) return { state: s, actions: [] };
      // a master tells the others at once, so a better backup can preempt without waiting
      const actions: ElectionAction[] = s.state === 'master' ? [{ type: 'send', priority }] : [];
      return { state: { ...s, priority }, actions };
    }
    case 'tick':
      return tick(cfg, s, now);
    case 'advert':
      return onAdvert(cfg, s, ev.advert, now);
  }
}

function toBackup(cfg: ElectionConfig, s: ElectionState, now: number, reason: string, master?: ElectionState['master'], intervalMs?: number): Step {
  const masterIntervalMs = intervalMs ?? s.masterIntervalMs;
  const state: ElectionState = {
    state: 'backup', priority: s.priority, masterIntervalMs,
    masterDownAt: now + masterDownMs(s.priority, masterIntervalMs),
    ...(cfg.preemptDelayMs > 0 ? { preemptAt: now + cfg.preemptDelayMs } : {}),
    ...(master ? { master } : {}),
  };
  return { state, actions: s.state === 'backup' ? [] : [{ type: 'transition', from: s.state, to: 'backup', reason }] };
}

function toMaster(cfg: ElectionConfig, s: ElectionState, now: number, reason: string): Step {
  return {
    state: { state: 'master', priority: s.priority, masterIntervalMs: cfg.intervalMs, nextAdvertAt: now + cfg.intervalMs },
    // the advert first (keepalived does): the old master and the backups learn at once
    actions: [{ type: 'send', priority: s.priority }, { type: 'transition', from: s.state, to: 'master', reason }],
  };
}

function tick(cfg: ElectionConfig, s: ElectionState, now: number): Step {
  if (s.state === 'master' && s.nextAdvertAt !== undefined && now >= s.nextAdvertAt) {
    // fixed rate; after a stall, the next one from now rather than a burst
    const next = s.nextAdvertAt + cfg.intervalMs > now ? s.nextAdvertAt + cfg.intervalMs : now + cfg.intervalMs;
    return { state: { ...s, nextAdvertAt: next }, actions: [{ type: 'send', priority: s.priority }] };
  }
  if (s.state === 'backup' && s.masterDownAt !== undefined && now >= s.masterDownAt) {
    return toMaster(cfg, s, now, `no advert${s.master ? ` from ${s.master.src}` : ''} for ${Math.round(masterDownMs(s.priority, s.masterIntervalMs))}ms`);
  }
  return { state: s, actions: [] };
}

function onAdvert(cfg: ElectionConfig, s: ElectionState, a: ReceivedAdvert, now: number): Step {
  const ignore = (reason: IgnoreReason, detail: string): Step => ({ state: s, actions: [{ type: 'ignored', reason, detail }] });
  if (a.vrid !== cfg.vrid) return ignore('vrid', `VRID ${a.vrid}`);
  if (a.src === cfg.self) return ignore('own', 'our own advert');
  if (a.version !== cfg.version) return ignore('version', `version ${a.version}, expected ${cfg.version}`);
  if (a.addresses.length !== cfg.addresses.length || a.addresses.some((x, i) => x !== cfg.addresses[i])) {
    return ignore('addresses', `addresses ${a.addresses.join(',')}, expected ${cfg.addresses.join(',')}`);
  }
  if (cfg.version === 2 && a.intervalMs !== cfg.intervalMs) return ignore('interval', `interval ${a.intervalMs}ms, expected ${cfg.intervalMs}ms`);
  if (s.state === 'init' || s.state === 'fault') return { state: s, actions: [] };

  if (s.state === 'backup') {
    if (a.priority === 0) {
      // the master is leaving: take over after the skew time only
      return { state: { ...s, masterDownAt: now + skewMs(s.priority, s.masterIntervalMs) }, actions: [] };
    }
    const learned = cfg.version === 3 ? a.intervalMs : s.masterIntervalMs;
    const delaying = s.preemptAt !== undefined && now < s.preemptAt;
    if (!cfg.preempt || delaying || a.priority >= s.priority) {
      return {
        state: { ...s, masterIntervalMs: learned, masterDownAt: now + masterDownMs(s.priority, learned), master: { src: a.src, priority: a.priority } },
        actions: [],
      };
    }
    // a lower-priority master and we may preempt: let the master-down timer run out
    return ignore('lower_priority', `master ${a.src} priority ${a.priority} < ${s.priority}: preempting`);
  }

  // MASTER
  const answer = s.answeredAt === undefined || now - s.answeredAt >= cfg.intervalMs;
  if (a.priority === 0) {
    // another master leaving: advertise now, so no backup takes over after its skew time
    if (!answer) return { state: s, actions: [] };
    return { state: { ...s, nextAdvertAt: now + cfg.intervalMs, answeredAt: now }, actions: [{ type: 'send', priority: s.priority }] };
  }
  const dual: ElectionAction = { type: 'dual_master', other: a.src };
  if (a.priority > s.priority || (a.priority === s.priority && addressAbove(a.src, cfg.self))) {
    const r = toBackup(cfg, s, now, `higher priority master ${a.src} (${a.priority})`, { src: a.src, priority: a.priority },
      cfg.version === 3 ? a.intervalMs : undefined);
    return { state: r.state, actions: [dual, ...r.actions] };
  }
  // two masters, and we win: tell it now and refresh everyone's ARP caches; rate-limited, since
  // anyone on the link can send such adverts as fast as it likes (the regular adverts go on)
  const garp = s.reassertedAt === undefined || now - s.reassertedAt >= Math.max(cfg.intervalMs, REASSERT_MIN_GAP_MS);
  const actions: ElectionAction[] = [dual];
  let next: ElectionState = s;
  if (answer) {
    actions.push({ type: 'send', priority: s.priority });
    next = { ...next, nextAdvertAt: now + cfg.intervalMs, answeredAt: now };
  }
  if (garp) {
    actions.push({ type: 'reassert', other: a.src });
    next = { ...next, reassertedAt: now };
  }
  return { state: next, actions };
}
