/**
 * The virtual addresses on the VRRP interface: `ip addr add/del` and gratuitous ARP with
 * `arping -U` (started, never waited on; repeated after a delay as keepalived does, so switches
 * and hosts that missed the first burst learn the new MAC). Every arping is tracked by PID and
 * ended on close, and on remove(): a director that gave the VIPs up must not go on telling the
 * link they are at its MAC (a repeat burst after a quick handover would point the clients back
 * at the backup). argv only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LvsError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { runCommand } from '../core/run-command.js';

export interface AddressManager {
  /** the interface's primary IPv4 address (the adverts' source), ignoring the VIPs */
  primaryAddress(): Promise<string>;
  /** link up (operstate up/unknown with carrier) */
  linkUp(): boolean;
  add(): Promise<void>;
  /** remove the VIPs, and stop any gratuitous ARP for them; absent ones are fine (start-up cleanup after a killed lvsd) */
  remove(): Promise<void>;
  /** gratuitous ARP for every VIP now, and again after the repeat delay */
  announce(): void;
  close(): void;
}

export interface IpAddressOptions {
  readonly interface: string;
  /** "192.0.2.10/24" (a bare address means /32) */
  readonly addresses: readonly string[];
  readonly log: Logger;
  /** GARPs per burst, and the delay before the second burst */
  readonly garpCount?: number;
  readonly garpRepeatDelayMs?: number;
  readonly timeoutMs?: number;
}

const withPrefix = (a: string): string => (a.includes('/') ? a : `${a}/32`);
export const bareAddress = (a: string): string => a.split('/')[0]!;

export class IpAddressManager implements AddressManager {
  private readonly opts: IpAddressOptions;
  private readonly arpings = new Set<ChildProcess>();
  private repeat: NodeJS.Timeout | undefined;

  constructor(opts: IpAddressOptions) {
    this.opts = opts;
  }

  async primaryAddress(): Promise<string> {
    const r = await runCommand('ip', ['-4', '-o', 'addr', 'show', 'dev', this.opts.interface], { timeoutMs: this.opts.timeoutMs ?? 5000 });
    if (r.code !== 0) throw new LvsError('LVSD_ERR_VRRP_INTERFACE', `interface ${this.opts.interface}: ${r.stderr.trim() || `ip exited ${r.code}`}`);
    const vips = new Set(this.opts.addresses.map(bareAddress));
    for (const line of r.stdout.split('\n')) {
      const m = /\binet (\d+\.\d+\.\d+\.\d+)\/\d+/.exec(line);
      if (m && !vips.has(m[1]!) && !/\bsecondary\b/.test(line)) return m[1]!;
    }
    throw new LvsError('LVSD_ERR_VRRP_INTERFACE', `interface ${this.opts.interface} has no IPv4 address of its own to send adverts from`);
  }

  linkUp(): boolean {
    try {
      const state = readFileSync(`/sys/class/net/${this.opts.interface}/operstate`, 'utf8').trim();
      return state === 'up' || state === 'unknown';
    } catch {
      return false;
    }
  }

  async add(): Promise<void> {
    for (const a of this.opts.addresses) {
      // replace: idempotent when the address is already there
      const r = await runCommand('ip', ['addr', 'replace', withPrefix(a), 'dev', this.opts.interface], { timeoutMs: this.opts.timeoutMs ?? 5000 });
      if (r.code !== 0) this.opts.log.error({ address: a, reason: r.stderr.trim() }, 'could not add a virtual address');
    }
  }

  async remove(): Promise<void> {
    this.stopAnnouncing();
    for (const a of this.opts.addresses) {
      const r = await runCommand('ip', ['addr', 'del', withPrefix(a), 'dev', this.opts.interface], { timeoutMs: this.opts.timeoutMs ?? 5000 });
      if (r.code !== 0 && !/Cannot assign requested address/.test(r.stderr)) {
        this.opts.log.error({ address: a, reason: r.stderr.trim() }, 'could not remove a virtual address');
      }
    }
  }

  announce(): void {
    this.burst();
    if (this.repeat) clearTimeout(this.repeat);
    this.repeat = setTimeout(() => this.burst(), this.opts.garpRepeatDelayMs ?? 5000);
    this.repeat.unref();
  }

  private burst(): void {
    for (const a of this.opts.addresses) {
      const count = this.opts.garpCount ?? 3;
      // -w: it ends by itself even if lvsd is killed before it could end it
      const child = spawn('arping', ['-q', '-U', '-c', String(count), '-w', String(count + 1), '-I', this.opts.interface, bareAddress(a)], { stdio: 'ignore' });
      this.arpings.add(child);
      child.once('error', (err) => { this.arpings.delete(child); this.opts.log.warn({ err: err.message }, 'arping could not start (apt-get install iputils-arping)'); });
      child.once('exit', () => this.arpings.delete(child));
    }
  }

  close(): void {
    this.stopAnnouncing();
  }

  private stopAnnouncing(): void {
    if (this.repeat) clearTimeout(this.repeat);
    this.repeat = undefined;
    for (const c of this.arpings) c.kill('SIGKILL');
    this.arpings.clear();
  }
}
