/**
 * Run a program with argv (never a shell), optional stdin, a timeout and/or an abort signal:
 * the thin edge ipvsadm, the VRRP hooks and trackers, address management and the exec alert
 * notifier stand on. The program runs in its own process group; a timeout or an abort kills
 * the whole group. The answer comes at the program's exit (what its leftovers still hold open
 * is not waited for past a short grace). Output is collected whole unless `maxOutputBytes`
 * bounds it (for programs that are not ours, like an alert hook).
 */
import { spawn } from 'node:child_process';
import { LvsError } from './errors.js';

export interface CommandResult {
  /** exit status, or null when killed by a signal */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface RunOptions {
  readonly input?: string;
  /** past it the process group is killed and the promise rejects (TIMEOUT); no timer when absent */
  readonly timeoutMs?: number;
  /** aborting it kills the process group and the promise rejects (ABORTED) */
  readonly signal?: AbortSignal;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * keep at most this many bytes of stdout and of stderr each; the rest is still read (so the
   * program is never blocked on a full pipe) and dropped. Unbounded when absent.
   */
  readonly maxOutputBytes?: number;
  /**
   * when the program exits, SIGKILL its process group too: what it left running in the
   * background dies with it. Off by default (a hook may mean to leave a daemon behind).
   */
  readonly killGroupOnExit?: boolean;
}

/** The program could not be started (ENOENT, EACCES...), or did not finish in time. */
export class CommandError extends LvsError {
  constructor(code: 'LVSD_ERR_COMMAND_START' | 'LVSD_ERR_COMMAND_TIMEOUT' | 'LVSD_ERR_COMMAND_ABORTED', message: string,
    context: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, context, options);
    this.name = 'CommandError';
  }
}

/** after the program exits, how long its pipes may take to close */
const EXIT_GRACE_MS = 100;

export function runCommand(file: string, args: readonly string[], options: RunOptions): Promise<CommandResult> {
  const t0 = performance.now();
  const what = [file, ...args].join(' ');
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new CommandError('LVSD_ERR_COMMAND_ABORTED', `${what}: aborted`, { file, args }));
      return;
    }
    const child = spawn(file, args, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: options.env ?? { ...process.env, LC_ALL: 'C' },
      // its own process group: a timeout kills what it started too (a hook's `sleep` in a shell)
      detached: true,
    });
    const stdout = collect(child.stdout!, options.maxOutputBytes);
    const stderr = collect(child.stderr!, options.maxOutputBytes);
    let failure: CommandError | undefined;
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // ESRCH: nothing left in the group
        child.kill('SIGKILL');
      }
    };
    const kill = (err: CommandError): void => {
      failure ??= err;
      killGroup();
    };
    const { timeoutMs } = options;
    const timer = timeoutMs === undefined ? undefined : setTimeout(
      () => kill(new CommandError('LVSD_ERR_COMMAND_TIMEOUT', `${what}: no answer within ${timeoutMs}ms (killed)`, { file, args })),
      timeoutMs,
    );
    const onAbort = (): void => kill(new CommandError('LVSD_ERR_COMMAND_ABORTED', `${what}: aborted`, { file, args }));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      done();
      reject(new CommandError('LVSD_ERR_COMMAND_START', `${file}: cannot run (${err.code ?? err.message})`, { file, args, errno: err.code }, { cause: err }));
    });
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      done();
      if (failure) {
        reject(failure);
        return;
      }
      resolve({
        code, signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        durationMs: performance.now() - t0,
      });
    };
    child.once('close', finish);
    // a background process it left behind may hold the pipes open for as long as it lives:
    // the exit status is the answer; what is still unread after a moment is not waited for
    child.once('exit', (code, signal) => {
      // the group outlives its leader while anything in it runs
      if (options.killGroupOnExit) killGroup();
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code, signal);
      }, EXIT_GRACE_MS).unref();
    });
    if (options.input !== undefined && child.stdin) {
      // a program that exits without reading everything gives EPIPE: its exit status says the rest
      child.stdin.on('error', () => {});
      child.stdin.end(options.input);
    }
  });
}

/** The chunks of a stream, at most `max` bytes of them when given; the stream is read to its end either way. */
function collect(stream: NodeJS.ReadableStream, max: number | undefined): Buffer[] {
  const chunks: Buffer[] = [];
  let room = max ?? Number.POSITIVE_INFINITY;
  stream.on('data', (b: Buffer) => {
    if (room <= 0) return;
    const kept = b.length <= room ? b : b.subarray(0, room);
    chunks.push(kept);
    room -= kept.length;
  });
  return chunks;
}
