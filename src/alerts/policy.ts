/**
 * mon's alert policy for one alert entry: pure, time passed in. Conditions (a realserver or a
 * service down) alert after `after` consecutive failures, repeat every `every` while still
 * down, and send a recovery (`*_up`) only when their down alert went out; one-shot events
 * (failover, reload failure, drains) go out as they come. Outside `period` an alert waits for
 * the period to open (`tick`) or is dropped, as configured; a waiting down alert whose
 * condition clears before the period opens is dropped together with its recovery.
 */
import type { AlertConfig, AlertEvent, AlertEventType } from './types.js';
import { compilePeriod, type Period } from './period.js';

export type Scope = 'realserver' | 'service';

export type PolicyInput =
  /** a failing observation: the transition to down, or a failed probe (round) while down */
  | { readonly kind: 'down'; readonly scope: Scope; readonly service: string; readonly realserver?: string; readonly failures: number; readonly at: number; readonly detail: string }
  /** the condition cleared */
  | { readonly kind: 'up'; readonly scope: Scope; readonly service: string; readonly realserver?: string; readonly at: number; readonly detail: string }
  | {
      readonly kind: 'event'; readonly type: 'failover' | 'config_reload_failed' | 'drain_started' | 'drain_finished';
      readonly service?: string; readonly realserver?: string; readonly from?: string; readonly to?: string; readonly at: number; readonly detail: string;
    };

/**
 * An alert to send: an AlertEvent before the manager numbers it, keys it and names the node,
 * with its times still in ms since the epoch.
 */
export type PolicyAlert = Omit<AlertEvent, 'seq' | 'id' | 'node' | 'at' | 'since'> & {
  readonly at: number;
  /** recovery alerts: when the condition began */
  readonly since?: number;
};

export interface PolicyResult {
  readonly send: readonly PolicyAlert[];
  /** alerts not sent because of the period (drop mode) */
  readonly suppressed: number;
}

interface Condition {
  readonly since: number;
  failures: number;
  /** down alerts sent for it so far: the next one is repeat number `sent` (0 = the first) */
  sent: number;
  lastSentAt: number;
  /** its down alert, waiting for the period to open */
  held?: PolicyAlert | undefined;
}

const DOWN: Record<Scope, AlertEventType> = { realserver: 'realserver_down', service: 'service_down' };
const UP: Record<Scope, AlertEventType> = { realserver: 'realserver_up', service: 'service_up' };
const NOTHING: PolicyResult = { send: [], suppressed: 0 };

export class AlertPolicy {
  private readonly cfg: AlertConfig;
  private readonly period: Period | undefined;
  private readonly conditions = new Map<string, Condition>();
  /** one-shot and recovery alerts waiting for the period, in order */
  private held: PolicyAlert[] = [];

  constructor(cfg: AlertConfig) {
    this.cfg = cfg;
    this.period = cfg.period !== undefined ? compilePeriod(cfg.period) : undefined;
  }

  /** alerts waiting for the period to open */
  get waiting(): number {
    let n = this.held.length;
    for (const c of this.conditions.values()) if (c.held) n++;
    return n;
  }

  decide(input: PolicyInput): PolicyResult {
    if (!this.selected(input)) return NOTHING;
    if (input.kind === 'event') {
      if (!this.cfg.on.has(input.type)) return NOTHING;
      const { kind: _kind, ...alert } = input;
      return this.gate(alert, input.at);
    }
    const key = `${input.scope}|${input.service}|${input.realserver ?? ''}`;
    return input.kind === 'down' ? this.down(key, input) : this.up(key, input);
  }

  /** release what waited for the period, if it is open now */
  tick(now: number): PolicyResult {
    if (!this.open(now)) return NOTHING;
    const send: PolicyAlert[] = [];
    for (const c of this.conditions.values()) {
      if (!c.held) continue;
      send.push({ ...c.held, failures: c.failures });
      c.held = undefined;
      c.sent++;
      c.lastSentAt = now;
    }
    send.push(...this.held);
    this.held = [];
    return { send, suppressed: 0 };
  }

  private down(key: string, i: Extract<PolicyInput, { kind: 'down' }>): PolicyResult {
    let c = this.conditions.get(key);
    if (!c) {
      c = { since: i.at, failures: 0, sent: 0, lastSentAt: Number.NEGATIVE_INFINITY };
      this.conditions.set(key, c);
    }
    c.failures = Math.max(c.failures, i.failures);
    const type = DOWN[i.scope];
    if (!this.cfg.on.has(type) || c.failures < this.cfg.after || c.held) return NOTHING;
    const due = c.sent === 0 || (this.cfg.everyMs > 0 && i.at - c.lastSentAt >= this.cfg.everyMs);
    if (!due) return NOTHING;
    const alert: PolicyAlert = {
      type, at: i.at, service: i.service, ...(i.realserver !== undefined ? { realserver: i.realserver } : {}),
      detail: i.detail, failures: c.failures, repeat: c.sent,
    };
    if (!this.open(i.at)) {
      if (this.cfg.outsidePeriod === 'wait' && c.sent === 0) c.held = alert;
      return { send: [], suppressed: this.cfg.outsidePeriod === 'drop' ? 1 : 0 };
    }
    c.sent++;
    c.lastSentAt = i.at;
    return { send: [alert], suppressed: 0 };
  }

  private up(key: string, i: Extract<PolicyInput, { kind: 'up' }>): PolicyResult {
    const c = this.conditions.get(key);
    this.conditions.delete(key);
    const type = UP[i.scope];
    // a recovery only answers a down alert that went out (or, with no down alerts wanted, any down)
    const answered = c !== undefined && (this.cfg.on.has(DOWN[i.scope]) ? c.sent > 0 : true);
    if (!answered || !this.cfg.on.has(type)) return NOTHING;
    return this.gate({
      type, at: i.at, service: i.service, ...(i.realserver !== undefined ? { realserver: i.realserver } : {}),
      detail: i.detail, since: c.since,
    }, i.at);
  }

  /** send now, or hold / drop outside the period */
  private gate(alert: PolicyAlert, at: number): PolicyResult {
    if (this.open(at)) return { send: [alert], suppressed: 0 };
    if (this.cfg.outsidePeriod === 'drop') return { send: [], suppressed: 1 };
    this.held.push(alert);
    return NOTHING;
  }

  private open(at: number): boolean {
    return this.period === undefined || this.period(at);
  }

  private selected(i: PolicyInput): boolean {
    if (i.kind === 'event' && (i.type === 'failover' || i.type === 'config_reload_failed')) return true;
    if (this.cfg.services && (i.service === undefined || !this.cfg.services.has(i.service))) return false;
    // a realserver selector leaves service-wide conditions alone
    if (this.cfg.realservers && i.realserver !== undefined && !this.cfg.realservers.has(i.realserver)) return false;
    if (this.cfg.realservers && i.kind !== 'event' && i.scope === 'service') return false;
    return true;
  }
}
