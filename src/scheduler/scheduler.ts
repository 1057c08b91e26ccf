/**
 * The probe scheduler: one chain of runs per job, so a check never overlaps itself (the next
 * run is queued when one ends, in one due-queue behind one timer: due-queue.ts); a global
 * concurrency cap; a total deadline per probe (a Cancellation driven by the injected clock);
 * first runs spread uniformly over the interval so thousands of checks do not fire together;
 * fixed-rate re-arming (no drift) with the interval chosen by the realserver's phase
 * (fast while between states, slow while down). Cron-scheduled jobs go through node-cron
 * with noOverlap and share the same cap and deadline.
 */
import { Cancellation } from '../../checks/cancel.js';
import type { ProbeContext, ProbeResult } from '../../checks/types.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { CheckPhase } from '../state/realserver.js';
import { DueQueue, dueSlot, type DueSlot } from './due-queue.js';
import { Semaphore } from './semaphore.js';

export interface ScheduledJob {
  /** identity: a job with the same key is the same job across sync() calls */
  readonly key: string;
  readonly intervalMs: number;
  readonly fastIntervalMs: number;
  readonly downIntervalMs: number;
  readonly timeoutMs: number;
  /** cron expression (with seconds); replaces interval scheduling */
  readonly schedule?: string | undefined;
  readonly run: (ctx: ProbeContext) => Promise<ProbeResult>;
}

export interface RunInfo {
  /** when the run was due */
  readonly scheduledAt: number;
  /** when it got a concurrency slot and started */
  readonly startedAt: number;
  readonly finishedAt: number;
}

/** A cron hook: call `fire` on every slot of `expression`; returns a stopper. */
export type CronStarter = (expression: string, fire: () => Promise<void>) => { stop(): void };

export interface SchedulerDeps {
  readonly clock: Clock;
  readonly random: () => number;
  readonly maxConcurrent: number;
  /** gets every result; returns the phase that picks the next interval */
  readonly onResult: (key: string, result: ProbeResult, info: RunInfo) => CheckPhase;
  readonly cron?: CronStarter;
  /** a wake-up also starts the runs due within this many ms (see DueQueue); default 1 */
  readonly coalesceMs?: number;
}

/** How long past its deadline a probe may take to settle before the scheduler stops waiting. */
const SETTLE_GRACE_MS = 1000;

/** a job's run state; it is its own entry in the due queue */
interface JobState extends DueSlot {
  job: ScheduledJob;
  cronStop: (() => void) | undefined;
  running: boolean;
  stopped: boolean;
  controller: Cancellation | undefined;
  /** settles the in-flight probe at once (used on stop: a probe deaf to its signal must not hold close()) */
  abandon: (() => void) | undefined;
}

export class ProbeScheduler {
  private readonly jobs = new Map<string, JobState>();
  private readonly sem: Semaphore;
  /** jobs waiting for their next run */
  private readonly due: DueQueue<JobState>;
  /** runs begun and not finished (waiting for a slot or probing) */
  private active = 0;
  /** resolves close() once no run is left */
  private drained: (() => void) | undefined;
  private closed = false;

  private readonly deps: SchedulerDeps;

  constructor(deps: SchedulerDeps) {
    this.deps = deps;
    this.sem = new Semaphore(Math.max(1, deps.maxConcurrent));
    this.due = new DueQueue(deps.clock, (st, at) => this.begin(st, at), deps.coalesceMs);
  }

  get size(): number {
    return this.jobs.size;
  }

  /** probes running now and waiting for a slot */
  get load(): { readonly running: number; readonly queued: number } {
    return { running: this.sem.inUse, queued: this.sem.queued };
  }

  /** Level-triggered: afterwards the running set is exactly `jobs` (new ones start, missing ones stop). */
  sync(jobs: Iterable<ScheduledJob>): void {
    if (this.closed) return;
    const wanted = new Map<string, ScheduledJob>();
    for (const j of jobs) wanted.set(j.key, j);
    for (const [key, st] of this.jobs) {
      if (wanted.has(key)) continue;
      this.stop(st);
      this.jobs.delete(key);
    }
    for (const [key, job] of wanted) {
      if (this.jobs.has(key)) continue;
      const st: JobState = { job, cronStop: undefined, running: false, stopped: false, controller: undefined, abandon: undefined, ...dueSlot() };
      this.jobs.set(key, st);
      this.start(st);
    }
  }

  /** Run a job now, outside its schedule (skipped if it is already running). */
  async runNow(key: string): Promise<boolean> {
    const st = this.jobs.get(key);
    if (!st || st.running) return false;
    this.due.cancel(st);
    await this.execute(st, this.deps.clock.now());
    return true;
  }

  /** Stop every chain and abort in-flight probes; resolves when all have settled. */
  async close(): Promise<void> {
    this.closed = true;
    for (const st of this.jobs.values()) this.stop(st);
    this.jobs.clear();
    this.due.clear();
    if (this.active > 0) await new Promise<void>((resolve) => { this.drained = resolve; });
  }

  private start(st: JobState): void {
    const { job } = st;
    if (job.schedule !== undefined) {
      if (!this.deps.cron) throw new Error(`job ${job.key}: cron schedule given but no cron starter`);
      const handle = this.deps.cron(job.schedule, () => this.execute(st, this.deps.clock.now()));
      st.cronStop = () => handle.stop();
      return;
    }
    // spread first runs uniformly over one interval
    const first = this.deps.clock.now() + Math.floor(this.deps.random() * job.intervalMs);
    this.arm(st, first);
  }

  private arm(st: JobState, at: number): void {
    if (st.stopped) return;
    this.due.add(st, at);
  }

  private stop(st: JobState): void {
    st.stopped = true;
    this.due.cancel(st);
    st.cronStop?.();
    st.controller?.abort(new DOMException('lvsd is stopping this check', 'AbortError'));
    st.abandon?.();
  }

  /** a run of `st` (see begin), as a promise that settles when it has finished (runNow, cron) */
  private execute(st: JobState, scheduledAt: number): Promise<void> {
    return new Promise((resolve) => this.begin(st, scheduledAt, resolve));
  }

  /**
   * Start a run of `st`, due at `scheduledAt`, once a concurrency slot is free; `done` when it
   * has finished. Nothing but a queued callback while it waits: no promise or async frame per
   * waiting check, so an overloaded engine does not also grow its heap and its GC work.
   */
  private begin(st: JobState, scheduledAt: number, done?: () => void): void {
    if (st.running || st.stopped) { // never overlap (cron or runNow)
      done?.();
      return;
    }
    st.running = true;
    this.active++;
    this.sem.run(() => this.launch(st, scheduledAt, done));
  }

  /** holding a slot: probe, report, re-arm, release */
  private launch(st: JobState, scheduledAt: number, done: (() => void) | undefined): void {
    const { clock } = this.deps;
    const { job } = st;
    if (st.stopped) {
      // a microtask, not a call: thousands of stopped jobs handing the slot on must not nest
      queueMicrotask(() => {
        this.sem.release();
        this.settled(st, done);
      });
      return;
    }
    const startedAt = clock.now();
    void this.probe(st, job).then((result) => {
      this.sem.release();
      const finishedAt = clock.now();
      try {
        let phase: CheckPhase = 'steady';
        if (!st.stopped) phase = this.deps.onResult(job.key, result, { scheduledAt, startedAt, finishedAt });
        if (job.schedule !== undefined || st.stopped) return;
        const interval = phase === 'transition' ? job.fastIntervalMs : phase === 'down' ? job.downIntervalMs : job.intervalMs;
        // fixed rate from the due time; if the probe overran, go again right away but never overlap
        this.arm(st, Math.max(scheduledAt + interval, finishedAt));
      } finally {
        this.settled(st, done);
      }
    });
  }

  private settled(st: JobState, done: (() => void) | undefined): void {
    st.running = false;
    this.active--;
    done?.();
    if (this.active === 0) this.drained?.();
  }

  /**
   * One probe with its total deadline; a probe that ignores its signal is abandoned after a
   * grace. One promise settled once by whichever comes first (result, crash, grace, stop):
   * no race, and the grace timer exists only once the deadline has passed.
   */
  private probe(st: JobState, job: ScheduledJob): Promise<ProbeResult> {
    const { clock } = this.deps;
    const controller = new Cancellation();
    const t0 = clock.now();
    return new Promise<ProbeResult>((resolve) => {
      let grace: TimerHandle | undefined;
      let done = false;
      const finish = (r: ProbeResult): void => {
        if (done) return;
        done = true;
        deadline.cancel();
        grace?.cancel();
        st.controller = undefined;
        st.abandon = undefined;
        resolve(r);
      };
      const give = (detail: string): void => finish({ ok: false, outcome: 'timeout', durationMs: clock.now() - t0, detail });
      const deadline = clock.setTimeout(() => {
        controller.abort(new DOMException(`deadline of ${job.timeoutMs}ms passed`, 'TimeoutError'));
        grace = clock.setTimeout(() => give(`probe did not settle ${SETTLE_GRACE_MS}ms after its ${job.timeoutMs}ms deadline`), SETTLE_GRACE_MS);
      }, job.timeoutMs);
      st.controller = controller;
      st.abandon = () => give('check stopped');
      let running: Promise<ProbeResult>;
      try {
        running = job.run({ signal: controller, timeoutMs: job.timeoutMs });
      } catch (e) {
        running = Promise.reject(e);
      }
      running.then(finish, (e: unknown) => {
        // a probe must not reject; if one does, it is a bug, recorded as an error result
        finish({ ok: false, outcome: 'error', durationMs: clock.now() - t0, detail: `probe crashed: ${errorMessage(e)}` });
      });
    });
  }
}
