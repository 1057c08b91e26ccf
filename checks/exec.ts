/**
 * exec: run an external check command (argv, never a shell). Exit 0 = ok.
 * Each command runs in its own process group so the deadline kills it with everything it forked.
 *
 * Starting the process is a `Spawner`'s job; the probe keeps the verdicts, the deadline and the
 * process-group kills. Two spawners, same verdicts:
 *
 * - `inThreadSpawner`: child_process.spawn() on this thread. It blocks the event loop until the
 *   child has exec'd (libuv forks, then waits on a pipe for the exec): 14-21 ms per spawn on a
 *   lightly loaded 2-core machine, so 40 exec checks/s stalled every other check.
 * - `WorkerSpawner` (spawn-worker.ts): the same spawn on a worker thread; this thread only posts
 *   and receives messages. The kit's default; it falls back to this file's spawner if a Worker
 *   cannot start.
 */
import { spawn } from 'node:child_process';
import type { Verdict } from './result.js';
import { error, fail, firstLine, ok, runAttempt, type AttemptRegistry } from './result.js';
import type { Probe, ProbeContext, ProbeResult, ProbeTarget } from './types.js';

/** bytes kept per stream; only the first line makes it into the detail */
export const OUTPUT_MAX_BYTES = 4096;
/** after exit, how long output may still drain before the pipes are cut */
export const EXIT_GRACE_MS = 100;

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

/** One command to start: argv split into file and args, and what it gets on top of this process's environment. */
export interface CommandSpec {
  readonly file: string;
  readonly args: readonly string[];
  readonly addEnv: Readonly<Record<string, string>>;
}

/**
 * What a spawner reports, in this order: `spawned` (unless the spawn failed), `exited`, then
 * `closed` once both pipes are closed (or cut EXIT_GRACE_MS after the exit); or `failed` alone
 * when there is no process (ENOENT, EACCES); or `broken` when no result can be had at all.
 */
export interface CommandEvents {
  /** running as `pid`, leader of its own process group */
  spawned(pid: number): void;
  exited(code: number | null, signal: NodeJS.Signals | null): void;
  /** the first OUTPUT_MAX_BYTES of each stream */
  closed(stdout: string, stderr: string): void;
  /** the spawn failed: `code` is the errno name ("ENOENT"), or a message */
  failed(code: string): void;
  /** the spawn threw, or whatever ran it died: `detail` is the whole verdict text */
  broken(detail: string): void;
}

export interface RunningCommand {
  /** stop reading the output (after an abort; the probe kills the process group itself) */
  cancel(): void;
}

export interface Spawner {
  /** start `cmd` detached (own process group), stdin ignored, stdout and stderr piped */
  start(cmd: CommandSpec, events: CommandEvents): RunningCommand;
  /** release what the spawner holds, once the commands it still runs have been reported */
  close(): Promise<void>;
}

/** child_process.spawn() on the calling thread; may throw as spawn() does (bad arguments). */
export const inThreadSpawner: Spawner = {
  start(cmd, events) {
    const child = spawn(cmd.file, cmd.args, {
      detached: true, // own process group: kill(-pid) reaches grandchildren
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...cmd.addEnv },
    });
    const out = { stdout: '', stderr: '' };
    const collect = (key: 'stdout' | 'stderr') => (chunk: Buffer): void => {
      if (out[key].length < OUTPUT_MAX_BYTES) out[key] = (out[key] + chunk.toString('utf8')).slice(0, OUTPUT_MAX_BYTES);
    };
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));
    const cut = (): void => {
      child.stdout.destroy();
      child.stderr.destroy();
    };
    let failed = false;
    let grace: NodeJS.Timeout | undefined;
    child.once('exit', (code, signal) => {
      events.exited(code, signal);
      // something that left our process group (setsid) may still hold the pipes: stop reading
      grace = setTimeout(cut, EXIT_GRACE_MS);
    });
    child.once('close', () => {
      if (grace) clearTimeout(grace);
      if (!failed) events.closed(out.stdout, out.stderr);
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      // spawn failure (ENOENT, EACCES): there is no process to wait for
      failed = true;
      events.failed(e.code ?? e.message);
    });
    if (child.pid !== undefined) events.spawned(child.pid);
    return { cancel: cut };
  },
  close: () => Promise.resolve(),
};

export function substitute(arg: string, target: ProbeTarget): string {
  return arg.replaceAll('{address}', target.address).replaceAll('{port}', String(target.port));
}

export function createExecProbe(
  command: readonly string[],
  groups: ProcessGroups,
  stop: AttemptRegistry,
  spawner: Spawner = inThreadSpawner,
): Probe {
  return {
    type: 'exec',
    check(target: ProbeTarget, ctx: ProbeContext): Promise<ProbeResult> {
      return runAttempt(ctx, stop, (attempt) => {
        const argv = command.map((a) => substitute(a, target));
        const [file, ...args] = argv;
        if (file === undefined || file === '') return Promise.resolve(error('empty command'));
        attempt.pending = `waiting for ${file} to exit`;
        return new Promise<Verdict>((resolve) => {
          const addEnv = { LVSD_ADDRESS: target.address, LVSD_PORT: String(target.port) };
          let pid: number | undefined;
          let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
          let running: RunningCommand | undefined;
          const onAbort = (): void => {
            if (pid !== undefined) groups.kill(pid);
            running?.cancel();
          };
          const settle = (v: Verdict | undefined): void => {
            attempt.signal.removeEventListener('abort', onAbort);
            if (pid !== undefined) groups.forget(pid);
            if (v) resolve(v);
          };
          running = spawner.start({ file, args, addEnv }, {
            spawned(p) {
              pid = p;
              groups.add(p);
              // aborted while a worker was still starting it: the abort found no group to kill
              if (attempt.signal.aborted) groups.kill(p);
            },
            exited(code, signal) {
              exit = { code, signal };
              // leftovers a check forked (and that may hold our pipes open) die with it
              if (pid !== undefined) groups.kill(pid);
            },
            closed(stdout, stderr) {
              settle(exit && verdictFor(exit.code, exit.signal, stdout, stderr));
            },
            failed(code) {
              settle(error(`spawn ${file}: ${code}`));
            },
            broken(detail) {
              if (pid !== undefined) groups.kill(pid);
              settle(error(detail));
            },
          });
          attempt.signal.addEventListener('abort', onAbort, { once: true });
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
