/**
 * Deliverer + AlertQueue under a FakeClock, a scripted in-memory Notifier and an in-memory store
 * (its last saved snapshot stands for "the file"): order, backoff, permanent failures, close, drops.
 */
import { describe, expect, it } from 'vitest';
import { Deliverer, backoffMs, type DeliveryObserver } from '../../src/alerts/delivery.js';
import { AlertQueue, FileQueueStore, type QueueStore, type QueuedAlert } from '../../src/alerts/queue.js';
import type { AlertEvent, DeliveryResult, Notifier } from '../../src/alerts/types.js';
import { LvsError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { FakeClock } from '../support/fake-clock.js';

const log = silentLogger();

function ev(seq: number): AlertEvent {
  return { seq, id: `n1-${seq}`, type: 'realserver_down', at: new Date(1_700_000_000_000 + seq).toISOString(), node: 'n1', realserver: `10.0.0.${seq}:80`, detail: `down #${seq}` };
}

/** The "disk": what the last save() wrote. `gate` holds saves until released (to test coalescing). */
class MemoryStore implements QueueStore {
  disk: QueuedAlert[] = [];
  saves = 0;
  gate: Promise<void> | undefined;
  async load(): Promise<QueuedAlert[]> {
    return [...this.disk];
  }
  async save(items: readonly QueuedAlert[]): Promise<void> {
    this.saves++;
    if (this.gate) await this.gate;
    this.disk = [...items];
  }
  ids(): string[] {
    return this.disk.map((i) => i.event.id);
  }
}

type Script = (e: AlertEvent, signal: AbortSignal, call: number) => DeliveryResult | Promise<DeliveryResult>;

/** Records every call (id, time); answers from a script. */
class ScriptedNotifier implements Notifier {
  calls: { id: string; at: number }[] = [];
  delivered: string[] = [];
  private readonly clock: FakeClock;
  private readonly script: Script;
  constructor(clock: FakeClock, script: Script = () => ({ ok: true })) {
    this.clock = clock;
    this.script = script;
  }
  async deliver(e: AlertEvent, signal: AbortSignal): Promise<DeliveryResult> {
    this.calls.push({ id: e.id, at: this.clock.now() });
    const r = await this.script(e, signal, this.calls.length);
    if (r.ok) this.delivered.push(e.id);
    return r;
  }
}

class RecordingObserver implements DeliveryObserver {
  log: string[] = [];
  sent(_t: string, e: AlertEvent): void {
    this.log.push(`sent ${e.id}`);
  }
  failed(_t: string, e: AlertEvent, error: string, attempt: number): void {
    this.log.push(`failed ${e.id} #${attempt}: ${error}`);
  }
  rejected(_t: string, e: AlertEvent, error: string): void {
    this.log.push(`rejected ${e.id}: ${error}`);
  }
  dropped(_t: string, e: AlertEvent): void {
    this.log.push(`dropped ${e.id}`);
  }
}

/** Let every pending promise (and the in-memory store) settle: a macrotask turn drains all microtasks. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

/** Advance the fake clock in 1 ms steps, settling in between, so call times are exact to the ms. */
async function run(clock: FakeClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t++) {
    await clock.advance(1);
    await settle();
  }
}

interface Rig {
  clock: FakeClock;
  store: MemoryStore;
  queue: AlertQueue;
  notifier: ScriptedNotifier;
  observer: RecordingObserver;
  d: Deliverer;
}

async function rig(script?: Script, o: { max?: number; random?: () => number; timeoutMs?: number; store?: MemoryStore } = {}): Promise<Rig> {
  const clock = new FakeClock();
  const store = o.store ?? new MemoryStore();
  const queue = await AlertQueue.fromStore(store, { target: 'ops', max: o.max ?? 100, log, clock });
  const notifier = new ScriptedNotifier(clock, script);
  const observer = new RecordingObserver();
  const d = new Deliverer({
    target: 'ops', queue, notifier, clock, random: o.random ?? (() => 0.5), log,
    timeoutMs: o.timeoutMs ?? 5000, retryInitialMs: 100, retryMaxMs: 1000, observer,
  });
  return { clock, store, queue, notifier, observer, d };
}

const fail = (error = 'HTTP 503'): DeliveryResult => ({ ok: false, error });

describe('backoffMs', () => {
  it('doubles from the initial delay, caps at the max, and jitters within [0.8, 1.2)', () => {
    const mid = [1, 2, 3, 4, 5, 6, 60, 5000].map((n) => backoffMs(n, 100, 1000, () => 0.5));
    expect(mid).toEqual([100, 200, 400, 800, 1000, 1000, 1000, 1000]);
    expect(backoffMs(3, 100, 1000, () => 0)).toBe(320);
    const high = backoffMs(3, 100, 1000, () => 0.999999);
    expect(high).toBeGreaterThan(479);
    expect(high).toBeLessThan(480);
    expect(backoffMs(9, 100, 1000, () => 1)).toBeLessThan(1200);
  });
});

describe('Deliverer', () => {
  it('delivers everything in order and empties the queue on disk', async () => {
    const r = await rig();
    r.d.start();
    for (let i = 1; i <= 5; i++) await r.d.enqueue(ev(i));
    await settle();
    expect(r.notifier.delivered).toEqual(['n1-1', 'n1-2', 'n1-3', 'n1-4', 'n1-5']);
    expect(r.observer.log).toEqual(['sent n1-1', 'sent n1-2', 'sent n1-3', 'sent n1-4', 'sent n1-5']);
    expect(r.d.depth).toBe(0);
    expect(r.store.disk).toEqual([]);
    await r.d.close();
  });

  it('keeps order under failures: the head is retried and nothing behind it overtakes', async () => {
    // every alert fails twice before it goes through
    const tries = new Map<string, number>();
    const r = await rig((e) => {
      const n = (tries.get(e.id) ?? 0) + 1;
      tries.set(e.id, n);
      return n <= 2 ? fail() : { ok: true };
    });
    r.d.start();
    for (let i = 1; i <= 4; i++) await r.d.enqueue(ev(i));
    await run(r.clock, 3000);
    expect(r.notifier.delivered).toEqual(['n1-1', 'n1-2', 'n1-3', 'n1-4']);
    // attempts never go back to an earlier alert nor skip ahead of the current head
    const order = r.notifier.calls.map((c) => Number(c.id.slice(3)));
    expect(order).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
    expect(r.observer.log.filter((l) => l.startsWith('sent'))).toEqual(['sent n1-1', 'sent n1-2', 'sent n1-3', 'sent n1-4']);
    await r.d.close();
  });

  it('backs off 1x, 2x, 4x, ... up to retryMaxMs, and starts over after a success', async () => {
    let down = true;
    const r = await rig(() => (down ? fail() : { ok: true }));
    r.d.start();
    await r.d.enqueue(ev(1));
    await run(r.clock, 100 + 200 + 400 + 800 + 1000 + 1000 + 10);
    const gaps = r.notifier.calls.slice(1).map((c, i) => c.at - r.notifier.calls[i]!.at);
    expect(gaps).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(r.observer.log.slice(0, 3)).toEqual(['failed n1-1 #1: HTTP 503', 'failed n1-1 #2: HTTP 503', 'failed n1-1 #3: HTTP 503']);

    down = false;
    await run(r.clock, 1000);
    expect(r.notifier.delivered).toEqual(['n1-1']);
    // the counter reset: the next failure waits the initial delay again
    down = true;
    await r.d.enqueue(ev(2));
    await run(r.clock, 150);
    const after = r.notifier.calls.filter((c) => c.id === 'n1-2');
    expect(after.map((c) => c.at - after[0]!.at)).toEqual([0, 100]);
    expect(r.observer.log.at(-1)).toBe('failed n1-2 #2: HTTP 503');
    await r.d.close();
  });

  it('keeps the jittered delay within [0.8, 1.2) of the nominal one', async () => {
    for (const rand of [0, 0.999]) {
      const r = await rig(() => fail(), { random: () => rand });
      r.d.start();
      await r.d.enqueue(ev(1));
      await run(r.clock, 5000);
      const gaps = r.notifier.calls.slice(1).map((c, i) => c.at - r.notifier.calls[i]!.at);
      expect(gaps.length).toBeGreaterThanOrEqual(5);
      gaps.forEach((g, i) => {
        const nominal = Math.min(1000, 100 * 2 ** i);
        // call times are on 1 ms steps: allow the step
        expect(g).toBeGreaterThanOrEqual(Math.floor(nominal * 0.8));
        expect(g).toBeLessThanOrEqual(Math.ceil(nominal * 1.2));
        if (rand === 0) expect(g).toBe(nominal * 0.8);
        else expect(g).toBeGreaterThan(nominal * 1.19);
      });
      await r.d.close();
    }
  });

  it('skips an alert the receiver refuses for good and goes on at once', async () => {
    const r = await rig((e) => (e.id === 'n1-2' ? { ok: false, error: 'HTTP 400 bad payload', permanent: true } : { ok: true }));
    r.d.start();
    for (let i = 1; i <= 3; i++) await r.d.enqueue(ev(i));
    await settle();
    expect(r.notifier.delivered).toEqual(['n1-1', 'n1-3']);
    expect(r.observer.log).toEqual(['sent n1-1', 'rejected n1-2: HTTP 400 bad payload', 'sent n1-3']);
    expect(r.notifier.calls.map((c) => c.id)).toEqual(['n1-1', 'n1-2', 'n1-3']);
    expect(r.store.disk).toEqual([]);
    await r.d.close();
  });

  it('treats a notifier that throws as a retryable failure', async () => {
    const r = await rig((_e, _s, call) => {
      if (call === 1) throw new Error('ECONNREFUSED');
      return { ok: true };
    });
    r.d.start();
    await r.d.enqueue(ev(1));
    await settle();
    expect(r.observer.log).toEqual(['failed n1-1 #1: ECONNREFUSED']);
    await run(r.clock, 100);
    expect(r.observer.log).toEqual(['failed n1-1 #1: ECONNREFUSED', 'sent n1-1']);
    await r.d.close();
  });

  it('aborts an attempt at timeoutMs, even one that ignores its signal, and retries', async () => {
    let seen: AbortSignal | undefined;
    const r = await rig(
      (_e, signal, call) => {
        if (call > 1) return { ok: true };
        seen = signal;
        return new Promise<DeliveryResult>(() => {}); // never settles
      },
      { timeoutMs: 300 },
    );
    r.d.start();
    await r.d.enqueue(ev(1));
    await run(r.clock, 299);
    expect(r.observer.log).toEqual([]);
    expect(seen?.aborted).toBe(false);
    await run(r.clock, 1);
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBeInstanceOf(LvsError);
    expect(r.observer.log).toEqual(['failed n1-1 #1: timed out after 300ms']);
    await run(r.clock, 100);
    expect(r.observer.log.at(-1)).toBe('sent n1-1');
    await r.d.close();
  });

  it('close() mid-backoff stops at once and leaves the undelivered alerts on disk, in order', async () => {
    const store = new MemoryStore();
    const r = await rig(() => fail(), { store });
    r.d.start();
    for (let i = 1; i <= 3; i++) await r.d.enqueue(ev(i));
    await run(r.clock, 150); // two attempts, now waiting 200 ms
    expect(r.notifier.calls).toHaveLength(2);
    await r.d.close(); // no clock advance needed
    expect(r.clock.pending).toBe(0);
    expect(store.ids()).toEqual(['n1-1', 'n1-2', 'n1-3']);
    await run(r.clock, 5000);
    expect(r.notifier.calls).toHaveLength(2);

    // the next start picks up where this one stopped
    const next = await rig(undefined, { store });
    next.d.start();
    await settle();
    expect(next.notifier.delivered).toEqual(['n1-1', 'n1-2', 'n1-3']);
    expect(store.disk).toEqual([]);
    await next.d.close();
  });

  it('close() mid-attempt aborts it, waits for it, and keeps the head (not counted as a failure)', async () => {
    let seen: AbortSignal | undefined;
    let settled = false;
    const r = await rig((_e, signal) => {
      seen = signal;
      return new Promise<DeliveryResult>((resolve) => {
        signal.addEventListener('abort', () => {
          settled = true;
          resolve(fail('aborted'));
        });
      });
    });
    r.d.start();
    await r.d.enqueue(ev(1));
    await settle();
    expect(r.notifier.calls).toHaveLength(1);
    await r.d.close();
    expect(seen?.aborted).toBe(true);
    expect(settled).toBe(true);
    expect(r.observer.log).toEqual([]);
    expect(r.store.ids()).toEqual(['n1-1']);
    // an alert raised after close is still kept for the next start
    await r.d.enqueue(ev(2));
    expect(r.store.ids()).toEqual(['n1-1', 'n1-2']);
  });

  it('drops the oldest at max but never the head in flight', async () => {
    let release: ((r: DeliveryResult) => void) | undefined;
    const r = await rig(
      (e) => (e.id === 'n1-1' ? new Promise<DeliveryResult>((res) => { release = res; }) : { ok: true }),
      { max: 3 },
    );
    r.d.start();
    await r.d.enqueue(ev(1));
    await settle();
    expect(r.queue.headInFlight).toBe(true);
    for (let i = 2; i <= 6; i++) await r.d.enqueue(ev(i));
    // 1 is being delivered: 2, 3 and 4 went, oldest first
    expect(r.observer.log).toEqual(['dropped n1-2', 'dropped n1-3', 'dropped n1-4']);
    expect(r.queue.snapshot().map((i) => i.event.id)).toEqual(['n1-1', 'n1-5', 'n1-6']);
    expect(r.store.ids()).toEqual(['n1-1', 'n1-5', 'n1-6']);
    release!({ ok: true });
    await settle();
    expect(r.notifier.delivered).toEqual(['n1-1', 'n1-5', 'n1-6']);
    expect(r.observer.log.slice(3)).toEqual(['sent n1-1', 'sent n1-5', 'sent n1-6']);
    await r.d.close();
  });

  it('with max 1 and the head in flight, the new alert is the one dropped', async () => {
    let release: ((r: DeliveryResult) => void) | undefined;
    const r = await rig((e) => (e.id === 'n1-1' ? new Promise<DeliveryResult>((res) => { release = res; }) : { ok: true }), { max: 1 });
    r.d.start();
    await r.d.enqueue(ev(1));
    await settle();
    await r.d.enqueue(ev(2));
    expect(r.observer.log).toEqual(['dropped n1-2']);
    release!({ ok: true });
    await settle();
    expect(r.notifier.delivered).toEqual(['n1-1']);
    await r.d.close();
  });

  it('between attempts (backing off) the head is an ordinary oldest alert and may be dropped', async () => {
    let down = true;
    const r = await rig(() => (down ? fail() : { ok: true }), { max: 2 });
    r.d.start();
    await r.d.enqueue(ev(1));
    await settle();
    expect(r.queue.headInFlight).toBe(false);
    await r.d.enqueue(ev(2));
    await r.d.enqueue(ev(3));
    expect(r.observer.log).toEqual(['failed n1-1 #1: HTTP 503', 'dropped n1-1']);
    down = false;
    await run(r.clock, 100);
    expect(r.notifier.delivered).toEqual(['n1-2', 'n1-3']);
    await r.d.close();
  });

  it('reports alerts trimmed at open (file over a lowered max) as dropped on start', async () => {
    const store = new MemoryStore();
    store.disk = [1, 2, 3, 4].map((i) => ({ event: ev(i), enqueuedAt: i }));
    const r = await rig(() => fail(), { store, max: 2 });
    expect(store.ids()).toEqual(['n1-3', 'n1-4']);
    r.d.start();
    await settle();
    expect(r.observer.log.slice(0, 2)).toEqual(['dropped n1-1', 'dropped n1-2']);
    await r.d.close();
  });

  it('reports the depth and the oldest enqueue time', async () => {
    const r = await rig(() => fail());
    expect(r.d.oldestEnqueuedAt()).toBeUndefined();
    const t0 = r.clock.now();
    await r.d.enqueue(ev(1));
    await r.clock.advance(500);
    await r.d.enqueue(ev(2));
    expect(r.d.depth).toBe(2);
    expect(r.d.oldestEnqueuedAt()).toBe(t0);
    expect(r.store.disk.map((i) => i.enqueuedAt)).toEqual([t0, t0 + 500]);
  });
});

describe('AlertQueue (in-memory store)', () => {
  it('coalesces a burst of pushes into few writes; each push resolves only once it is saved', async () => {
    const store = new MemoryStore();
    const q = await AlertQueue.fromStore(store, { target: 'ops', max: 1000, log });
    let open!: () => void;
    store.gate = new Promise<void>((r) => { open = r; });
    const done: number[] = [];
    const pushes = Array.from({ length: 100 }, (_, i) => q.push(ev(i + 1)).then(() => done.push(i + 1)));
    await settle();
    expect(store.saves).toBe(1); // the first write is in flight, the other 99 wait for the next
    expect(done).toEqual([]);
    store.gate = undefined;
    open();
    await Promise.all(pushes);
    expect(store.saves).toBe(2);
    expect(store.ids()).toHaveLength(100);
    expect(store.ids()[99]).toBe('n1-100');
  });

  it('rejects a push whose write fails but keeps the alert for the next write', async () => {
    const store = new MemoryStore();
    const q = await AlertQueue.fromStore(store, { target: 'ops', max: 10, log });
    const save = store.save.bind(store);
    store.save = async () => { throw new Error('ENOSPC'); };
    await expect(q.push(ev(1))).rejects.toThrow('ENOSPC');
    store.save = save;
    await q.push(ev(2));
    expect(store.ids()).toEqual(['n1-1', 'n1-2']);
  });

  it('validates max', async () => {
    await expect(AlertQueue.fromStore(new MemoryStore(), { target: 'ops', max: 0, log })).rejects.toBeInstanceOf(LvsError);
    await expect(AlertQueue.fromStore(new MemoryStore(), { target: 'ops', max: 1, log })).resolves.toBeInstanceOf(AlertQueue);
  });
});

describe('FileQueueStore', () => {
  it('takes only target names that are plain file names, by the config\'s rule (1-63 characters)', () => {
    // the constructor touches no file
    const store = (target: string): FileQueueStore => new FileQueueStore({ dir: '/nonexistent', target, log, clock: new FakeClock() });
    for (const target of ['', '.hidden', '..', '../x', 'a/b', '-x', 'a b', 'x'.repeat(64)]) {
      expect(() => store(target), target).toThrow(LvsError);
    }
    for (const target of ['Ops_1.prod-a', 'x'.repeat(63)]) expect(store(target).file).toBe(`/nonexistent/${target}.json`);
  });
});
