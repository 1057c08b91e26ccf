/**
 * ExecNotifier: one alert, one run of a command (argv, never a shell) with the event's JSON on
 * stdin and LVSD_EVENT_TYPE / LVSD_EVENT_SEQ / LVSD_EVENT_ID in its environment. Exit 0 =
 * delivered; anything else (non-zero exit, a signal, the deadline, cannot start) is a retryable
 * failure quoting stderr. deliver() never throws.
 *
 * Not runCommand(): that waits for the pipes to close, which a grandchild (a script's `curl`)
 * can hold open past the deadline. Here the command runs in its own process group, and the
 * deadline, an abort or its own exit kills the whole group.
 */
import { spawn } from 'node:child_process';
import { eventJson } from './formats.js';
import type { AlertEvent, DeliveryResult, Notifier } from './types.js';

export interface ExecNotifierOptions {
  readonly command: readonly string[];
  /** the whole run's deadline; past it the process group is killed */
  readonly timeoutMs: number;
}

/** characters of stderr quoted in a failure */
const STDERR_CHARS = 200;
/** bytes of stderr kept (enough for the quote); stdout is read and dropped */
const STDERR_BYTES = 4096;
/** after exit, how long output may still drain before the pipes are cut (something left the group) */
const EXIT_GRACE_MS = 100;

export class ExecNotifier implements Notifier {
  private readonly opts: ExecNotifierOptions;

  constructor(opts: ExecNotifierOptions) {
    this.opts = opts;
  }

  deliver(event: AlertEvent, signal: AbortSignal): Promise<DeliveryResult> {
    const [file, ...args] = this.opts.command;
    if (file === undefined || file === '') return Promise.resolve({ ok: false, permanent: true, error: 'empty command' });
    if (signal.aborted) return Promise.resolve({ ok: false, error: 'aborted before running' });
    const timeoutMs = this.opts.timeoutMs;
    return new Promise<DeliveryResult>((resolve) => {
      let settled = false;
      const settle = (r: DeliveryResult): void => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve(r);
      };

      let child: ReturnType<typeof spawn>;
      try {
        child = spawn(file, args, {
          detached: true, // own process group: kill(-pid) reaches what the command forked
          stdio: ['pipe', 'pipe', 'pipe'],
          env: { ...process.env, LVSD_EVENT_TYPE: event.type, LVSD_EVENT_SEQ: String(event.seq), LVSD_EVENT_ID: event.id },
        });
      } catch (err) {
        // synchronous spawn errors (a NUL byte in argv): the config is wrong, not the moment
        resolve({ ok: false, permanent: true, error: `cannot run ${file}: ${(err as Error).message}` });
        return;
      }
      const pid = child.pid;
      const killGroup = (): void => {
        if (pid === undefined) return;
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // ESRCH: nothing left in the group
        }
      };
      const cutPipes = (): void => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      };

      let stderr = '';
      child.stdout?.resume();
      child.stderr?.on('data', (chunk: Buffer) => {
        if (stderr.length < STDERR_BYTES) stderr = (stderr + chunk.toString('utf8')).slice(0, STDERR_BYTES);
      });

      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let stopped: 'timeout' | 'aborted' | undefined;
      const stop = (why: 'timeout' | 'aborted'): void => {
        // after the exit only the pipes are late: the exit status stands
        if (exit === undefined) stopped ??= why;
        killGroup();
        cutPipes();
      };
      const timer = setTimeout(() => stop('timeout'), timeoutMs);
      const onAbort = (): void => stop('aborted');
      signal.addEventListener('abort', onAbort, { once: true });
      let grace: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        clearTimeout(timer);
        if (grace) clearTimeout(grace);
        signal.removeEventListener('abort', onAbort);
      };

      child.once('exit', (code, sig) => {
        exit = { code, signal: sig };
        // leftovers it forked die with it, so alerts never pile up stray processes
        killGroup();
        grace = setTimeout(cutPipes, EXIT_GRACE_MS);
      });
      child.once('close', () => {
        settle(outcome(file, exit, stopped, timeoutMs, stderr));
      });
      child.once('error', (err: NodeJS.ErrnoException) => {
        // could not start (ENOENT, EACCES): retryable, the program may be installed meanwhile
        killGroup();
        settle({ ok: false, error: `cannot run ${file}: ${err.code ?? err.message}` });
      });

      // a command that exits without reading stdin gives EPIPE: its exit status says the rest
      child.stdin?.on('error', () => {});
      child.stdin?.end(`${eventJson(event)}\n`);
    });
  }
}

function outcome(
  file: string,
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined,
  stopped: 'timeout' | 'aborted' | undefined,
  timeoutMs: number,
  stderr: string,
): DeliveryResult {
  if (stopped === undefined && exit?.code === 0) return { ok: true };
  let why: string;
  if (stopped === 'timeout') why = `no exit within ${timeoutMs}ms (killed)`;
  else if (stopped === 'aborted') why = 'aborted (killed)';
  else if (exit?.code !== null && exit?.code !== undefined) why = `exit ${exit.code}`;
  else why = `killed by ${exit?.signal ?? 'a signal'}`;
  const text = stderr.replace(/\s+/g, ' ').trim();
  const quote = text.length > STDERR_CHARS ? `${text.slice(0, STDERR_CHARS)}…` : text;
  return { ok: false, error: `${file}: ${why}${quote === '' ? '' : `: ${quote}`}` };
}
