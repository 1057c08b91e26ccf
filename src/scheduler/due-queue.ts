/**
 * Jobs waiting for their next run, in one binary min-heap behind a single clock timer. One
 * Node timer per job (a Timeout, a handle and two closures, ~300 bytes) was 15 MB and a timer
 * insert per check at 50,000 realservers.
 *
 * The heap is intrusive: each item carries its own due time, tie-break and heap position
 * (DueSlot), so a re-schedule moves the item in place and a cancel removes it by position. The
 * first version kept an entry object per schedule and a Map from item to its live entry: at
 * 50,000 realservers and 5,000 checks/s that was an entry promoted to the old generation per
 * check (it lives one interval) and a 3.7 MB Map whose every check deleted and re-added an
 * entry (a V8 Map keeps deleted slots until it rebuilds its table).
 *
 * A wake-up also fires what is due within the next `windowMs` (up to that much early): each
 * wake-up of an idle process (epoll return, context switch, entering JavaScript) cost more than
 * the TCP check it ran. With 1,000 checks at 2 s, one wake-up per check was 255 CPU ms per 1k
 * checks; gathering 10 ms worth per wake-up, 158 (npm run bench). Due times stay nominal, so
 * fixed-rate re-arming does not drift by the early starts.
 */
import type { Clock, TimerHandle } from '../core/clock.js';

/** The queue's fields on an item; an item belongs to at most one DueQueue. */
export interface DueSlot {
  /** when it is due (meaningful while queued) */
  dueAt: number;
  /** ties break in arrival order */
  dueSeq: number;
  /** its position in the heap; -1 while not queued */
  dueIndex: number;
}

/** the slot fields of an item not yet queued */
export function dueSlot(): DueSlot {
  return { dueAt: 0, dueSeq: 0, dueIndex: -1 };
}

export class DueQueue<T extends DueSlot> {
  private readonly heap: T[] = [];
  private seq = 0;
  private timer: TimerHandle | undefined;
  /** when the armed timer fires */
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly clock: Clock;
  private readonly fire: (item: T, at: number) => void;
  private readonly windowMs: number;

  /**
   * `fire(item, at)` runs once `at` is less than `windowMs` away; `at` is when it was due. The
   * window is at least 1 ms: timers may fire a fraction of a millisecond before their time.
   */
  constructor(clock: Clock, fire: (item: T, at: number) => void, windowMs = 1) {
    this.clock = clock;
    this.fire = fire;
    this.windowMs = Math.max(1, windowMs);
  }

  get size(): number {
    return this.heap.length;
  }

  /** (re)schedule `item` at `at`; an earlier schedule of the same item is dropped */
  add(item: T, at: number): void {
    item.dueAt = at;
    item.dueSeq = this.seq++;
    if (item.dueIndex < 0) {
      item.dueIndex = this.heap.length;
      this.heap.push(item);
    }
    this.sift(item.dueIndex);
    if (at < this.timerAt) this.arm(at);
  }

  cancel(item: T): void {
    const i = item.dueIndex;
    if (i < 0 || this.heap[i] !== item) return;
    this.removeAt(i);
    if (this.heap.length === 0) this.disarm();
  }

  clear(): void {
    for (const item of this.heap) item.dueIndex = -1;
    this.heap.length = 0;
    this.disarm();
  }

  private arm(at: number): void {
    this.timer?.cancel();
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => this.run(), at - this.clock.now());
  }

  private disarm(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  /** fire everything due, then arm for the next */
  private run(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    for (;;) {
      const top = this.heap[0];
      if (!top) break;
      if (top.dueAt > now + this.windowMs) {
        this.arm(top.dueAt);
        break;
      }
      this.removeAt(0);
      this.fire(top, top.dueAt);
    }
  }

  private less(a: T, b: T): boolean {
    return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.dueSeq < b.dueSeq);
  }

  private removeAt(i: number): void {
    const h = this.heap;
    const item = h[i]!;
    item.dueIndex = -1;
    const last = h.pop()!;
    if (last === item) return;
    h[i] = last;
    last.dueIndex = i;
    this.sift(i);
  }

  /** move the item at `i` up or down to where it belongs */
  private sift(i: number): void {
    const h = this.heap;
    const item = h[i]!;
    // up
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (!this.less(item, parent)) break;
      h[i] = parent;
      parent.dueIndex = i;
      i = p;
    }
    // down
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && this.less(h[r]!, h[l]!) ? r : l;
      const child = h[c]!;
      if (!this.less(child, item)) break;
      h[i] = child;
      child.dueIndex = i;
      i = c;
    }
    h[i] = item;
    item.dueIndex = i;
  }
}
