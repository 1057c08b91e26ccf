import { describe, expect, it } from 'vitest';
import type { ProbeContext, ProbeResult } from '../../checks/types.js';
import { ProbeScheduler, type RunInfo, type ScheduledJob } from '../../src/scheduler/scheduler.js';
import type { CheckPhase } from '../../src/state/realserver.js';
import { FakeClock } from '../support/fake-clock.js';

const OK: ProbeResult = { ok: true, outcome: 'ok', durationMs: 0, detail: 'ok' };

interface Seen { key: string; result: ProbeResult; info: RunInfo }

function setup(opts: { max?: number; random?: () => number; phase?: (key: string) => CheckPhase } = {}) {
  const clock = new FakeClock(0);
  const seen: Seen[] = [];
  const sched = new ProbeScheduler({
    clock, random: opts.random ?? (() => 0), maxConcurrent: opts.max ?? 100,
    onResult: (key, result, info) => { seen.push({ key, result, info }); return opts.phase?.(key) ?? 'steady'; },
  });
  return { clock, seen, sched };
}

function job(key: string, run: (ctx: ProbeContext) => Promise<ProbeResult>, over: Partial<ScheduledJob> = {}): ScheduledJob {
  return { key, intervalMs: 1000, fastIntervalMs: 1000, downIntervalMs: 1000, timeoutMs: 500, run, ...over };
}

/** a probe that takes `ms` of fake time, honouring its signal */
function takes(clock: FakeClock, ms: number, counter?: { now: number; max: number }) {
  return (ctx: ProbeContext) => new Promise<ProbeResult>((resolve) => {
    if (counter) { counter.now++; counter.max = Math.max(counter.max, counter.now); }
    const done = (r: ProbeResult) => { if (counter) counter.now--; resolve(r); };
    const t = clock.setTimeout(() => done(OK), ms);
    ctx.signal.addEventListener('abort', () => {
      t.cancel();
      done({ ok: false, outcome: (ctx.signal.reason as Error).name === 'TimeoutError' ? 'timeout' : 'error', durationMs: 0, detail: 'aborted' });
    });
  });
}

describe('probe scheduler', () => {
  it('spreads first runs uniformly over the interval', async () => {
    let i = 0;
    const { clock, seen, sched } = setup({ random: () => (i++ % 10) / 10 });
    sched.sync(Array.from({ length: 10 }, (_, k) => job(`j${k}`, async () => OK)));
    await clock.advance(999);
    expect(seen.map((s) => s.info.startedAt)).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
    await sched.close();
  });

  it('runs at a fixed rate without drift', async () => {
    const { clock, seen, sched } = setup();
    sched.sync([job('a', takes(clock, 30))]);
    await clock.advance(5030);
    expect(seen.map((s) => s.info.scheduledAt)).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
    expect(seen.every((s) => s.info.startedAt === s.info.scheduledAt)).toBe(true);
    await sched.close();
  });

  it('never overlaps a check with itself when it overruns its interval', async () => {
    const { clock, seen, sched } = setup();
    const c = { now: 0, max: 0 };
    sched.sync([job('slow', takes(clock, 2500, c), { timeoutMs: 5000 })]);
    await clock.advance(10_000);
    expect(c.max).toBe(1);
    // each run starts when the previous one finished
    expect(seen.map((s) => s.info.startedAt)).toEqual([0, 2500, 5000, 7500]);
    await sched.close();
  });

  it('aborts a probe at its deadline and reports a timeout', async () => {
    const { clock, seen, sched } = setup();
    sched.sync([job('hang', takes(clock, 1e9), { timeoutMs: 300 })]);
    await clock.advance(301);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.result.outcome).toBe('timeout');
    expect(seen[0]!.info.finishedAt).toBe(300);
    await sched.close();
  });

  it('abandons a probe that ignores its signal one grace period after the deadline', async () => {
    const { clock, seen, sched } = setup();
    sched.sync([job('deaf', () => new Promise<ProbeResult>(() => undefined), { timeoutMs: 300 })]);
    await clock.advance(1299);
    expect(seen).toHaveLength(0);
    await clock.advance(2);
    expect(seen[0]!.result).toMatchObject({ ok: false, outcome: 'timeout' });
    await sched.close();
  });

  it('records a rejecting probe as an error result and keeps scheduling', async () => {
    const { clock, seen, sched } = setup();
    sched.sync([job('bug', async () => { throw new Error('boom'); })]);
    await clock.advance(2000);
    expect(seen.map((s) => s.result.outcome)).toEqual(['error', 'error', 'error']);
    expect(seen[0]!.result.detail).toContain('boom');
    await sched.close();
  });

  it('holds the global concurrency cap and measures the queueing as lag', async () => {
    const { clock, seen, sched } = setup({ max: 2 });
    const c = { now: 0, max: 0 };
    sched.sync(Array.from({ length: 6 }, (_, k) => job(`j${k}`, takes(clock, 100, c))));
    await clock.advance(350);
    expect(c.max).toBe(2);
    expect(seen.map((s) => s.info.startedAt - s.info.scheduledAt)).toEqual([0, 0, 100, 100, 200, 200]);
    await sched.close();
  });

  it('under overload, 20,000 due checks wait in order for 4 slots, and close() with thousands waiting settles at once', async () => {
    const { clock, seen, sched } = setup({ max: 4 });
    const c = { now: 0, max: 0 };
    // all due at t=0, each probe 10 ms: 20,000 waiting behind 4 slots, served oldest first
    sched.sync(Array.from({ length: 20_000 }, (_, k) => job(`j${k}`, takes(clock, 10, c), { intervalMs: 1_000_000, timeoutMs: 60_000 })));
    await clock.advance(10_000);
    expect(c.max).toBe(4);
    expect(seen).toHaveLength(4000);
    // FIFO: the lag grows with the place in the queue
    expect(seen.slice(0, 8).map((x) => x.info.startedAt)).toEqual([0, 0, 0, 0, 10, 10, 10, 10]);
    expect(sched.load).toEqual({ running: 4, queued: 15_996 });
    await sched.close(); // 16,000 stopped jobs hand the slots on without nesting calls
    expect(sched.load).toEqual({ running: 0, queued: 0 });
  });

  it('a hanging check does not delay another check', async () => {
    const { clock, seen, sched } = setup({ max: 10 });
    sched.sync([
      job('hang', () => new Promise<ProbeResult>(() => undefined), { timeoutMs: 900 }),
      job('fine', takes(clock, 5)),
    ]);
    await clock.advance(10_005);
    const fine = seen.filter((s) => s.key === 'fine');
    expect(fine).toHaveLength(11);
    expect(fine.every((s) => s.info.startedAt === s.info.scheduledAt)).toBe(true);
    await sched.close();
  });

  it('uses the fast interval between states and the down interval while down', async () => {
    const phases: CheckPhase[] = ['transition', 'transition', 'down', 'down', 'steady'];
    const { clock, seen, sched } = setup({ phase: () => phases.shift() ?? 'steady' });
    sched.sync([job('a', async () => OK, { intervalMs: 1000, fastIntervalMs: 200, downIntervalMs: 3000 })]);
    await clock.advance(10_000);
    expect(seen.map((s) => s.info.scheduledAt).slice(0, 7)).toEqual([0, 200, 400, 3400, 6400, 7400, 8400]);
    await sched.close();
  });

  it('sync starts new jobs, stops removed ones and keeps the others running undisturbed', async () => {
    const { clock, seen, sched } = setup();
    const a = job('a', async () => OK);
    sched.sync([a, job('b', async () => OK)]);
    await clock.advance(1500);
    sched.sync([a, job('c', async () => OK)]);
    await clock.advance(1000);
    const keys = (k: string) => seen.filter((s) => s.key === k).map((s) => s.info.scheduledAt);
    expect(keys('a')).toEqual([0, 1000, 2000]);
    expect(keys('b')).toEqual([0, 1000]);
    expect(keys('c')).toEqual([1500, 2500]);
    expect(sched.size).toBe(2);
    await sched.close();
  });

  it('close aborts in-flight probes and stops all timers', async () => {
    const { clock, seen, sched } = setup();
    sched.sync([job('a', takes(clock, 1e9), { timeoutMs: 1e9 })]);
    await clock.advance(10);
    await sched.close();
    expect(clock.pending).toBe(0);
    await clock.advance(5000);
    expect(seen).toHaveLength(0);
  });

  it('runs cron-scheduled jobs through the cron starter without overlap', async () => {
    const clock = new FakeClock(0);
    const fires: Array<() => Promise<void>> = [];
    const seen: string[] = [];
    const sched = new ProbeScheduler({
      clock, random: () => 0, maxConcurrent: 10,
      onResult: (key) => { seen.push(key); return 'steady'; },
      cron: (expr, fire) => { expect(expr).toBe('*/5 * * * * *'); fires.push(fire); return { stop: () => undefined }; },
    });
    const c = { now: 0, max: 0 };
    sched.sync([job('cron', takes(clock, 100, c), { schedule: '*/5 * * * * *' })]);
    const fire = fires[0]!;
    void fire();
    void fire(); // a second slot while the first still runs: skipped
    await clock.advance(200);
    expect(seen).toEqual(['cron']);
    expect(c.max).toBe(1);
    await sched.close();
  });
});
