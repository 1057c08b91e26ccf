/**
 * Notify hooks on VRRP state changes, as keepalived runs them: notify_master / _backup /
 * _fault / _stop, and the generic notify with `INSTANCE <name> <STATE> <priority>` appended.
 * One at a time, in the order of the changes, each killed at its timeout; a failing hook is
 * logged and never holds up the election (the queue is its own).
 */
import type { NotifyConfig } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { runCommand } from '../core/run-command.js';
import type { VrrpState } from './election.js';

const KEEPALIVED_STATE: Record<VrrpState, string> = { master: 'MASTER', backup: 'BACKUP', fault: 'FAULT', init: 'STOP' };

export class NotifyQueue {
  private readonly cfg: NotifyConfig;
  private readonly instance: string;
  private readonly log: Logger;
  private tail: Promise<void> = Promise.resolve();

  constructor(cfg: NotifyConfig, instance: string, log: Logger) {
    this.cfg = cfg;
    this.instance = instance;
    this.log = log;
  }

  /** queue the hooks for entering `state` */
  changed(state: VrrpState, priority: number): void {
    const specific = state === 'master' ? this.cfg.master : state === 'backup' ? this.cfg.backup : state === 'fault' ? this.cfg.fault : this.cfg.stop;
    const runs: (readonly string[])[] = [];
    if (specific) runs.push(specific);
    if (this.cfg.all) runs.push([...this.cfg.all, 'INSTANCE', this.instance, KEEPALIVED_STATE[state], String(priority)]);
    for (const argv of runs) this.tail = this.tail.then(() => this.run(argv));
  }

  /** resolves when every queued hook has finished */
  drain(): Promise<void> {
    return this.tail;
  }

  private async run(argv: readonly string[]): Promise<void> {
    try {
      const r = await runCommand(argv[0]!, argv.slice(1), { timeoutMs: this.cfg.timeoutMs });
      if (r.code !== 0) this.log.warn({ hook: argv.join(' '), code: r.code, stderr: r.stderr.trim().slice(0, 200) }, 'notify hook failed');
    } catch (e) {
      this.log.warn({ hook: argv.join(' '), err: errorMessage(e) }, 'notify hook failed');
    }
  }
}
