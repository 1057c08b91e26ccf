/**
 * The ipvsadm driver: the kernel's IPVS table through the ipvsadm binary (netlink inside).
 *
 * - read: `ipvsadm -S -n` (rules) and `ipvsadm -Ln --exact --thresholds` (thresholds and
 *   connection counts, which -S leaves out), in parallel.
 * - apply: one op → one ipvsadm call, so a failure is attributed to its op; several ops → one
 *   `ipvsadm -R` batch. -R runs every line even after a failing one and exits with the last
 *   line's status only, so its stderr is reported unattributed and the reconciler re-reads and
 *   re-plans to find what is missing (retried ops are few, so they go one call each).
 * - stats: `-Ln --exact --stats` and `--rate`.
 *
 * argv only, never a shell; every call has a timeout and is killed when it passes.
 *
 * A failing call is not fatal here: the reconciler retries with backoff. Only at start-up does
 * `permanentFailure()` tell a failure retrying cannot fix (no ipvsadm, no IPVS in the kernel, no
 * CAP_NET_ADMIN, output lvsd cannot read) from one that may pass (an error exit, a hang).
 */
import { IpvsError } from '../core/errors.js';
import { findProgram } from '../core/find-program.js';
import { CommandError, runCommand, type CommandResult } from '../core/run-command.js';
import { opArgv } from './ipvsadm-format.js';
import { IpvsadmParseError, parseStats, parseTable } from './ipvsadm-parse.js';
import type { ApplyResult, IpvsDriver, IpvsOp, IpvsStats, IpvsTable, OpFailure } from './types.js';

/** up to this many ops are applied one call each (exact errors); more go as one -R batch */
export const SINGLE_CALLS_UP_TO = 4;
/** -R gets this much more time per 1,000 lines on top of the per-call timeout */
const BATCH_MS_PER_1000_LINES = 2000;

/** what a call is for: reading the table, reading traffic statistics, one change, a -R batch */
export type IpvsadmCommand = 'read' | 'stats' | 'change' | 'batch';

export interface IpvsadmCall {
  readonly args: readonly string[];
  readonly command: IpvsadmCommand;
  readonly lines: number;
  readonly durationMs: number;
  /** exit 0 and nothing on stderr */
  readonly ok: boolean;
  /** ok; error: a non-zero exit, stderr text (-R exits 0 past failing lines) or no start; timeout: killed at the timeout (or aborted) */
  readonly result: 'ok' | 'error' | 'timeout';
}

export interface IpvsadmDriverOptions {
  /** the ipvsadm binary; default: found on PATH, /usr/sbin or /sbin */
  readonly path?: string;
  /** per call (a -R batch gets more per line); default 10 s */
  readonly timeoutMs?: number;
  /** sees every call (metrics) */
  readonly onCall?: (call: IpvsadmCall) => void;
}

/** ipvsadm on PATH or in the sbin directories, else undefined. */
export function findIpvsadm(envPath = process.env.PATH ?? ''): string | undefined {
  return findProgram('ipvsadm', envPath);
}

export class IpvsadmDriver implements IpvsDriver {
  readonly name = 'ipvsadm';
  readonly path: string;
  private readonly timeoutMs: number;
  private readonly onCall: ((call: IpvsadmCall) => void) | undefined;

  constructor(options: IpvsadmDriverOptions = {}) {
    const found = options.path ?? findIpvsadm();
    if (found === undefined) throw new IpvsError('ipvsadm not found on PATH, in /usr/sbin or /sbin: install it (apt-get install ipvsadm)');
    this.path = found;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.onCall = options.onCall;
  }

  async read(signal?: AbortSignal): Promise<IpvsTable> {
    const [rules, thresholds] = await Promise.all([
      this.mustSucceed(['-S', '-n'], 'read', signal),
      this.mustSucceed(['-Ln', '--exact', '--thresholds'], 'read', signal),
    ]);
    return this.parse(['-S', '-n'], () => parseTable(rules.stdout, thresholds.stdout));
  }

  async stats(signal?: AbortSignal): Promise<IpvsStats> {
    const [stats, rate] = await Promise.all([
      this.mustSucceed(['-Ln', '--exact', '--stats'], 'stats', signal),
      this.mustSucceed(['-Ln', '--exact', '--rate'], 'stats', signal),
    ]);
    return this.parse(['-Ln', '--stats'], () => parseStats(stats.stdout, rate.stdout));
  }

  async apply(ops: readonly IpvsOp[], signal?: AbortSignal): Promise<ApplyResult> {
    if (ops.length === 0) return { failures: [] };
    if (ops.length <= SINGLE_CALLS_UP_TO) {
      const failures: OpFailure[] = [];
      for (const op of ops) {
        const r = await this.call(opArgv(op), 'change', undefined, signal);
        if (r.code !== 0) failures.push({ op, message: firstLine(r.stderr) || `ipvsadm exited ${r.code ?? r.signal}` });
      }
      return { failures };
    }
    const input = `${ops.map((op) => opArgv(op).join(' ')).join('\n')}\n`;
    const r = await this.call(['-R'], 'batch', input, signal, ops.length);
    const errors = r.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    if (r.code !== 0 && errors.length === 0) errors.push(`ipvsadm -R exited ${r.code ?? r.signal}`);
    return { failures: [], ...(errors.length > 0 ? { errors } : {}) };
  }

  async close(): Promise<void> {}

  private async mustSucceed(args: readonly string[], command: IpvsadmCommand, signal?: AbortSignal): Promise<CommandResult> {
    const r = await this.call(args, command, undefined, signal);
    if (r.code !== 0) {
      const why = r.stderr.trim().replace(/\s*\n\s*/g, '; ') || `exited ${r.code ?? r.signal}`;
      const hint = /Protocol not available|Can't initialize ipvs/i.test(r.stderr)
        ? ' (is the ip_vs kernel module loaded? modprobe ip_vs)'
        : '';
      throw new IpvsError(`ipvsadm ${args.join(' ')}: ${why}${hint}`, { args, code: r.code });
    }
    return r;
  }

  private async call(
    args: readonly string[], command: IpvsadmCommand, input: string | undefined, signal: AbortSignal | undefined, lines = 1,
  ): Promise<CommandResult> {
    const timeoutMs = lines > 1 ? this.timeoutMs + Math.ceil(lines / 1000) * BATCH_MS_PER_1000_LINES : this.timeoutMs;
    const t0 = performance.now();
    try {
      const r = await runCommand(this.path, args, {
        timeoutMs, ...(input !== undefined ? { input } : {}), ...(signal ? { signal } : {}),
      });
      const ok = r.code === 0 && r.stderr.trim() === '';
      this.observe({ args, command, lines, durationMs: r.durationMs, ok, result: ok ? 'ok' : 'error' });
      return r;
    } catch (e) {
      const timedOut = e instanceof CommandError && (e.code === 'LVSD_ERR_COMMAND_TIMEOUT' || e.code === 'LVSD_ERR_COMMAND_ABORTED');
      this.observe({ args, command, lines, durationMs: performance.now() - t0, ok: false, result: timedOut ? 'timeout' : 'error' });
      if (e instanceof CommandError) throw new IpvsError(e.message, { args }, { cause: e });
      throw e;
    }
  }

  /** a failing observer (metrics) must not turn a call's outcome into an exception */
  private observe(call: IpvsadmCall): void {
    try {
      this.onCall?.(call);
    } catch {
      // metrics are best effort
    }
  }

  private parse<T>(args: readonly string[], fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof IpvsadmParseError) throw new IpvsError(`cannot read the output of ipvsadm ${args.join(' ')}: ${e.message}`, { args }, { cause: e });
      throw e;
    }
  }
}

/** ipvsadm's words for what retrying will not fix: no IPVS in the kernel, no CAP_NET_ADMIN */
const PERMANENT_MESSAGE = /Protocol not available|Can't initialize ipvs|Permission denied|Operation not permitted/i;

/**
 * Whether a failed read (at start-up) is one retrying cannot fix: ipvsadm cannot be started
 * (missing, not executable), the kernel has no IPVS or lvsd lacks CAP_NET_ADMIN, or its output
 * is not what lvsd reads. Anything else (an error exit, a hang killed at the timeout) may pass.
 */
export function permanentFailure(e: unknown): boolean {
  for (let c: unknown = e; c instanceof Error; c = c.cause) {
    if (c instanceof CommandError) return c.code === 'LVSD_ERR_COMMAND_START';
    if (c instanceof IpvsadmParseError) return true;
  }
  return e instanceof Error && PERMANENT_MESSAGE.test(e.message);
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.trim() ?? '';
}
