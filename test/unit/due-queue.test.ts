import { describe, expect, it } from 'vitest';
import { DueQueue, dueSlot, type DueSlot } from '../../src/scheduler/due-queue.js';
import { FakeClock } from '../support/fake-clock.js';

/** a queued item: a name and the queue's slot fields */
interface Item extends DueSlot { readonly name: string }

/** one item per name, the same object each time (the queue knows an item by identity) */
function items(): (name: string | number) => Item {
  const made = new Map<string, Item>();
  return (name) => {
    const key = String(name);
    let it = made.get(key);
    if (!it) made.set(key, (it = { name: key, ...dueSlot() }));
    return it;
  };
}

describe('DueQueue', () => {
  it('fires each item once at its time, ties in arrival order, with the time it was due', async () => {
    const clock = new FakeClock(0);
    const named = items();
    const fired: string[] = [];
    const q = new DueQueue<Item>(clock, (item, at) => fired.push(`${item.name}@${at}:${clock.now()}`));
    q.add(named('c'), 300);
    q.add(named('a'), 100);
    q.add(named('b'), 100);
    q.add(named('d'), 50);
    await clock.advance(99);
    expect(fired).toEqual(['d@50:50']);
    await clock.advance(1000);
    expect(fired).toEqual(['d@50:50', 'a@100:100', 'b@100:100', 'c@300:300']);
    expect(q.size).toBe(0);
  });

  it('re-adding moves an item (earlier or later), cancel drops it, an item can re-add itself while firing', async () => {
    const clock = new FakeClock(0);
    const named = items();
    const fired: string[] = [];
    const q: DueQueue<Item> = new DueQueue<Item>(clock, (item, at) => {
      fired.push(`${item.name}@${at}`);
      if (item.name === 'loop' && at < 300) q.add(named('loop'), at + 100);
    });
    q.add(named('x'), 500);
    q.add(named('x'), 20); // earlier: the timer is re-armed
    q.add(named('y'), 30);
    q.add(named('y'), 400); // later: the old entry is skipped
    q.add(named('z'), 40);
    q.cancel(named('z'));
    q.add(named('loop'), 100);
    await clock.advance(1000);
    expect(fired).toEqual(['x@20', 'loop@100', 'loop@200', 'loop@300', 'y@400']);
  });

  it('keeps order across 20,000 random re-schedules and 5,000 cancels of 500 items', async () => {
    const clock = new FakeClock(0);
    const named = items();
    let x = 12345;
    const rnd = (): number => { x = (x * 1103515245 + 12345) % 2 ** 31; return x / 2 ** 31; };
    const last = new Map<number, number>();
    const fired: { item: number; at: number; now: number }[] = [];
    const q = new DueQueue<Item>(clock, (item, at) => fired.push({ item: Number(item.name), at, now: clock.now() }));
    for (let i = 0; i < 20_000; i++) {
      const item = Math.floor(rnd() * 500);
      const at = 1 + Math.floor(rnd() * 10_000);
      q.add(named(item), at);
      last.set(item, at);
      // every fourth step cancels one: removal from the middle of the heap
      if (i % 4 === 3) {
        const gone = Math.floor(rnd() * 500);
        q.cancel(named(gone));
        last.delete(gone);
      }
    }
    expect(q.size).toBe(last.size);
    await clock.advance(20_000);
    expect(fired).toHaveLength(last.size);
    for (const f of fired) expect(f.at).toBe(last.get(f.item));
    for (let i = 1; i < fired.length; i++) expect(fired[i]!.at).toBeGreaterThanOrEqual(fired[i - 1]!.at);
    // never early by more than the 1 ms it allows for a timer firing a little before its time
    for (const f of fired) expect(f.now).toBeGreaterThanOrEqual(f.at - 1);
  });

  it('a wake-up gathers what is due within its window, no earlier; due times stay nominal', async () => {
    const clock = new FakeClock(0);
    const named = items();
    const fired: string[] = [];
    const q = new DueQueue<Item>(clock, (item, at) => fired.push(`${item.name}@${at}:${clock.now()}`), 10);
    q.add(named('a'), 100);
    q.add(named('b'), 105);
    q.add(named('c'), 110);
    q.add(named('d'), 111);
    q.add(named('e'), 200);
    await clock.advance(99);
    expect(fired).toEqual([]);
    await clock.advance(1);
    // one wake-up at 100 starts a, b and c (due within 10 ms); d is 11 ms away and waits
    expect(fired).toEqual(['a@100:100', 'b@105:100', 'c@110:100']);
    await clock.advance(11);
    expect(fired.slice(3)).toEqual(['d@111:111']);
    await clock.advance(100);
    expect(fired.slice(4)).toEqual(['e@200:200']);
  });

  it('clear drops everything and no timer fires', async () => {
    const clock = new FakeClock(0);
    const named = items();
    const fired: number[] = [];
    const q = new DueQueue<Item>(clock, (item) => fired.push(Number(item.name)));
    q.add(named(1), 10);
    q.add(named(2), 20);
    q.clear();
    await clock.advance(100);
    expect(fired).toEqual([]);
  });
});
