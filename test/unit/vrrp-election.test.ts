/** The VRRP election: every transition, driven by events and explicit times (no real clock). */
import { describe, expect, it } from 'vitest';
import {
  REASSERT_MIN_GAP_MS, initialState, masterDownMs, nextDeadline, skewMs, step, type ElectionConfig, type ElectionEvent, type ElectionState,
} from '../../src/vrrp/election.js';
import type { ReceivedAdvert } from '../../src/vrrp/packet.js';

const cfg = (over: Partial<ElectionConfig> = {}): ElectionConfig => ({
  version: 3, vrid: 51, priority: 100, intervalMs: 1000, preempt: true, preemptDelayMs: 0,
  addresses: ['192.0.2.100'], self: '198.51.100.2', ...over,
});
const advert = (over: Partial<ReceivedAdvert> = {}): ReceivedAdvert => ({
  version: 3, vrid: 51, priority: 150, intervalMs: 1000, addresses: ['192.0.2.100'],
  src: '198.51.100.3', dst: '224.0.0.18', oldUnicastChecksum: false, ...over,
});

/** run events in order; returns the final state and every action with its time */
function run(c: ElectionConfig, events: [number, ElectionEvent][], from: ElectionState = initialState(c)) {
  let s = from;
  const log: string[] = [];
  for (const [t, ev] of events) {
    const r = step(c, s, ev, t);
    s = r.state;
    for (const a of r.actions) {
      log.push(`${t} ${a.type === 'send' ? `send ${a.priority}` : a.type === 'transition' ? `${a.from}->${a.to}` : a.type === 'reassert' ? `reassert ${a.other}` : a.type === 'dual_master' ? `dual ${a.other}` : `ignored ${a.reason}`}`);
    }
  }
  return { s, log };
}

describe('timers (RFC 5798 §6.1)', () => {
  it('computes skew and master-down from the priority and the master\'s interval', () => {
    expect(skewMs(100, 1000)).toBeCloseTo(609.375);
    expect(masterDownMs(100, 1000)).toBeCloseTo(3609.375); // keepalived's 3.61 s measured takeover
    expect(masterDownMs(254, 100)).toBeCloseTo(300.78125);
  });
});

describe('election', () => {
  it('starts as BACKUP and becomes MASTER when no advert comes within Master_Down_Interval', () => {
    const c = cfg();
    const { s, log } = run(c, [[0, { type: 'start' }], [3609, { type: 'tick' }], [3610, { type: 'tick' }]]);
    expect(log).toEqual(['0 init->backup', '3610 send 100', '3610 backup->master']);
    expect(s).toMatchObject({ state: 'master', nextAdvertAt: 4610 });
  });

  it('becomes MASTER at once as the address owner (priority 255)', () => {
    expect(run(cfg({ priority: 255 }), [[0, { type: 'start' }]]).log).toEqual(['0 send 255', '0 init->master']);
  });

  it('stays BACKUP while a higher-priority master advertises (each advert restarts the timer)', () => {
    const { s, log } = run(cfg(), [
      [0, { type: 'start' }], [1000, { type: 'advert', advert: advert() }], [2000, { type: 'advert', advert: advert() }],
      [5000, { type: 'tick' }],
    ]);
    expect(log).toEqual(['0 init->backup']);
    expect(s).toMatchObject({ state: 'backup', masterDownAt: 2000 + 3609.375, master: { src: '198.51.100.3', priority: 150 } });
    expect(nextDeadline(s)).toBeCloseTo(5609.375);
  });

  it('takes over after the skew time only when the master says goodbye (priority 0)', () => {
    const { s } = run(cfg(), [[0, { type: 'start' }], [1000, { type: 'advert', advert: advert({ priority: 0 }) }]]);
    expect(s.masterDownAt).toBeCloseTo(1609.375);
    expect(run(cfg(), [[1609.375, { type: 'tick' }]], s).log).toEqual(['1609.375 send 100', '1609.375 backup->master']);
  });

  it('preempts a lower-priority master, or not with preempt off', () => {
    const c = cfg({ priority: 200 });
    const low = advert({ priority: 100 });
    const on = run(c, [[0, { type: 'start' }], [500, { type: 'advert', advert: low }], [1500, { type: 'advert', advert: low }], [3500, { type: 'tick' }]]);
    expect(on.log).toEqual(['0 init->backup', '500 ignored lower_priority', '1500 ignored lower_priority', '3500 send 200', '3500 backup->master']);
    const off = run(cfg({ priority: 200, preempt: false }), [[0, { type: 'start' }], [2500, { type: 'advert', advert: low }], [3500, { type: 'tick' }]]);
    expect(off.log).toEqual(['0 init->backup']);
    expect(off.s.state).toBe('backup');
  });

  it('waits preempt_delay after entering BACKUP before preempting', () => {
    const c = cfg({ priority: 200, preemptDelayMs: 5000 });
    const low = advert({ priority: 100 });
    const events: [number, ElectionEvent][] = [[0, { type: 'start' }]];
    for (let t = 1000; t <= 8000; t += 1000) events.push([t, { type: 'advert', advert: low }], [t + 1, { type: 'tick' }]);
    const { log } = run(c, events);
    // accepted until 5 s, ignored from then on; master-down (3.22 s) runs out after the last accepted one (4 s)
    expect(log.filter((l) => !l.includes('ignored'))).toEqual(['0 init->backup', '8001 send 200', '8001 backup->master']);
    expect(log.filter((l) => l.includes('ignored'))).toHaveLength(4); // 5000 (not before) .. 8000
  });

  it('v3: a backup adopts the master\'s interval; v2: a different interval is ignored', () => {
    const v3 = run(cfg(), [[0, { type: 'start' }], [100, { type: 'advert', advert: advert({ intervalMs: 200 }) }]]);
    expect(v3.s).toMatchObject({ masterIntervalMs: 200 });
    expect(v3.s.masterDownAt).toBeCloseTo(100 + masterDownMs(100, 200));
    const v2 = run(cfg({ version: 2 }), [[0, { type: 'start' }], [100, { type: 'advert', advert: advert({ version: 2, intervalMs: 2000 }) }]]);
    expect(v2.log).toEqual(['0 init->backup', '100 ignored interval']);
  });

  it('ignores adverts for another VRID, its own, another version or another address list (counted by reason)', () => {
    const { log, s } = run(cfg(), [
      [0, { type: 'start' }],
      [1, { type: 'advert', advert: advert({ vrid: 52 }) }],
      [2, { type: 'advert', advert: advert({ src: '198.51.100.2' }) }],
      [3, { type: 'advert', advert: advert({ version: 2 }) }],
      [4, { type: 'advert', advert: advert({ addresses: ['192.0.2.100', '192.0.2.101'] }) }],
      [5, { type: 'advert', advert: advert({ addresses: ['192.0.2.99'] }) }],
    ]);
    expect(log).toEqual(['0 init->backup', '1 ignored vrid', '2 ignored own', '3 ignored version', '4 ignored addresses', '5 ignored addresses']);
    expect(s.masterDownAt).toBeCloseTo(3609.375); // none of them reset the timer
  });

  it('as MASTER: advertises at a fixed rate, yields to a higher priority or an equal one with a higher address', () => {
    const c = cfg({ priority: 255 });
    const m = run(c, [[0, { type: 'start' }], [1000, { type: 'tick' }], [2003, { type: 'tick' }], [3000, { type: 'tick' }]]);
    expect(m.log).toEqual(['0 send 255', '0 init->master', '1000 send 255', '2003 send 255', '3000 send 255']);
    const master = run(cfg(), [[0, { type: 'start' }], [3610, { type: 'tick' }]]).s;
    expect(run(cfg(), [[4000, { type: 'advert', advert: advert({ priority: 101 }) }]], master).log).toEqual(['4000 dual 198.51.100.3', '4000 master->backup']);
    expect(run(cfg(), [[4000, { type: 'advert', advert: advert({ priority: 100, src: '198.51.100.9' }) }]], master).log)
      .toEqual(['4000 dual 198.51.100.9', '4000 master->backup']);
    expect(run(cfg(), [[4000, { type: 'advert', advert: advert({ priority: 100, src: '198.51.100.1' }) }]], master).log)
      .toEqual(['4000 dual 198.51.100.1', '4000 send 100', '4000 reassert 198.51.100.1']);
  });

  it('as MASTER: answers a lower-priority master (split brain healing) with an advert and GARP', () => {
    const master = run(cfg({ priority: 200 }), [[0, { type: 'start' }], [4000, { type: 'tick' }]]).s;
    const r = run(cfg({ priority: 200 }), [[4100, { type: 'advert', advert: advert({ priority: 100 }) }]], master);
    expect(r.log).toEqual(['4100 dual 198.51.100.3', '4100 send 200', '4100 reassert 198.51.100.3']);
    expect(r.s).toMatchObject({ state: 'master', nextAdvertAt: 5100 });
  });

  it('as MASTER: answers a priority-0 advert at once', () => {
    const master = run(cfg({ priority: 255 }), [[0, { type: 'start' }]]).s;
    expect(run(cfg({ priority: 255 }), [[10, { type: 'advert', advert: advert({ priority: 0 }) }]], master).log).toEqual(['10 send 255']);
  });

  it('says goodbye with priority 0 on shutdown (a backup shuts down silently)', () => {
    const master = run(cfg({ priority: 255 }), [[0, { type: 'start' }]]).s;
    expect(run(cfg({ priority: 255 }), [[5, { type: 'shutdown' }]], master).log).toEqual(['5 send 0', '5 master->init']);
    const backup = run(cfg(), [[0, { type: 'start' }]]).s;
    expect(run(cfg(), [[5, { type: 'shutdown' }]], backup).log).toEqual(['5 backup->init']);
  });

  it('goes to FAULT while the interface is down, and back through BACKUP', () => {
    const master = run(cfg(), [[0, { type: 'start' }], [3610, { type: 'tick' }]]).s;
    const f = run(cfg(), [[4000, { type: 'interface', up: false }], [4500, { type: 'advert', advert: advert() }], [5000, { type: 'tick' }]], master);
    expect(f.log).toEqual(['4000 master->fault']);
    expect(f.s.state).toBe('fault');
    expect(run(cfg(), [[6000, { type: 'interface', up: true }]], f.s).log).toEqual(['6000 fault->backup']);
  });

  it('tracking lowers the priority: a master advertises it at once, a backup uses it for its timers', () => {
    const master = run(cfg({ priority: 150 }), [[0, { type: 'start' }], [4000, { type: 'tick' }]]).s;
    const lowered = run(cfg({ priority: 150 }), [[4100, { type: 'priority', priority: 90 }]], master);
    expect(lowered.log).toEqual(['4100 send 90']);
    // the backup at 100 now preempts the master advertising 90
    const backup = run(cfg(), [[0, { type: 'start' }]]).s;
    expect(run(cfg(), [[200, { type: 'advert', advert: advert({ priority: 90 }) }]], backup).log).toEqual(['200 ignored lower_priority']);
    expect(run(cfg({ priority: 150 }), [[0, { type: 'priority', priority: -20 }]]).s.priority).toBe(1);
    expect(run(cfg({ priority: 150 }), [[0, { type: 'priority', priority: 300 }]]).s.priority).toBe(254);
  });

  it('starts in FAULT when the link is down at start, and enters the election when it comes up', () => {
    const f = run(cfg(), [[0, { type: 'start', linkUp: false }], [5000, { type: 'tick' }], [5100, { type: 'advert', advert: advert() }]]);
    expect(f.log).toEqual(['0 init->fault']);
    expect(f.s).toMatchObject({ state: 'fault' });
    expect(nextDeadline(f.s)).toBeUndefined();
    expect(run(cfg(), [[6000, { type: 'interface', up: true }]], f.s).log).toEqual(['6000 fault->backup']);
    expect(run(cfg({ priority: 255 }), [[0, { type: 'start', linkUp: false }], [10, { type: 'interface', up: true }]]).log)
      .toEqual(['0 init->fault', '10 send 255', '10 fault->master']);
  });

  it('takes no interface event in INIT (before start, after shutdown)', () => {
    expect(run(cfg(), [[0, { type: 'interface', up: false }], [1, { type: 'interface', up: true }]]).s).toEqual(initialState(cfg()));
    const stopped = run(cfg(), [[0, { type: 'start' }], [10, { type: 'shutdown' }], [20, { type: 'interface', up: false }]]);
    expect(stopped.log).toEqual(['0 init->backup', '10 backup->init']);
    expect(stopped.s.state).toBe('init');
  });

  it('keeps its priority when told NaN', () => {
    const master = run(cfg({ priority: 150 }), [[0, { type: 'start' }], [4000, { type: 'tick' }]]).s;
    const r = run(cfg({ priority: 150 }), [[4100, { type: 'priority', priority: Number.NaN }]], master);
    expect(r.log).toEqual([]);
    expect(r.s.priority).toBe(150);
  });

  it('as MASTER under a flood of lower-priority or priority-0 adverts: one answer per interval, one GARP per second', () => {
    const c = cfg({ priority: 200, intervalMs: 100 });
    const master = run(c, [[0, { type: 'start' }], [400, { type: 'tick' }]]).s;
    expect(master.state).toBe('master');
    // 2,000 adverts from 1,000 sources over 2 s, half of them priority 0
    const events: [number, ElectionEvent][] = [];
    for (let i = 0; i < 2000; i++) {
      const src = `203.0.113.${i % 250}`;
      events.push([1000 + i, { type: 'advert', advert: advert({ priority: i % 2 === 0 ? 0 : 1 + (i % 199), src, intervalMs: 100 }) }]);
      if (i % 100 === 0) events.push([1000 + i, { type: 'tick' }]);
    }
    const { log, s } = run(c, events, master);
    expect(s.state).toBe('master');
    const sends = log.filter((l) => l.includes('send'));
    const garps = log.filter((l) => l.includes('reassert'));
    // the regular adverts (every 100 ms) and at most one answer per 100 ms: ~40, not 2,000
    expect(sends.length).toBeLessThanOrEqual(2 * (2000 / 100) + 2);
    expect(garps.length).toBeLessThanOrEqual(2000 / REASSERT_MIN_GAP_MS + 1);
    expect(garps.length).toBeGreaterThanOrEqual(1);
    expect(log.filter((l) => l.includes('dual'))).toHaveLength(1000); // every one is still counted
    // the first of them is answered at once, as before
    expect(log.slice(0, 3)).toEqual(['1000 send 200', '1001 dual 203.0.113.1', '1001 reassert 203.0.113.1']);
  });
});
