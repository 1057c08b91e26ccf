/**
 * exec: run an external check command (argv, never a shell). Exit 0 = ok.
 * Each command runs in its own process group so the deadline kills it with everything it forked.
 */
import { spawn } from 'node:child_process';
import type { Verdict } from './result.js';
import { error, fail, firstLine, ok, runAttempt, type AttemptRegistry } from './result.js';
import type { Probe, ProbeContext, ProbeResult, ProbeTarget } from './types.js';

/** bytes kept per stream; only the first line makes it into the detail */
const OUTPUT_MAX_BYTES = 4096;
/** after exit, how long output may still drain before the pipes are cut */
const EXIT_GRACE_MS = 100;

/** Tracks the process groups of running commands so the kit can kill them on close. */
export class ProcessGroups {
  private readonly live = new Set<number>();

  add(pid: number): void {
    this.live.add(pid);
  }

  /** SIGKILL the whole group; harmless if it is already gone. */
  kill(pid: number): void {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // ESRCH: nothing left in the group
    }
  }

  forget(pid: number): void {
    this.live.delete(pid);
  }

  killAll(): void {
    for (const pid of this.live) this.kill(pid);
    this.live.clear();
  }
}

export function substitute(arg: string, target: ProbeTarget): string {
  return arg.replaceAll('{address}', target.address).replaceAll('{port}', String(target.port));
}

export function createExecProbe(command: readonly string[], groups: ProcessGroups, stop: AttemptRegistry): Probe {
  return {
    type: 'exec',
    check(target: ProbeTarget, ctx: ProbeContext): Promise<ProbeResult> {
      return runAttempt(ctx, stop, (attempt) => {
        const argv = command.map((a) => substitute(a, target));
        const [file, ...args] = argv;
        if (file === undefined || file === '') return Promise.resolve(error('empty command'));
        attempt.pending = `waiting for ${file} to exit`;
        return new Promise<Verdict>((resolve) => {
          const child = spawn(file, args, {
            detached: true, // own process group: kill(-pid) reaches grandchildren
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, LVSD_ADDRESS: target.address, LVSD_PORT: String(target.port) },
          });
          const pid = child.pid;
          const out = { stdout: '', stderr: '' };
          const collect = (key: 'stdout' | 'stderr') => (chunk: Buffer): void => {
            if (out[key].length < OUTPUT_MAX_BYTES) out[key] = (out[key] + chunk.toString('utf8')).slice(0, OUTPUT_MAX_BYTES);
          };
          child.stdout.on('data', collect('stdout'));
          child.stderr.on('data', collect('stderr'));
          const onAbort = (): void => {
            if (pid !== undefined) groups.kill(pid);
            child.stdout.destroy();
            child.stderr.destroy();
          };
          attempt.signal.addEventListener('abort', onAbort, { once: true });
          if (pid !== undefined) groups.add(pid);

          let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
          let grace: NodeJS.Timeout | undefined;
          child.once('exit', (code, signal) => {
            exit = { code, signal };
            // leftovers a check forked (and that may hold our pipes open) die with it
            if (pid !== undefined) groups.kill(pid);
            // something that left our process group (setsid) may still hold the pipes: stop reading
            grace = setTimeout(() => {
              child.stdout.destroy();
              child.stderr.destroy();
            }, EXIT_GRACE_MS);
          });
          child.once('close', () => {
            if (grace) clearTimeout(grace);
            attempt.signal.removeEventListener('abort', onAbort);
            if (pid !== undefined) groups.forget(pid);
            if (exit) resolve(verdictFor(exit.code, exit.signal, out.stdout, out.stderr));
          });
          child.once('error', (e: NodeJS.ErrnoException) => {
            // spawn failure (ENOENT, EACCES): there is no process to wait for
            attempt.signal.removeEventListener('abort', onAbort);
            if (pid !== undefined) groups.forget(pid);
            resolve(error(`spawn ${file}: ${e.code ?? e.message}`));
          });
        });
      });
    },
  };
}

function verdictFor(code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string): Verdict {
  const line = firstLine(stdout) || firstLine(stderr);
  const suffix = line === '' ? '' : `: ${line}`;
  if (code === 0) return ok(`exit 0${suffix}`);
  if (code !== null) return fail(`exit ${code}${suffix}`);
  return fail(`killed by ${signal ?? 'signal'}${suffix}`);
}
