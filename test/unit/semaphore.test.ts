import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../src/scheduler/semaphore.js';

describe('Semaphore', () => {
  it('runs up to its capacity at once, then queues in arrival order, also across queue compaction', () => {
    const sem = new Semaphore(2);
    const order: number[] = [];
    sem.run(() => order.push(-2));
    sem.run(() => order.push(-1));
    expect(sem.inUse).toBe(2);
    const n = 5000; // past the compaction threshold, several times
    for (let i = 0; i < n; i++) sem.run(() => order.push(i));
    expect(sem.queued).toBe(n);
    expect(order).toEqual([-2, -1]); // nothing queued ran before a release
    for (let i = 0; i < n; i++) sem.release();
    expect(order).toEqual([-2, -1, ...Array.from({ length: n }, (_, i) => i)]);
    expect(sem.queued).toBe(0);
    expect(sem.inUse).toBe(2);
    sem.release();
    sem.release();
    expect(sem.inUse).toBe(0);
  });

  it('a callback queued after compaction is still served last', () => {
    const sem = new Semaphore(1);
    sem.run(() => {});
    const order: string[] = [];
    for (let i = 0; i < 3000; i++) sem.run(() => order.push(`a${i}`));
    for (let i = 0; i < 2500; i++) sem.release();
    sem.run(() => order.push('late'));
    for (let i = 0; i < 501; i++) sem.release();
    expect(order.at(-1)).toBe('late');
    expect(order.length).toBe(3001);
  });
});
