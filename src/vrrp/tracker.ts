/**
 * Failover tracking: the priority lvsd advertises is the configured one plus the weight of every
 * tracked thing that is down — a service with no UP realserver (told by the daemon), an
 * interface whose link is down (polled), a command that fails (run every interval, killed at its
 * timeout). keepalived's track_script / track_interface, with lvsd's services as a third kind.
 */
import { readFileSync } from 'node:fs';
import type { TrackConfig } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { runCommand } from '../core/run-command.js';

export interface TrackerDeps {
  readonly base: number;
  readonly track: readonly TrackConfig[];
  /** true while the named service has no UP realserver (and none still UNKNOWN) */
  readonly serviceDown: (name: string) => boolean;
  readonly log: Logger;
  readonly onPriority: (priority: number) => void;
  readonly interfacePollMs?: number;
}

export class Tracker {
  private readonly deps: TrackerDeps;
  /** index in deps.track → down (interface and exec entries; services are asked each time) */
  private readonly down = new Map<number, boolean>();
  private readonly timers: NodeJS.Timeout[] = [];
  private last: number | undefined;
  private stopped = false;

  constructor(deps: TrackerDeps) {
    this.deps = deps;
  }

  get priority(): number {
    let p = this.deps.base;
    this.deps.track.forEach((t, i) => {
      const isDown = t.kind === 'service' ? this.deps.serviceDown(t.service) : this.down.get(i) === true;
      if (isDown) p += t.weight;
    });
    return p;
  }

  start(): void {
    this.deps.track.forEach((t, i) => {
      if (t.kind === 'interface') {
        const poll = (): void => this.set(i, !linkUp(t.interface), `interface ${t.interface}`);
        poll();
        this.every(poll, this.deps.interfacePollMs ?? 1000);
      } else if (t.kind === 'exec') {
        let running = false;
        const probe = async (): Promise<void> => {
          if (running || this.stopped) return; // never overlaps itself
          running = true;
          try {
            const r = await runCommand(t.command[0]!, t.command.slice(1), { timeoutMs: t.timeoutMs });
            this.set(i, r.code !== 0, `command ${t.command.join(' ')}`);
          } catch (e) {
            this.set(i, true, `command ${t.command.join(' ')} (${errorMessage(e)})`);
          } finally {
            running = false;
          }
        };
        void probe();
        this.every(() => void probe(), t.intervalMs);
      }
    });
    this.changed();
  }

  /** a tracked service may have changed (the daemon's transition events) */
  changed(): void {
    const p = this.priority;
    if (p === this.last || this.stopped) return;
    this.last = p;
    this.deps.onPriority(p);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
  }

  private every(fn: () => void, ms: number): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  private set(i: number, isDown: boolean, what: string): void {
    if (this.down.get(i) === isDown) return;
    if (this.down.has(i) || isDown) this.deps.log.info({ tracked: what, down: isDown }, 'tracked state changed');
    this.down.set(i, isDown);
    this.changed();
  }
}

function linkUp(dev: string): boolean {
  try {
    const state = readFileSync(`/sys/class/net/${dev}/operstate`, 'utf8').trim();
    return state === 'up' || state === 'unknown';
  } catch {
    return false; // no such interface: down
  }
}
