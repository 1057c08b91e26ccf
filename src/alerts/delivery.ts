/**
 * Deliverer: drains one target's AlertQueue through its Notifier, strictly in order. The head is
 * retried (exponential backoff with jitter, on the injected clock) until it is delivered or the
 * receiver refuses it for good; nothing behind it overtakes. close() stops without losing what is
 * undelivered: it stays in the queue's file for the next start.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { LvsError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { AlertQueue } from './queue.js';
import type { AlertEvent, DeliveryResult, Notifier } from './types.js';

/** What happened to each alert (the metrics hang off this). Calls are synchronous; throwing is logged and ignored. */
export interface DeliveryObserver {
  sent(target: string, e: AlertEvent): void;
  /** a retryable failure; `attempt` counts consecutive failures of this target (1 = first) */
  failed(target: string, e: AlertEvent, error: string, attempt: number): void;
  /** the receiver refused it for good: it is removed, not retried */
  rejected(target: string, e: AlertEvent, error: string): void;
  /** dropped from a full queue (the oldest go first) */
  dropped(target: string, e: AlertEvent): void;
}

export interface DelivererOptions {
  readonly target: string;
  readonly queue: AlertQueue;
  readonly notifier: Notifier;
  readonly clock: Clock;
  /** [0, 1), for the backoff's jitter */
  readonly random: () => number;
  readonly log: Logger;
  /** one attempt's deadline: its signal is aborted and it counts as a retryable failure */
  readonly timeoutMs: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly observer?: DeliveryObserver;
}

/** The delay before retry number `attempt` (1 = after the first failure): min(max, initial·2^(attempt-1))·[0.8, 1.2). */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const exp = Math.min(Math.max(attempt - 1, 0), 52); // 2^52 already dwarfs any cap
  const base = Math.min(maxMs, initialMs * 2 ** exp);
  const r = Math.min(Math.max(random(), 0), 1 - 1e-9); // keep the factor below 1.2 after rounding
  return base * (0.8 + 0.4 * r);
}

export class Deliverer {
  private readonly o: DelivererOptions;
  private readonly target: string;
  private readonly queue: AlertQueue;
  private readonly log: Logger;
  private started = false;
  private closing = false;
  private loop: Promise<void> | undefined;
  /** consecutive failed attempts; reset when the receiver answers (delivered or refused) */
  private failures = 0;
  /** the attempt in flight, for close() to abort */
  private current: AbortController | undefined;
  /** resolves the idle wait (queue empty) */
  private wakeIdle: (() => void) | undefined;
  /** the backoff wait in progress */
  private backoff: { timer: TimerHandle; done: () => void } | undefined;

  constructor(opts: DelivererOptions) {
    this.o = opts;
    this.target = opts.target;
    this.queue = opts.queue;
    this.log = opts.log;
  }

  /** Start draining (idempotent). Reports what the queue trimmed at open as dropped. */
  start(): void {
    if (this.closing) throw new LvsError('LVSD_ERR_ALERT_CLOSED', `alert deliverer ${this.target} is closed`, { target: this.target });
    if (this.started) return;
    this.started = true;
    for (const e of this.queue.takeDroppedAtOpen()) this.reportDropped(e);
    this.loop = this.run();
  }

  /**
   * Queue `e` (on disk when this resolves) and wake the loop. After close() the alert is still
   * queued and persisted, for the next start to deliver.
   */
  async enqueue(e: AlertEvent): Promise<void> {
    try {
      const dropped = await this.queue.push(e);
      for (const d of dropped) this.reportDropped(d);
    } finally {
      // even if the write failed the alert is queued in memory: deliver it
      this.wakeIdle?.();
    }
  }

  get depth(): number {
    return this.queue.length;
  }

  oldestEnqueuedAt(): number | undefined {
    return this.queue.oldestAt();
  }

  /** Stop: abort the attempt in flight (bounded by its timeout) and the backoff, wait, flush the queue. */
  async close(): Promise<void> {
    this.closing = true;
    this.current?.abort(new LvsError('LVSD_ERR_ALERT_CLOSED', 'alert deliverer closing', { target: this.target }));
    this.backoff?.done();
    this.wakeIdle?.();
    await this.loop;
    await this.queue.flush().catch((e: unknown) => {
      this.log.error({ target: this.target, err: errorMessage(e) }, 'alert queue: final write failed');
    });
  }

  private async run(): Promise<void> {
    while (!this.closing) {
      const head = this.queue.peek();
      if (!head) {
        await this.idle();
        continue;
      }
      try {
        await this.deliverHead(head);
      } catch (e) {
        // a bug, not a receiver problem: never let it end the loop, but do not spin either
        this.queue.markInFlight(false);
        this.failures++;
        this.log.error({ target: this.target, id: head.id, err: errorMessage(e) }, 'alert delivery loop error');
        await this.sleep(this.nextDelay());
      }
    }
  }

  private async deliverHead(head: AlertEvent): Promise<void> {
    this.queue.markInFlight(true);
    const result = await this.attempt(head);
    if (result.ok) {
      this.failures = 0;
      // counted as soon as the receiver took it, not after the queue file is rewritten
      this.observe('sent', (ob) => ob.sent(this.target, head));
      await this.removeHead(head);
      this.log.debug({ target: this.target, id: head.id, seq: head.seq }, 'alert delivered');
      return;
    }
    this.queue.markInFlight(false);
    if (this.closing) {
      // aborted by close(): not the receiver's failure; the head stays for the next start
      this.log.debug({ target: this.target, id: head.id, error: result.error }, 'alert delivery stopped by close');
      return;
    }
    if (result.permanent) {
      // a receiver that refuses this payload must not block every later alert
      this.failures = 0;
      this.log.error({ target: this.target, id: head.id, seq: head.seq, type: head.type, error: result.error }, 'alert rejected by the receiver; not retried');
      this.observe('rejected', (ob) => ob.rejected(this.target, head, result.error));
      await this.removeHead(head);
      return;
    }
    this.failures++;
    const delay = this.nextDelay();
    this.observe('failed', (ob) => ob.failed(this.target, head, result.error, this.failures));
    this.log.warn({ target: this.target, id: head.id, seq: head.seq, attempt: this.failures, error: result.error, retryInMs: Math.round(delay) }, 'alert delivery failed; will retry');
    await this.sleep(delay);
  }

  /** One attempt, settled by the notifier or by the deadline (whichever first; a thrown error is a retryable failure). */
  private async attempt(head: AlertEvent): Promise<DeliveryResult> {
    const ac = new AbortController();
    this.current = ac;
    let timer: TimerHandle | undefined;
    const deadline = new Promise<DeliveryResult>((resolve) => {
      timer = this.o.clock.setTimeout(() => {
        const error = `timed out after ${this.o.timeoutMs}ms`;
        ac.abort(new LvsError('LVSD_ERR_ALERT_TIMEOUT', error, { target: this.target }));
        resolve({ ok: false, error });
      }, this.o.timeoutMs);
    });
    const delivery = (async (): Promise<DeliveryResult> => {
      try {
        return await this.o.notifier.deliver(head, ac.signal);
      } catch (e) {
        return { ok: false, error: errorMessage(e) };
      }
    })();
    try {
      // racing the deadline bounds even a notifier that ignores its signal
      return await Promise.race([delivery, deadline]);
    } finally {
      timer?.cancel();
      this.current = undefined;
    }
  }

  /**
   * Shift the delivered/refused head (still the head: while it is in flight a push over max
   * drops behind it, and nothing else shifts). A failed write leaves it removed in memory (the
   * next write carries that).
   */
  private async removeHead(head: AlertEvent): Promise<void> {
    try {
      await this.queue.shift();
    } catch (e) {
      this.log.error({ target: this.target, id: head.id, err: errorMessage(e) }, 'alert queue: could not persist removal of a delivered alert');
    }
  }

  private nextDelay(): number {
    return backoffMs(this.failures, this.o.retryInitialMs, this.o.retryMaxMs, this.o.random);
  }

  /** Wait on the injected clock; close() ends the wait early. */
  private sleep(ms: number): Promise<void> {
    if (this.closing) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        timer.cancel();
        this.backoff = undefined;
        resolve();
      };
      const timer = this.o.clock.setTimeout(done, ms);
      this.backoff = { timer, done };
    });
  }

  /** Wait for enqueue() or close(). */
  private idle(): Promise<void> {
    if (this.closing) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.wakeIdle = () => {
        this.wakeIdle = undefined;
        resolve();
      };
    });
  }

  private reportDropped(e: AlertEvent): void {
    this.log.warn({ target: this.target, id: e.id, seq: e.seq, type: e.type, max: this.queue.max }, 'alert queue full: oldest alert dropped');
    this.observe('dropped', (ob) => ob.dropped(this.target, e));
  }

  private observe(what: string, call: (ob: DeliveryObserver) => void): void {
    if (!this.o.observer) return;
    try {
      call(this.o.observer);
    } catch (e) {
      this.log.error({ target: this.target, observer: what, err: errorMessage(e) }, 'alert delivery observer threw');
    }
  }
}
