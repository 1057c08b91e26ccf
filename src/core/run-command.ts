/**
 * Run a program with argv (never a shell), optional stdin, and a hard timeout: the thin edge
 * the ipvsadm driver (and later address management) stands on. Output is collected whole;
 * callers run tools whose output is bounded by the table they print.
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
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly env?: NodeJS.ProcessEnv;
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
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => stdout.push(b));
    child.stderr!.on('data', (b: Buffer) => stderr.push(b));
    let failure: CommandError | undefined;
    const kill = (err: CommandError): void => {
      failure ??= err;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(
      () => kill(new CommandError('LVSD_ERR_COMMAND_TIMEOUT', `${what}: no answer within ${options.timeoutMs}ms (killed)`, { file, args })),
      options.timeoutMs,
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
