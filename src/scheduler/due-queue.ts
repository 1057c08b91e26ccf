/**
 * Jobs waiting for their next run, in one binary min-heap behind a single clock timer. One
 * Node timer per job (a Timeout, a handle and two closures, ~300 bytes) was 15 MB and a timer
 * insert per check at 50,000 realservers; a heap entry is a few words. Removal is lazy: an
 * entry whose token no longer matches its owner's is skipped when it reaches the top.
 *
 * A wake-up also fires what is due within the next `windowMs` (up to that much early): each
 * wake-up of an idle process (epoll return, context switch, entering JavaScript) cost more than
 * the TCP check it ran. With 1,000 checks at 2 s, one wake-up per check was 255 CPU ms per 1k
 * checks; gathering 10 ms worth per wake-up, 158 (npm run bench). Due times stay nominal, so
 * fixed-rate re-arming does not drift by the early starts.
 */
import type { Clock, TimerHandle } from '../core/clock.js';

interface Entry<T> {
  readonly at: number;
  /** ties break in arrival order */
  readonly seq: number;
  readonly item: T;
}

export class DueQueue<T> {
  private readonly heap: Entry<T>[] = [];
  private seq = 0;
  private timer: TimerHandle | undefined;
  /** when the armed timer fires */
  private timerAt = Number.POSITIVE_INFINITY;
  /** the live entry of each item (replaced on re-add, removed on cancel) */
  private readonly live = new Map<T, Entry<T>>();
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
    return this.live.size;
  }

  /** (re)schedule `item` at `at`; an earlier schedule of the same item is dropped */
  add(item: T, at: number): void {
    const e: Entry<T> = { at, seq: this.seq++, item };
    this.live.set(item, e);
    this.push(e);
    // stale entries pile up when items are re-added often: rebuild once they are most of the heap
    if (this.heap.length > 1024 && this.heap.length > 2 * this.live.size) this.rebuild();
    if (at < this.timerAt) this.arm(at);
  }

  cancel(item: T): void {
    this.live.delete(item);
    if (this.live.size === 0) this.disarm();
  }

  clear(): void {
    this.live.clear();
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
      if (this.live.get(top.item) !== top) {
        this.pop();
        continue;
      }
      if (top.at > now + this.windowMs) {
        this.arm(top.at);
        break;
      }
      this.pop();
      this.live.delete(top.item);
      this.fire(top.item, top.at);
    }
  }

  private less(a: Entry<T>, b: Entry<T>): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(e: Entry<T>): void {
    const h = this.heap;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }

  private rebuild(): void {
    const entries = [...this.live.values()];
    this.heap.length = 0;
    for (const e of entries) this.push(e);
  }
}
