import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../src/core/log.js';
import { MemoryIpvsDriver } from '../../src/ipvs/memory-driver.js';
import { Reconciler, type ReconcileReport } from '../../src/ipvs/reconciler.js';
import {
  endpointKey, serviceKey, type ApplyResult, type IpvsDriver, type IpvsOp, type IpvsStats, type IpvsTable, type VirtualService,
  type WantedDestination, type WantedTable,
} from '../../src/ipvs/types.js';
import { FakeClock } from '../support/fake-clock.js';

const web: VirtualService = { protocol: 'tcp', endpoint: { host: '192.0.2.10', port: 80 }, scheduler: 'wlc' };
const d = (host: string, weight: number): WantedDestination => ({
  endpoint: { host, port: 80 }, forward: 'masq', weight, upperThreshold: 0, lowerThreshold: 0,
});
function wantedOf(dests: WantedDestination[]): WantedTable {
  return { services: new Map([[serviceKey(web), { service: web, destinations: new Map(dests.map((x) => [endpointKey(x.endpoint), x])) }]]) };
}

/** the memory driver, with the first `failing` apply calls refusing every op (as a broken ipvsadm would) */
class FlakyDriver implements IpvsDriver {
  readonly name = 'flaky';
  applies = 0;
  reads = 0;
  readonly inner: MemoryIpvsDriver;
  failing: number;
  constructor(inner: MemoryIpvsDriver, failing: number) {
    this.inner = inner;
    this.failing = failing;
  }
  read(): Promise<IpvsTable> { this.reads++; return this.inner.read(); }
  stats(): Promise<IpvsStats> { return this.inner.stats(); }
  async apply(ops: readonly IpvsOp[]): Promise<ApplyResult> {
    this.applies++;
    if (this.failing > 0) {
      this.failing--;
      return { failures: ops.map((op) => ({ op, message: 'Memory allocation problem' })) };
    }
    return this.inner.apply(ops);
  }
  close(): Promise<void> { return Promise.resolve(); }
}

function setup(failing = 0, resyncIntervalMs = 30_000) {
  const clock = new FakeClock(0);
  const mem = new MemoryIpvsDriver();
  const driver = new FlakyDriver(mem, failing);
  let wanted = wantedOf([d('198.51.100.2', 3)]);
  const reports: ReconcileReport[] = [];
  const r = new Reconciler({
    driver, clock, log: silentLogger(), resyncIntervalMs, wanted: () => wanted, onReport: (x) => reports.push(x),
  });
  return { clock, mem, driver, r, reports, setWanted: (w: WantedTable) => { wanted = w; } };
}

const weights = async (mem: MemoryIpvsDriver) =>
  [...((await mem.read()).services.get(serviceKey(web))?.destinations.values() ?? [])].map((x) => `${endpointKey(x.endpoint)}=${x.weight}`);

describe('reconciler', () => {
  it('converges on start and verifies by re-reading', async () => {
    const { mem, driver, r, reports } = setup();
    await r.start();
    expect(await weights(mem)).toEqual(['198.51.100.2:80=3']);
    expect(reports.at(-1)).toMatchObject({ converged: true });
    expect(reports.at(-1)!.applied.map((o) => o.op)).toEqual(['add-service', 'add-dest']);
    expect(driver.reads).toBe(2);
    await r.close();
  });

  it('coalesces many requests in one tick into one pass', async () => {
    const { clock, r, reports, setWanted } = setup();
    await r.start();
    setWanted(wantedOf([d('198.51.100.2', 0)]));
    for (let i = 0; i < 50; i++) r.request();
    await clock.advance(20);
    expect(reports).toHaveLength(2);
    await r.close();
  });

  it('keeps passes minIntervalMs apart during a burst, and runs a lone request at once', async () => {
    const { clock, r, reports } = setup();
    await r.start(); // pass at t=0
    await clock.advance(5);
    r.request(); // within 20 ms of the last pass: waits until t=20
    await clock.advance(14);
    expect(reports).toHaveLength(1);
    await clock.advance(1);
    expect(reports.map((x) => x.at)).toEqual([0, 20]);
    await clock.advance(1000);
    r.request(); // idle for long: at once
    await clock.advance(0);
    expect(reports.map((x) => x.at)).toEqual([0, 20, 1020]);
    await r.close();
  });

  it('after a pass pauses as long as it planned and read, not as long as it waited for changes to apply: a burst leaves half the loop to the probes', async () => {
    const clock = new FakeClock(0);
    const mem = new MemoryIpvsDriver();
    // applying takes 300 ms of waiting (ipvsadm -R in a slow VM); a read 20 ms (parsing a big table)
    const slowApply: IpvsDriver = {
      name: 'slow', stats: () => mem.stats(), close: () => Promise.resolve(),
      apply: (ops) => new Promise((resolve) => { clock.setTimeout(() => resolve(mem.apply(ops)), 300); }),
      read: () => new Promise((resolve) => { clock.setTimeout(() => resolve(mem.read()), 20); }),
    };
    const reports: ReconcileReport[] = [];
    let weight = 1;
    // a big table: computing what is wanted holds the loop for 50 ms of the (fake) clock; a
    // pass that changes something computes it twice (plan, verify): 100 ms of planning
    const r: Reconciler = new Reconciler({
      driver: slowApply, clock, log: silentLogger(), resyncIntervalMs: 30_000,
      wanted: () => { clock.consume(50); return wantedOf([d('198.51.100.2', weight)]); },
      onReport: (x) => {
        reports.push(x);
        // the next change arrives as the first pass ends (a wave of transitions)
        if (reports.length === 1) { weight = 2; r.request(); }
      },
    });
    const started = r.start();
    await clock.advance(3000);
    await started;
    expect(reports[0]!.durationMs).toBe(440); // two reads of 20 ms, 100 ms of planning, 300 ms applying
    expect(reports).toHaveLength(2);
    // next pass: 140 ms (planning and reading) after the first ended, not 440 (its whole duration)
    expect(reports[1]!.at).toBe(reports[0]!.at + reports[0]!.durationMs + 140);
    expect(await weights(mem)).toEqual(['198.51.100.2:80=2']);
    await r.close();
  });

  it('retries with backoff while the driver fails, then converges', async () => {
    const { clock, mem, driver, r, reports } = setup(5);
    await r.start(); // 3 attempts, all refused
    expect(reports.at(-1)).toMatchObject({ converged: false });
    expect(reports.at(-1)!.failures.length).toBeGreaterThan(0);
    expect(await weights(mem)).toEqual([]);
    await clock.advance(499);
    expect(reports).toHaveLength(1);
    await clock.advance(1); // first retry after 500 ms: 2 more refusals, then success
    expect(reports.at(-1)).toMatchObject({ converged: true });
    expect(driver.applies).toBe(6);
    expect(await weights(mem)).toEqual(['198.51.100.2:80=3']);
    await r.close();
  });

  it('repairs drift at the resync interval', async () => {
    const { clock, mem, r } = setup(0, 10_000);
    await r.start();
    await mem.apply([{ op: 'edit-dest', service: web, dest: d('198.51.100.2', 42) }, { op: 'add-dest', service: web, dest: d('198.51.100.77', 1) }]);
    expect(await weights(mem)).toEqual(['198.51.100.2:80=42', '198.51.100.77:80=1']);
    await clock.advance(10_001);
    expect(await weights(mem)).toEqual(['198.51.100.2:80=3']);
    await r.close();
  });

  it('runNow during a pass runs once more after it with the newest wanted table', async () => {
    const { r, mem, setWanted } = setup();
    const first = r.start();
    setWanted(wantedOf([d('198.51.100.2', 7)]));
    const second = r.runNow();
    await Promise.all([first, second]);
    expect(await weights(mem)).toEqual(['198.51.100.2:80=7']);
    await r.close();
  });

  it('verifies a batch that fails part-way without saying which line (ipvsadm -R) and retries only what is missing', async () => {
    const clock = new FakeClock(0);
    const mem = new MemoryIpvsDriver();
    const seen: number[] = [];
    // applies every op but those for .66, and reports the refusal unattributed, as ipvsadm -R does
    const driver: IpvsDriver = {
      name: 'batch', read: () => mem.read(), stats: () => mem.stats(), close: async () => {},
      async apply(ops) {
        seen.push(ops.length);
        const ok = ops.filter((op) => !('dest' in op && op.dest.endpoint.host === '198.51.100.66'));
        await mem.apply(ok);
        return { failures: [], ...(ok.length < ops.length ? { errors: ['Memory allocation problem'] } : {}) };
      },
    };
    const reports: ReconcileReport[] = [];
    const wanted = wantedOf([d('198.51.100.2', 3), d('198.51.100.3', 2), d('198.51.100.66', 1)]);
    const r = new Reconciler({ driver, clock, log: silentLogger(), resyncIntervalMs: 30_000, wanted: () => wanted, onReport: (x) => reports.push(x) });
    await r.start();
    expect(seen).toEqual([4, 1, 1]); // the batch, then only the missing op, up to maxAttempts
    expect(reports[0]).toMatchObject({ converged: false, errors: ['Memory allocation problem', 'Memory allocation problem', 'Memory allocation problem'] });
    expect(reports[0]!.applied.map((op) => op.op)).toEqual(['add-service', 'add-dest', 'add-dest']);
    expect(await weights(mem)).toEqual(['198.51.100.2:80=3', '198.51.100.3:80=2']);
    await clock.advance(500); // retried with backoff
    expect(seen).toEqual([4, 1, 1, 1, 1, 1]);
    await r.close();
  });

  it('plans a state change from the table it last verified (one read, after the apply); resync reads afresh', async () => {
    const { clock, driver, r, setWanted, mem } = setup(0, 10_000);
    await r.start();
    expect(driver.reads).toBe(2); // the start read, and the verify read after creating the table
    setWanted(wantedOf([d('198.51.100.2', 0)]));
    r.request();
    await clock.advance(20);
    expect(driver.reads).toBe(3); // verify only
    expect(await weights(mem)).toEqual(['198.51.100.2:80=0']);
    await clock.advance(10_000); // resync: a fresh read finds nothing to do
    expect(driver.reads).toBe(4);
    await r.close();
  });

  it('a pass for state changes diffs only what the wanted side says changed; resync and a wanted side that cannot say diff everything', async () => {
    const clock = new FakeClock(0);
    const mem = new MemoryIpvsDriver();
    const key = serviceKey(web);
    const two = [d('198.51.100.2', 3), d('198.51.100.3', 3)];
    let wanted: WantedTable = wantedOf(two);
    const fulls: boolean[] = [];
    const r = new Reconciler({
      driver: mem, clock, log: silentLogger(), resyncIntervalMs: 10_000,
      wanted: (_actual, full) => { fulls.push(full); return wanted; },
    });
    await r.start();
    expect(fulls.every((f) => f)).toBe(true);
    // a hand edit the scoped pass does not look at: .3 set to 7 behind lvsd's back
    await mem.apply([{ op: 'edit-dest', service: web, dest: d('198.51.100.3', 7) }]);
    fulls.length = 0;
    wanted = { ...wantedOf([d('198.51.100.2', 0), two[1]!]), changed: new Map([[key, new Set(['198.51.100.2:80'])]]) };
    r.request();
    await clock.advance(20);
    expect(fulls).toEqual([false, false]); // plan and verify, both scoped
    expect(await weights(mem)).toEqual(['198.51.100.2:80=0', '198.51.100.3:80=7']);
    // the resync diffs everything and repairs the edit
    fulls.length = 0;
    wanted = wantedOf([d('198.51.100.2', 0), two[1]!]);
    await clock.advance(10_000);
    expect(fulls[0]).toBe(true);
    expect(await weights(mem)).toEqual(['198.51.100.2:80=0', '198.51.100.3:80=3']);
    // without `changed` (a new config) a state-change pass diffs everything too
    await mem.apply([{ op: 'edit-dest', service: web, dest: d('198.51.100.3', 7) }]);
    wanted = wantedOf([d('198.51.100.2', 1), two[1]!]);
    r.request();
    await clock.advance(20);
    expect(await weights(mem)).toEqual(['198.51.100.2:80=1', '198.51.100.3:80=3']);
    await r.close();
  });
});

describe('reconciler under a failing driver', () => {
  /** the memory driver behind a switch: while `broken`, read() rejects as a failing or hung (killed) ipvsadm does */
  function breakable() {
    const clock = new FakeClock(0);
    const mem = new MemoryIpvsDriver();
    const state = { broken: true, reads: [] as number[] };
    const driver: IpvsDriver = {
      name: 'breakable', stats: () => mem.stats(), apply: (ops) => mem.apply(ops), close: async () => {},
      read: async () => {
        state.reads.push(clock.now());
        if (state.broken) throw new Error('ipvsadm -S -n: no answer within 10000ms (killed)');
        return mem.read();
      },
    };
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
    const reports: ReconcileReport[] = [];
    const r = new Reconciler({
      driver, clock, log: createLogger('info', sink), resyncIntervalMs: 5000, wanted: () => wantedOf([d('198.51.100.2', 3)]),
      onReport: (x) => reports.push(x),
    });
    return { clock, mem, state, r, reports, lines };
  }

  it('retries a pass whose read fails after 0.5 s, 1 s, 2 s ... up to the resync interval, then converges and starts over at 0.5 s', async () => {
    const { clock, mem, state, r, reports, lines } = breakable();
    await r.start();
    await clock.advance(13_000);
    // passes: start, +0.5, +1, +2, then the cap (5 s); the resync timer (every 5 s) asks for a pass too
    const passes = reports.map((x) => x.at);
    expect(passes.slice(0, 4)).toEqual([0, 500, 1500, 3500]);
    expect(reports.every((x) => !x.converged && x.error === 'ipvsadm -S -n: no answer within 10000ms (killed)')).toBe(true);
    expect(lines.filter((l) => l.msg === 'ipvs table not as wanted: retrying').slice(0, 4).map((l) => l.retry_in_ms)).toEqual([500, 1000, 2000, 4000]);
    expect(lines.filter((l) => l.msg === 'ipvs table not as wanted: retrying').every((l) => (l.retry_in_ms as number) <= 5000)).toBe(true);
    expect(lines.filter((l) => l.msg === 'ipvs reconcile failed')).toHaveLength(reports.length);
    state.broken = false;
    await clock.advance(5000);
    expect(reports.at(-1)).toMatchObject({ converged: true });
    expect(await weights(mem)).toEqual(['198.51.100.2:80=3']);
    expect(lines.at(-1)).toMatchObject({ msg: 'ipvs table as wanted again', failed_passes: reports.filter((x) => !x.converged).length });
    // broken again: the backoff starts over
    state.broken = true;
    const from = reports.length;
    r.request({ fresh: true });
    await clock.advance(1600);
    expect(reports.slice(from).map((x) => x.at - reports[from]!.at)).toEqual([0, 500, 1500]);
    await r.close();
  });

  it('arms no retry once closed (a stopping daemon is not kept alive by a timer)', async () => {
    const { clock, r, reports } = breakable();
    const first = r.start();
    await r.close();
    await first;
    expect(reports).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });
});
