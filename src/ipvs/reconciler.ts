/**
 * The reconciler: level-triggered. Each pass reads the driver's table, plans the difference to
 * the wanted table and applies it, then reads again to confirm (ipvsadm -R carries on past a
 * failing line, so only a re-read tells what happened). Requests coalesce: many state changes
 * in one tick make one pass, and passes are at least `minIntervalMs` apart and never hold the
 * event loop more than half the time (the gap after a pass is at least as long as the pass
 * spent planning and reading the table), so a wave of transitions (thousands of realservers
 * coming UP at start-up) costs a few passes, not one per transition; a lone change while idle
 * still goes out at once. A pass for state changes plans from the table the last pass verified
 * and diffs only the destinations the wanted side says changed; start, resync, retry and
 * reload diff everything. A pass that cannot converge is retried with backoff; a periodic
 * resync repairs drift (hand-made changes).
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { planOps } from './diff.js';
import { opCommand } from './ipvsadm-format.js';
import {
  endpointKey, serviceKey, type ApplyResult, type IpvsDriver, type IpvsOp, type IpvsTable, type OpFailure, type VirtualService,
  type WantedTable,
} from './types.js';

/** what an op changes (not how): the same add planned again after a failed batch is the same op */
function opIdentity(op: IpvsOp): string {
  return 'dest' in op ? `${op.op} ${serviceKey(op.service)} ${endpointKey(op.dest.endpoint)}` : `${op.op} ${serviceKey(op.service)}`;
}

export interface ReconcileReport {
  readonly at: number;
  readonly durationMs: number;
  /** ops applied across all attempts of this pass */
  readonly applied: readonly IpvsOp[];
  readonly failures: readonly OpFailure[];
  /** driver errors not tied to an op (ipvsadm -R's stderr) */
  readonly errors: readonly string[];
  /** true when the table matched the wanted table at the end */
  readonly converged: boolean;
  /** the table as last read */
  readonly table?: IpvsTable;
  readonly error?: string;
}

export interface ReconcilerDeps {
  readonly driver: IpvsDriver;
  /**
   * The table lvsd wants, given what the kernel holds now (realservers leaving the config drain
   * first). `full`: this pass diffs everything (start, resync, retry, reload); otherwise only
   * what `changed` names is diffed, so the table need not say what only a full pass needs.
   */
  readonly wanted: (actual: IpvsTable, full: boolean) => WantedTable;
  readonly clock: Clock;
  readonly log: Logger;
  readonly resyncIntervalMs: number;
  /** attempts (apply + verify) within one pass before giving up until the retry */
  readonly maxAttempts?: number;
  readonly retryBaseMs?: number;
  /** least time between the starts of two passes (default 20 ms) */
  readonly minIntervalMs?: number;
  readonly onReport?: (report: ReconcileReport) => void;
  /** why an op is made, for the log line (the daemon knows the realserver's state) */
  readonly explain?: (op: IpvsOp) => string;
}

export class Reconciler {
  private readonly deps: ReconcilerDeps;
  private running: Promise<void> | undefined;
  private dirty = false;
  private soon: TimerHandle | undefined;
  private resync: TimerHandle | undefined;
  private retry: TimerHandle | undefined;
  private failuresInARow = 0;
  private closed = false;
  private last: ReconcileReport | undefined;
  private lastPassAt = Number.NEGATIVE_INFINITY;
  private lastPassEnd = Number.NEGATIVE_INFINITY;
  /** time the last pass held the event loop or read the table: computing the wanted table, planning, reading */
  private lastBusyMs = 0;
  /**
   * Destinations whose wanted entry changed since `verified` was known to match the wanted
   * table; a pass that plans from `verified` diffs only these. False: unknown, diff everything.
   */
  private readonly pending = new Map<string, Set<string>>();
  private pendingKnown = false;
  /** the running pass diffs everything */
  private full = true;
  /**
   * The table as the last pass verified it, while nothing says it may have changed since:
   * a pass for a state change plans from it and skips the first read (one ipvsadm round trip
   * less between a decision and the kernel). Resync, retry and start always read afresh, and
   * the verify read after every apply catches anything the cache missed.
   */
  private verified: IpvsTable | undefined;
  private freshRead = true;
  private requested = false;

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
  }

  get lastReport(): ReconcileReport | undefined {
    return this.last;
  }

  /** Start: one pass now, then a resync every resyncIntervalMs. */
  start(): Promise<void> {
    this.armResync();
    return this.runNow({ fresh: true });
  }

  /**
   * Ask for a pass soon; any number of calls in one tick make one pass. `fresh`: the kernel's
   * table may have changed outside lvsd (connection counts, hand edits): read it first.
   */
  request(opts: { readonly fresh?: boolean } = {}): void {
    if (this.closed) return;
    if (opts.fresh) this.freshRead = true;
    if (this.running) {
      // picked up when the running pass ends, still respecting minIntervalMs
      this.requested = true;
      return;
    }
    if (this.soon) return;
    const next = Math.max(this.lastPassAt + (this.deps.minIntervalMs ?? 20), this.lastPassEnd + this.lastBusyMs);
    const wait = Math.max(0, next - this.deps.clock.now());
    this.soon = this.deps.clock.setTimeout(() => {
      this.soon = undefined;
      void this.runNow();
    }, wait);
  }

  /** Run a pass now (or, while one runs, one more right after it); resolves when the table has been handled. */
  runNow(opts: { readonly fresh?: boolean } = {}): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (opts.fresh) this.freshRead = true;
    this.dirty = true;
    this.running ??= this.loop().finally(() => {
      this.running = undefined;
      if (this.requested) {
        this.requested = false;
        this.request();
      }
    });
    return this.running;
  }

  private async loop(): Promise<void> {
    while (this.dirty && !this.closed) {
      this.dirty = false;
      this.lastPassAt = this.deps.clock.now();
      await this.pass();
      this.lastPassEnd = this.deps.clock.now();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.soon?.cancel();
    this.resync?.cancel();
    this.retry?.cancel();
    await this.running;
  }

  private armResync(): void {
    if (this.closed || this.deps.resyncIntervalMs <= 0) return;
    this.resync = this.deps.clock.setTimeout(() => {
      this.request({ fresh: true });
      this.armResync();
    }, this.deps.resyncIntervalMs);
  }

  private async pass(): Promise<void> {
    const { clock, driver, log } = this.deps;
    const t0 = clock.now();
    const applied: IpvsOp[] = [];
    let failures: readonly OpFailure[] = [];
    const errors: string[] = [];
    let table: IpvsTable | undefined;
    let converged = false;
    let error: string | undefined;
    try {
      const attempts = this.deps.maxAttempts ?? 3;
      this.lastBusyMs = 0;
      this.full = this.freshRead || !this.verified || !this.pendingKnown;
      if (this.freshRead || !this.verified) {
        this.freshRead = false;
        table = await this.read();
      } else {
        table = this.verified;
      }
      this.verified = undefined;
      let ops = this.plan(table);
      for (let i = 0; i < attempts && ops.length > 0; i++) {
        const result = await driver.apply(ops);
        failures = result.failures;
        for (const f of result.failures) log.warn({ command: opCommand(f.op), error: f.message, reason: this.why(f.op) }, 'ipvs change failed');
        for (const m of result.errors ?? []) log.warn({ reason: m }, 'ipvs batch reported an error');
        errors.push(...(result.errors ?? []));
        // verify: only a re-read says what took effect (ipvsadm -R carries on past failing lines)
        table = await this.read();
        const remaining = this.plan(table);
        const missing = new Set(remaining.map(opIdentity));
        for (const op of ops) if (!missing.has(opIdentity(op))) applied.push(op);
        ops = remaining;
      }
      converged = ops.length === 0;
      if (converged) {
        this.verified = table;
        this.pending.clear();
        this.pendingKnown = true;
      }
    } catch (e) {
      error = errorMessage(e);
      log.error({ err: error }, 'ipvs reconcile failed');
    }
    for (const op of applied) log.info({ command: opCommand(op), reason: this.why(op) }, 'ipvs change');
    const report: ReconcileReport = {
      at: t0, durationMs: clock.now() - t0, applied, failures, errors, converged,
      ...(table ? { table } : {}), ...(error !== undefined ? { error } : {}),
    };
    this.last = report;
    this.deps.onReport?.(report);
    this.scheduleRetry(converged);
  }

  /** the ops from `table` to the wanted table; its time counts toward the pause before the next pass */
  private plan(table: IpvsTable): IpvsOp[] {
    const t0 = this.deps.clock.now();
    try {
      const wanted = this.deps.wanted(table, this.full);
      if (this.full) return planOps(wanted, table);
      if (!wanted.changed) {
        // the wanted side cannot say what changed (a new config): everything, from here on
        this.full = true;
        this.pendingKnown = false;
        return planOps(wanted, table);
      }
      for (const [key, keys] of wanted.changed) {
        const have = this.pending.get(key);
        if (have) for (const k of keys) have.add(k);
        else this.pending.set(key, new Set(keys));
      }
      return planOps(wanted, table, this.pending);
    } finally {
      this.lastBusyMs += this.deps.clock.now() - t0;
    }
  }

  /** the driver's table; its time counts toward the pause before the next pass too (parsing 50k lines is not free) */
  private async read(): Promise<IpvsTable> {
    const t0 = this.deps.clock.now();
    try {
      return await this.deps.driver.read();
    } finally {
      this.lastBusyMs += this.deps.clock.now() - t0;
    }
  }

  /**
   * Delete the given services from the kernel (ipvs.cleanup_on_exit); call after close().
   * Services not in the kernel are skipped; what the driver refuses is reported.
   */
  async removeServices(services: readonly VirtualService[]): Promise<ApplyResult> {
    const table = await this.deps.driver.read();
    const ops: IpvsOp[] = services
      .filter((s) => table.services.has(serviceKey(s)))
      .map((service) => ({ op: 'delete-service', service }));
    const result = await this.deps.driver.apply(ops);
    for (const op of ops) this.deps.log.info({ command: opCommand(op) }, 'ipvs change (cleanup on exit)');
    return result;
  }

  private why(op: IpvsOp): string {
    try {
      return this.deps.explain?.(op) ?? op.op;
    } catch {
      return op.op;
    }
  }

  /** backoff after a pass that did not converge: 0.5 s, 1 s, 2 s ... capped at the resync interval */
  private scheduleRetry(converged: boolean): void {
    this.retry?.cancel();
    this.retry = undefined;
    if (converged) {
      if (this.failuresInARow > 0) this.deps.log.info({ failed_passes: this.failuresInARow }, 'ipvs table as wanted again');
      this.failuresInARow = 0;
      return;
    }
    this.failuresInARow++;
    const base = this.deps.retryBaseMs ?? 500;
    const cap = Math.max(base, this.deps.resyncIntervalMs);
    const delay = Math.min(cap, base * 2 ** (this.failuresInARow - 1));
    if (this.closed) return;
    this.deps.log.warn({ failed_passes: this.failuresInARow, retry_in_ms: delay }, 'ipvs table not as wanted: retrying');
    this.retry = this.deps.clock.setTimeout(() => this.request({ fresh: true }), delay);
  }
}
