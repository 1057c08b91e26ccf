/**
 * mon's policy, deterministically: after (consecutive failures), every (repeats while down),
 * recovery only for alerts that went out, period windows (wait or drop), selectors.
 */
import { describe, expect, it } from 'vitest';
import { compilePeriod } from '../../src/alerts/period.js';
import { AlertPolicy, type PolicyInput } from '../../src/alerts/policy.js';
import { ALERT_EVENT_TYPES, type AlertConfig } from '../../src/alerts/types.js';

const S = 1000;
const M = 60 * S;

function policy(over: Partial<AlertConfig> = {}): AlertPolicy {
  return new AlertPolicy({
    name: 'ops', target: { kind: 'exec', command: ['true'] }, on: new Set(ALERT_EVENT_TYPES), after: 1, everyMs: 0,
    outsidePeriod: 'wait', queueMax: 100, timeoutMs: 1000, retryInitialMs: 100, retryMaxMs: 1000, ...over,
  });
}

const down = (at: number, failures: number, realserver = '198.51.100.2:80'): PolicyInput =>
  ({ kind: 'down', scope: 'realserver', service: 'web', realserver, failures, at, detail: 'fail: HTTP 503' });
const up = (at: number, realserver = '198.51.100.2:80'): PolicyInput =>
  ({ kind: 'up', scope: 'realserver', service: 'web', realserver, at, detail: 'ok: HTTP 200' });

/** a local-time instant: 2026-12-01 (a Tuesday) at h:m */
const local = (h: number, m = 0, day = 1): number => new Date(2026, 11, day, h, m, 0, 0).getTime();

describe('alert policy', () => {
  it('after: the down alert waits for that many consecutive failures, then goes out once', () => {
    const p = policy({ after: 5 });
    const sent = [3, 4].flatMap((n) => p.decide(down(n * S, n)).send);
    expect(sent).toEqual([]);
    expect(p.decide(down(5 * S, 5)).send).toEqual([expect.objectContaining({ type: 'realserver_down', failures: 5, repeat: 0, at: 5 * S })]);
    expect(p.decide(down(6 * S, 6)).send).toEqual([]);
  });

  it('recovery goes out only when the down alert did', () => {
    const p = policy({ after: 5 });
    p.decide(down(S, 3));
    expect(p.decide(up(2 * S)).send).toEqual([]); // never alerted: no recovery
    p.decide(down(10 * S, 5));
    expect(p.decide(up(20 * S)).send).toEqual([expect.objectContaining({ type: 'realserver_up', since: 10 * S, at: 20 * S })]);
  });

  it('every: repeats while still down, numbered, not more often than the interval', () => {
    const p = policy({ everyMs: 10 * M });
    const at = (min: number): number => min * M;
    const out = [0, 2, 9, 10, 15, 20, 31].flatMap((min, i) => p.decide(down(at(min), i + 1)).send);
    expect(out.map((a) => [a.at / M, a.repeat])).toEqual([[0, 0], [10, 1], [20, 2], [31, 3]]);
  });

  it('on: no recovery alerts when realserver_up is not wanted; up alone answers every down', () => {
    const noUp = policy({ on: new Set(['realserver_down']) });
    noUp.decide(down(S, 3));
    expect(noUp.decide(up(2 * S)).send).toEqual([]);
    const upOnly = policy({ on: new Set(['realserver_up']), after: 3 });
    expect(upOnly.decide(down(S, 1)).send).toEqual([]);
    expect(upOnly.decide(up(2 * S)).send).toEqual([expect.objectContaining({ type: 'realserver_up' })]);
  });

  it('period, wait: a down alert outside the window goes out when it opens, if still down', () => {
    const p = policy({ period: '* 7-22 * * *' });
    expect(p.decide(down(local(3), 3)).send).toEqual([]);
    expect(p.waiting).toBe(1);
    expect(p.decide(down(local(4), 4)).send).toEqual([]); // still held, not twice
    expect(p.tick(local(6, 59)).send).toEqual([]);
    const released = p.tick(local(7, 0)).send;
    expect(released).toEqual([expect.objectContaining({ type: 'realserver_down', failures: 4, at: local(3) })]);
    expect(p.waiting).toBe(0);
    expect(p.decide(up(local(8))).send).toEqual([expect.objectContaining({ type: 'realserver_up' })]);
  });

  it('period, wait: a condition that clears before the window opens sends nothing at all', () => {
    const p = policy({ period: '* 7-22 * * *' });
    p.decide(down(local(3), 3));
    expect(p.decide(up(local(4))).send).toEqual([]);
    expect(p.tick(local(7)).send).toEqual([]);
  });

  it('period, wait: a recovery outside the window waits too, and keeps its order with events', () => {
    const p = policy({ period: '* 7-22 * * *' });
    p.decide(down(local(21), 3));
    expect(p.decide(up(local(23))).send).toEqual([]);
    p.decide({ kind: 'event', type: 'failover', from: 'master', to: 'backup', at: local(23, 30), detail: 'higher priority master' });
    expect(p.tick(local(7, 0, 2)).send.map((a) => a.type)).toEqual(['realserver_up', 'failover']);
  });

  it('period, drop: outside the window nothing is sent (counted); still down inside it, it goes out', () => {
    const p = policy({ period: '* 7-22 * * *', outsidePeriod: 'drop' });
    expect(p.decide(down(local(3), 3))).toEqual({ send: [], suppressed: 1 });
    expect(p.decide({ kind: 'event', type: 'failover', at: local(3), detail: 'x' })).toEqual({ send: [], suppressed: 1 });
    expect(p.tick(local(7)).send).toEqual([]);
    expect(p.decide(down(local(7, 1), 9)).send).toEqual([expect.objectContaining({ type: 'realserver_down', failures: 9 })]);
  });

  it('selectors: services and realservers filter; failover and reload failures always pass', () => {
    const p = policy({ services: new Set(['web']), realservers: new Set(['198.51.100.2:80']) });
    expect(p.decide(down(S, 1, '198.51.100.3:80')).send).toEqual([]);
    expect(p.decide(down(S, 1)).send).toHaveLength(1);
    expect(p.decide({ kind: 'down', scope: 'realserver', service: 'mail', realserver: '198.51.100.2:80', failures: 1, at: S, detail: '' }).send).toEqual([]);
    expect(p.decide({ kind: 'down', scope: 'service', service: 'web', failures: 1, at: S, detail: '' }).send).toEqual([]);
    expect(p.decide({ kind: 'event', type: 'config_reload_failed', at: S, detail: 'bad' }).send).toHaveLength(1);
    expect(p.decide({ kind: 'event', type: 'drain_started', service: 'web', realserver: '198.51.100.3:80', at: S, detail: '' }).send).toEqual([]);
  });

  it('service conditions alert and recover on their own', () => {
    const p = policy({ on: new Set(['service_down', 'service_up']), after: 2 });
    const svc = (kind: 'down' | 'up', at: number, failures = 0): PolicyInput =>
      (kind === 'down' ? { kind, scope: 'service', service: 'web', failures, at, detail: 'no realserver UP' } : { kind, scope: 'service', service: 'web', at, detail: 'a realserver is UP' });
    expect(p.decide(svc('down', S, 1)).send).toEqual([]);
    expect(p.decide(svc('down', 2 * S, 2)).send).toEqual([expect.objectContaining({ type: 'service_down', service: 'web' })]);
    expect(p.decide(down(2 * S, 5)).send).toEqual([]); // not subscribed to realserver events
    expect(p.decide(svc('up', 3 * S)).send).toEqual([expect.objectContaining({ type: 'service_up', since: S })]);
  });
});

describe('period windows', () => {
  it('matches minutes, hours, weekdays; either day field when both are restricted', () => {
    const weekdays = compilePeriod('* 7-22 * * 1-5');
    expect(weekdays(local(7, 0))).toBe(true); // Tuesday
    expect(weekdays(local(22, 59))).toBe(true);
    expect(weekdays(local(23, 0))).toBe(false);
    expect(weekdays(local(12, 0, 6))).toBe(false); // Sunday 6 Dec
    const either = compilePeriod('* * 1 * 0');
    expect(either(local(12, 0, 1))).toBe(true); // the 1st
    expect(either(local(12, 0, 6))).toBe(true); // a Sunday
    expect(either(local(12, 0, 2))).toBe(false);
    expect(compilePeriod('*/10 30 9 * * *')(local(9, 30))).toBe(true); // seconds are ignored
  });
});
