/** A counting semaphore with a FIFO wait queue: the global cap on probes in flight. */
export class Semaphore {
  private available: number;
  private readonly waiters: Array<() => void> = [];

  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.available = capacity;
  }

  get inUse(): number {
    return this.capacity - this.available;
  }

  get queued(): number {
    return this.waiters.length;
  }

  /** resolves when a slot is held; call release() exactly once afterwards */
  acquire(): Promise<void> {
    if (this.available > 0) {
      this.available--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** a slot right now, or false */
  tryAcquire(): boolean {
    if (this.available > 0) {
      this.available--;
      return true;
    }
    return false;
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.available++;
  }
}
