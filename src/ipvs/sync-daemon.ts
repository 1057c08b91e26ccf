/**
 * The kernel's IPVS connection synchronisation, following the VRRP state as keepalived's
 * lvs_sync_daemon does: the master daemon (sends connection updates) while MASTER, the backup
 * daemon (receives them) while BACKUP, neither once stopped, so a backup that takes over already
 * knows the connections. Through ipvsadm, argv only, with a timeout; failures are logged and the
 * next state change tries again.
 */
import type { Logger } from '../core/log.js';
import { errorMessage } from '../core/errors.js';
import { runCommand } from '../core/run-command.js';
import type { VrrpState } from '../vrrp/election.js';
import { findIpvsadm } from './ipvsadm-driver.js';

export interface SyncDaemonOptions {
  readonly interface: string;
  readonly syncId: number;
  readonly log: Logger;
  readonly ipvsadm?: string;
  readonly timeoutMs?: number;
}

type Role = 'master' | 'backup';

export class SyncDaemon {
  private readonly opts: SyncDaemonOptions;
  private readonly ipvsadm: string;
  private queue: Promise<void> = Promise.resolve();

  constructor(opts: SyncDaemonOptions) {
    this.opts = opts;
    this.ipvsadm = opts.ipvsadm ?? findIpvsadm() ?? 'ipvsadm';
  }

  /** follow a VRRP state change (queued: changes apply in order) */
  follow(state: VrrpState): Promise<void> {
    this.queue = this.queue.then(() => this.apply(state));
    return this.queue;
  }

  private async apply(state: VrrpState): Promise<void> {
    const want: Role | undefined = state === 'master' ? 'master' : state === 'backup' ? 'backup' : undefined;
    for (const role of ['master', 'backup'] as const) {
      if (role !== want) await this.run(['--stop-daemon', role], true);
    }
    if (want) {
      await this.run(['--start-daemon', want, '--mcast-interface', this.opts.interface, '--syncid', String(this.opts.syncId)], false);
    }
  }

  private async run(args: string[], quietIfNotRunning: boolean): Promise<void> {
    try {
      const r = await runCommand(this.ipvsadm, args, { timeoutMs: this.opts.timeoutMs ?? 5000 });
      if (r.code === 0) {
        this.opts.log.info({ command: `ipvsadm ${args.join(' ')}` }, 'IPVS sync daemon');
        return;
      }
      // stopping a daemon that is not running, starting one that already runs: the state we want
      if (quietIfNotRunning && /No daemon is running|No such process|not running/i.test(r.stderr)) return;
      if (!quietIfNotRunning && /already/i.test(r.stderr)) return;
      this.opts.log.warn({ command: `ipvsadm ${args.join(' ')}`, reason: r.stderr.trim() }, 'IPVS sync daemon command failed');
    } catch (e) {
      this.opts.log.warn({ command: `ipvsadm ${args.join(' ')}`, err: errorMessage(e) }, 'IPVS sync daemon command failed');
    }
  }
}
