/** A counting semaphore with a FIFO queue of callbacks: the global cap on probes in flight. */
export class Semaphore {
  private available: number;
  /**
   * Waiters in arrival order from `head` on. A head index, not Array#shift: with 50k checks
   * queued behind a full cap, shift's copying made release() the top cost of an overloaded run.
   */
  private waiters: Array<(() => void) | undefined> = [];
  private head = 0;

  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.available = capacity;
  }

  get inUse(): number {
    return this.capacity - this.available;
  }

  get queued(): number {
    return this.waiters.length - this.head;
  }

  /**
   * Call `fn` holding a slot: now if one is free, else when one is released (FIFO). No promise:
   * under overload tens of thousands of due checks wait here. `fn` must call release() once.
   */
  run(fn: () => void): void {
    if (this.available > 0) {
      this.available--;
      fn();
      return;
    }
    this.waiters.push(fn);
  }

  release(): void {
    if (this.head === this.waiters.length) {
      this.available++;
      return;
    }
    const next = this.waiters[this.head]!;
    this.waiters[this.head++] = undefined;
    // compact once the consumed prefix dominates: amortised O(1) per waiter
    if (this.head >= 1024 && this.head * 2 >= this.waiters.length) {
      this.waiters = this.waiters.slice(this.head);
      this.head = 0;
    }
    next();
  }
}
