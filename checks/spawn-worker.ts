/**
 * Exec checks' spawns on a worker thread. child_process.spawn() blocks its thread until the
 * child has exec'd (libuv forks, then waits on a pipe for the exec to succeed or fail): 14-21 ms
 * per spawn on a lightly loaded 2-core machine. On the main thread that is time every other
 * check waits; here one worker thread does the spawns and the main thread only posts
 * `{ id, file, args, addEnv }` and gets messages back:
 *
 *   { id, pid }                      spawned (own process group, as in-thread)
 *   { id, exit: { code, signal } }   exited: the main thread kills the group's leftovers
 *   { id, close: { stdout, stderr } } pipes closed (or cut EXIT_GRACE_MS after the exit)
 *   { id, error }                    spawn failed (ENOENT, EACCES): no process
 *   { id, thrown }                   spawn() threw (bad arguments)
 *
 * and `{ cancel: id }` the other way stops the reading after an abort. Kills stay on the main
 * thread (ProcessGroups, process.kill(-pid)): signals are process-wide, and the worker reaps
 * whatever it started. The worker is made on the first command, held (ref'd) only while commands
 * run, and ended by close() once every command it started has been reported. If it cannot
 * start, or dies, commands run in-thread (`fallback`) from then on; one that had not been
 * spawned yet is started there instead, one that had gets a `broken` result.
 *
 * The worker shares this thread's environment (SHARE_ENV): a command gets process.env as it is
 * when it starts, as in-thread, without a copy of it in every message.
 *
 * The worker's code is a string (eval): it must run the same from the TypeScript sources
 * (vitest, tsx) and from dist/, and a worker cannot load a .ts file on Node 20.
 */
import { SHARE_ENV, Worker } from 'node:worker_threads';
import {
  EXIT_GRACE_MS,
  OUTPUT_MAX_BYTES,
  inThreadSpawner,
  type CommandEvents,
  type CommandSpec,
  type RunningCommand,
  type Spawner,
} from './exec.js';

/** plain CommonJS, run by the worker; the limits are the in-thread spawner's */
export const WORKER_SOURCE = `'use strict';
const { parentPort } = require('node:worker_threads');
const { spawn } = require('node:child_process');
const OUTPUT_MAX_BYTES = ${OUTPUT_MAX_BYTES};
const EXIT_GRACE_MS = ${EXIT_GRACE_MS};
/** id -> cut(): stop reading the pipes */
const running = new Map();
const post = (m) => parentPort.postMessage(m);
function describe(e) {
  if (e instanceof Error) return typeof e.code === 'string' && e.code !== '' ? e.code : e.message || e.name;
  return String(e);
}
function start(id, file, args, addEnv) {
  let child;
  try {
    child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...addEnv } });
  } catch (e) {
    post({ id, thrown: describe(e) });
    return;
  }
  const out = { stdout: '', stderr: '' };
  const collect = (key) => (chunk) => {
    if (out[key].length < OUTPUT_MAX_BYTES) out[key] = (out[key] + chunk.toString('utf8')).slice(0, OUTPUT_MAX_BYTES);
  };
  child.stdout.on('data', collect('stdout'));
  child.stderr.on('data', collect('stderr'));
  const cut = () => {
    child.stdout.destroy();
    child.stderr.destroy();
  };
  let failed = false;
  let grace;
  child.once('exit', (code, signal) => {
    post({ id, exit: { code, signal } });
    grace = setTimeout(cut, EXIT_GRACE_MS);
  });
  child.once('close', () => {
    if (grace) clearTimeout(grace);
    running.delete(id);
    if (!failed) post({ id, close: out });
  });
  child.once('error', (e) => {
    failed = true;
    running.delete(id);
    post({ id, error: typeof e.code === 'string' ? e.code : e.message });
  });
  running.set(id, cut);
  if (child.pid !== undefined) post({ id, pid: child.pid });
}
parentPort.on('message', (m) => {
  if (m.cancel !== undefined) running.get(m.cancel)?.();
  else start(m.id, m.file, m.args, m.addEnv);
});
`;

type FromWorker =
  | { readonly id: number; readonly pid: number }
  | { readonly id: number; readonly exit: { readonly code: number | null; readonly signal: NodeJS.Signals | null } }
  | { readonly id: number; readonly close: { readonly stdout: string; readonly stderr: string } }
  | { readonly id: number; readonly error: string }
  | { readonly id: number; readonly thrown: string };

/** how a WorkerSpawner gets its worker; throwing = workers are not available here */
export type WorkerFactory = (source: string) => Worker;

export const defaultWorkerFactory: WorkerFactory = (source) =>
  // no execArgv: the parent's loaders (tsx, vitest's) are of no use to this plain script
  new Worker(source, { eval: true, execArgv: [], env: SHARE_ENV });

/** how long close() waits for the commands in flight to be reported before it ends the worker anyway */
const CLOSE_WAIT_MS = 2000;

interface Run {
  readonly cmd: CommandSpec;
  readonly events: CommandEvents;
  pid?: number;
  cancelled: boolean;
  /** set when the command was handed to the fallback after the worker died */
  moved?: RunningCommand;
}

export class WorkerSpawner implements Spawner {
  private worker: Worker | undefined;
  /** the worker could not start or died: the fallback from now on */
  private broken = false;
  private closed = false;
  private nextId = 1;
  private readonly runs = new Map<number, Run>();
  /** close() waiting for `runs` to empty */
  private onIdle: (() => void) | undefined;

  private readonly makeWorker: WorkerFactory;
  private readonly fallback: Spawner;

  constructor(makeWorker: WorkerFactory = defaultWorkerFactory, fallback: Spawner = inThreadSpawner) {
    this.makeWorker = makeWorker;
    this.fallback = fallback;
  }

  /** whether commands go to a worker thread (false before the first one, after close, or after a failure) */
  get usingWorker(): boolean {
    return this.worker !== undefined && !this.broken;
  }

  start(cmd: CommandSpec, events: CommandEvents): RunningCommand {
    const w = this.closed ? undefined : this.ensureWorker();
    if (!w) return this.fallback.start(cmd, events);
    const id = this.nextId++;
    const run: Run = { cmd, events, cancelled: false };
    this.runs.set(id, run);
    if (this.runs.size === 1) w.ref();
    w.postMessage({ id, file: cmd.file, args: cmd.args, addEnv: cmd.addEnv });
    return {
      cancel: () => {
        if (run.moved) return run.moved.cancel();
        if (run.cancelled || !this.runs.has(id)) return;
        run.cancelled = true;
        w.postMessage({ cancel: id });
      },
    };
  }

  close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    if (!w || this.broken) return this.fallback.close();
    return new Promise<void>((resolve) => {
      const end = (): void => {
        clearTimeout(timer);
        this.onIdle = undefined;
        this.broken = true; // its 'exit' is ours, not a failure to report
        void w.terminate().then(() => resolve(), () => resolve());
      };
      const timer = setTimeout(end, CLOSE_WAIT_MS);
      timer.unref();
      if (this.runs.size === 0) end();
      else this.onIdle = end;
    }).then(() => this.fallback.close());
  }

  private ensureWorker(): Worker | undefined {
    if (this.broken) return undefined;
    if (this.worker) return this.worker;
    let w: Worker;
    try {
      w = this.makeWorker(WORKER_SOURCE);
    } catch {
      this.broken = true;
      return undefined;
    }
    w.on('message', (m: FromWorker) => this.receive(m));
    w.on('error', () => this.lost(w, 'exec spawn worker failed'));
    w.on('exit', () => this.lost(w, 'exec spawn worker exited'));
    // after the listeners: adding a 'message' listener refs the worker again
    w.unref();
    this.worker = w;
    return w;
  }

  private receive(m: FromWorker): void {
    const run = this.runs.get(m.id);
    if (!run) return;
    if ('pid' in m) {
      run.pid = m.pid;
      run.events.spawned(m.pid);
    } else if ('exit' in m) {
      run.events.exited(m.exit.code, m.exit.signal);
    } else if ('close' in m) {
      this.done(m.id);
      run.events.closed(m.close.stdout, m.close.stderr);
    } else if ('error' in m) {
      this.done(m.id);
      run.events.failed(m.error);
    } else {
      this.done(m.id);
      run.events.broken(m.thrown);
    }
  }

  private done(id: number): void {
    this.runs.delete(id);
    if (this.runs.size > 0) return;
    this.worker?.unref();
    this.onIdle?.();
  }

  /**
   * The worker failed or ended on its own. Messages it posted before are delivered first, so a
   * run without a pid was never spawned: it starts in-thread now; one with a pid lost its reaper.
   */
  private lost(w: Worker, why: string): void {
    if (this.broken || w !== this.worker) return;
    this.broken = true;
    const runs = [...this.runs.values()];
    this.runs.clear();
    this.onIdle?.();
    for (const run of runs) {
      if (run.pid !== undefined) {
        run.events.broken(why);
      } else if (run.cancelled || this.closed) {
        run.events.broken(why);
      } else {
        try {
          run.moved = this.fallback.start(run.cmd, run.events);
        } catch (err) {
          run.events.broken(err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err));
        }
      }
    }
  }
}
