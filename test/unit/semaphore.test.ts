import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../src/scheduler/semaphore.js';

describe('Semaphore', () => {
  it('grants up to its capacity, then queues in arrival order, also across queue compaction', async () => {
    const sem = new Semaphore(2);
    expect(sem.tryAcquire()).toBe(true);
    await sem.acquire();
    expect(sem.tryAcquire()).toBe(false);
    expect(sem.inUse).toBe(2);
    const order: number[] = [];
    const n = 5000; // past the compaction threshold, several times
    const waits = Array.from({ length: n }, (_, i) => sem.acquire().then(() => order.push(i)));
    expect(sem.queued).toBe(n);
    for (let i = 0; i < n; i++) {
      sem.release();
      if (i % 700 === 0) await Promise.resolve(); // interleave grants with new arrivals' bookkeeping
    }
    await Promise.all(waits);
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(sem.queued).toBe(0);
    expect(sem.inUse).toBe(2);
    sem.release();
    sem.release();
    expect(sem.inUse).toBe(0);
    expect(sem.tryAcquire()).toBe(true);
  });

  it('a waiter that arrives after compaction is still served last', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const order: string[] = [];
    const first = Array.from({ length: 3000 }, (_, i) => sem.acquire().then(() => order.push(`a${i}`)));
    for (let i = 0; i < 2500; i++) sem.release();
    const late = sem.acquire().then(() => order.push('late'));
    for (let i = 0; i < 501; i++) sem.release();
    await Promise.all([...first, late]);
    expect(order.at(-1)).toBe('late');
    expect(order.length).toBe(3001);
  });
});
