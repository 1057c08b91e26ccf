/**
 * The alert system's wiring: daemon events → each entry's policy → numbered alerts → that
 * entry's persistent queue → its deliverer. Events are handled one at a time in arrival order
 * (a promise chain), so sequence numbers follow the order things happened and every alert is
 * on disk before the next event is looked at.
 */
import { isDeepStrictEqual } from 'node:util';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Clock, TimerHandle } from '../core/clock.js';
import { LvsError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { DaemonEvent } from '../daemon/daemon.js';
import { Deliverer, type DeliveryObserver } from './delivery.js';
import { ExecNotifier } from './exec-notifier.js';
import { AlertPolicy, type PolicyAlert, type PolicyInput } from './policy.js';
import { AlertQueue } from './queue.js';
import { SequenceStore } from './sequence.js';
import type { AlertConfig, AlertEvent, Notifier } from './types.js';
import { WebhookNotifier } from './webhook-notifier.js';

/** how often alerts held for a `period` are looked at */
const PERIOD_TICK_MS = 15_000;

export interface AlertSystemDeps {
  readonly alerts: readonly AlertConfig[];
  readonly node: string;
  /** alerts/ under it holds the queues and the sequence file */
  readonly stateDir: string;
  readonly clock: Clock;
  readonly random: () => number;
  readonly log: Logger;
  readonly observer?: DeliveryObserver & { suppressed(target: string): void };
  /**
   * The system a reload replaces (closed by the caller): a target whose config is unchanged
   * keeps its policy, so what it knows (a realserver already reported down, a repeat due) goes
   * on and nothing is reported twice.
   */
  readonly previous?: AlertSystem;
}

interface Target {
  readonly cfg: AlertConfig;
  readonly policy: AlertPolicy;
  readonly deliverer: Deliverer;
}

export class AlertSystem {
  private readonly deps: AlertSystemDeps;
  private readonly targets: readonly Target[];
  private readonly seq: SequenceStore;
  private chain: Promise<void> = Promise.resolve();
  private tickTimer: TimerHandle | undefined;
  private closed = false;

  private constructor(deps: AlertSystemDeps, targets: readonly Target[], seq: SequenceStore) {
    this.deps = deps;
    this.targets = targets;
    this.seq = seq;
  }

  /** open the queues (alerts left by the last run are delivered first) and start delivering */
  static async start(deps: AlertSystemDeps): Promise<AlertSystem> {
    const dir = path.join(deps.stateDir, 'alerts');
    const seq = await SequenceStore.open(dir, (aside, reason) => {
      deps.log.error({ file: aside, reason }, 'alert sequence file was corrupt: set aside, numbering starts a new epoch');
    });
    const targets: Target[] = [];
    for (const cfg of deps.alerts) {
      const log = deps.log.child({ target: cfg.name });
      const queue = await AlertQueue.open({ dir, target: cfg.name, max: cfg.queueMax, log });
      const deliverer = new Deliverer({
        target: cfg.name, queue, notifier: await notifierFor(cfg), clock: deps.clock, random: deps.random, log,
        timeoutMs: cfg.timeoutMs, retryInitialMs: cfg.retryInitialMs, retryMaxMs: cfg.retryMaxMs,
        ...(deps.observer ? { observer: deps.observer } : {}),
      });
      if (queue.length > 0) log.info({ queued: queue.length }, 'undelivered alerts from the last run: delivering them first');
      const kept = deps.previous?.targets.find((t) => t.cfg.name === cfg.name && isDeepStrictEqual(t.cfg, cfg));
      targets.push({ cfg, policy: kept?.policy ?? new AlertPolicy(cfg), deliverer });
    }
    const system = new AlertSystem(deps, targets, seq);
    for (const t of targets) t.deliverer.start();
    system.armTick();
    return system;
  }

  /** queue depth and the oldest undelivered alert's age, per target (metrics) */
  queues(): { target: string; depth: number; oldestEnqueuedAt: number | undefined }[] {
    return this.targets.map((t) => ({ target: t.cfg.name, depth: t.deliverer.depth, oldestEnqueuedAt: t.deliverer.oldestEnqueuedAt() }));
  }

  /** a daemon event; processed after every earlier one */
  handle(e: DaemonEvent): void {
    const input = policyInput(e);
    if (!input || this.closed) return;
    this.decide((p) => p.decide(input));
  }

  /** stop delivering after a short grace to empty the queues; what is undelivered stays in state_dir for the next start */
  async close(graceMs = 0): Promise<void> {
    await this.chain;
    const until = Date.now() + graceMs;
    while (Date.now() < until && this.targets.some((t) => t.deliverer.depth > 0)) await new Promise((r) => setTimeout(r, 50));
    this.closed = true;
    this.tickTimer?.cancel();
    await this.chain;
    await Promise.all(this.targets.map((t) => t.deliverer.close()));
  }

  private enqueueWork(work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((err: unknown) => {
      this.deps.log.error({ err: errorMessage(err) }, 'alert could not be queued');
    });
  }

  /**
   * Run the policies now, in arrival order (they are synchronous; most events, e.g. every failed
   * probe of a realserver already down, send nothing); only numbering and queueing what they
   * send goes on the chain, in the same order.
   */
  private decide(run: (p: AlertPolicy) => { send: readonly PolicyAlert[]; suppressed: number }): void {
    const sends: { readonly target: Target; readonly alerts: readonly PolicyAlert[] }[] = [];
    for (const t of this.targets) {
      const r = run(t.policy);
      for (let i = 0; i < r.suppressed; i++) this.deps.observer?.suppressed(t.cfg.name);
      if (r.send.length > 0) sends.push({ target: t, alerts: r.send });
    }
    if (sends.length > 0) this.enqueueWork(() => this.enqueueAlerts(sends));
  }

  private async enqueueAlerts(sends: readonly { readonly target: Target; readonly alerts: readonly PolicyAlert[] }[]): Promise<void> {
    for (const { target: t, alerts } of sends) {
      for (const a of alerts) {
        const seq = await this.seq.next();
        const event = toEvent(a, seq, this.seq.key(this.deps.node, seq), this.deps.node);
        await t.deliverer.enqueue(event);
        // logged once it is on disk
        this.deps.log.info({
          target: t.cfg.name, seq, id: event.id, type: event.type, service: event.service, realserver: event.realserver, detail: event.detail,
        }, 'alert queued');
      }
    }
  }

  private armTick(): void {
    if (this.closed || !this.targets.some((t) => t.cfg.period !== undefined)) return;
    this.tickTimer = this.deps.clock.setTimeout(() => {
      const now = this.deps.clock.now();
      this.decide((p) => p.tick(now));
      this.armTick();
    }, PERIOD_TICK_MS);
  }
}

async function notifierFor(cfg: AlertConfig): Promise<Notifier> {
  const t = cfg.target;
  // the attempt's deadline (cfg.timeoutMs) is the Deliverer's: it aborts the notifier's signal
  if (t.kind === 'exec') return new ExecNotifier({ command: t.command });
  let secret: string | undefined;
  if (t.secretFile !== undefined) {
    try {
      secret = (await readFile(t.secretFile, 'utf8')).trim();
    } catch (e) {
      throw new LvsError('LVSD_ERR_ALERT_SECRET', `alert ${cfg.name}: cannot read webhook.secret_file ${t.secretFile}: ${errorMessage(e)}`, { file: t.secretFile });
    }
    if (secret === '') throw new LvsError('LVSD_ERR_ALERT_SECRET', `alert ${cfg.name}: webhook.secret_file ${t.secretFile} is empty`, { file: t.secretFile });
  }
  return new WebhookNotifier({ url: t.url, format: t.format, ...(secret !== undefined ? { secret } : {}) });
}

/** what of the daemon's events the policy looks at */
function policyInput(e: DaemonEvent): PolicyInput | undefined {
  switch (e.type) {
    case 'transition':
      if (e.to === 'down') return { kind: 'down', scope: 'realserver', service: e.service, realserver: e.realserver, failures: e.failures, at: e.at, detail: e.detail };
      if (e.to === 'up') return { kind: 'up', scope: 'realserver', service: e.service, realserver: e.realserver, at: e.at, detail: e.detail };
      return undefined;
    case 'still_down':
      return {
        kind: 'down', scope: e.scope, service: e.service, ...(e.realserver !== undefined ? { realserver: e.realserver } : {}),
        failures: e.failures, at: e.at, detail: e.detail,
      };
    case 'service':
      return e.to === 'down'
        ? { kind: 'down', scope: 'service', service: e.service, failures: 1, at: e.at, detail: e.detail }
        : { kind: 'up', scope: 'service', service: e.service, at: e.at, detail: e.detail };
    case 'admin':
      return { kind: 'event', type: e.action, service: e.service, realserver: e.realserver, at: e.at, detail: e.detail };
    case 'vrrp':
      return { kind: 'event', type: 'failover', from: e.from, to: e.to, at: e.at, detail: `${e.reason} (priority ${e.priority})` };
    case 'config_reload_failed':
      return { kind: 'event', type: 'config_reload_failed', at: e.at, detail: e.detail };
    case 'ipvs':
      return undefined;
  }
}

function toEvent(a: PolicyAlert, seq: number, id: string, node: string): AlertEvent {
  const { at, since, ...rest } = a;
  return {
    seq, id, node, ...rest, at: new Date(at).toISOString(),
    ...(since !== undefined ? { since: new Date(since).toISOString() } : {}),
  };
}
