/**
 * Exec checks spawn on a worker thread: child_process.spawn() blocks its thread until the child
 * has exec'd (tens of ms on a loaded machine), and on the main thread that is time every other
 * check waits. Here: the main thread's event loop keeps turning while 30 commands start at once,
 * the commands really are children of the worker thread, the in-thread fallback when a Worker
 * cannot start or dies, and a kit never closed does not hold the process open.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { createExecProbe, inThreadSpawner, ProcessGroups } from '../../checks/exec.js';
import { createProbeKit } from '../../checks/index.js';
import { AttemptRegistry } from '../../checks/result.js';
import { WORKER_SOURCE, WorkerSpawner } from '../../checks/spawn-worker.js';
import type { ProbeKit, ProbeResult } from '../../checks/types.js';
import { deadline, local } from '../support/probes.js';
import { waitFor } from '../support/wait.js';
import { running } from '../support/processes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const kits: ProbeKit[] = [];
const stop = new AttemptRegistry();
const spawners: WorkerSpawner[] = [];
/** processes a test started, killed by PID in afterAll if the test failed to */
const strays: number[] = [];

afterAll(async () => {
  stop.close(new Error('test done'));
  await Promise.all(kits.map((k) => k.close()));
  await Promise.all(spawners.map((s) => s.close()));
  for (const pid of strays) {
    if (!running(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
});

function newKit(execSpawn: 'worker' | 'thread'): ProbeKit {
  const k = createProbeKit({ fpingPath: null, execSpawn });
  kits.push(k);
  return k;
}

/** thread id -> its child PIDs, for this process's threads */
function childrenByThread(): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    try {
      const text = readFileSync(`/proc/${process.pid}/task/${tid}/children`, 'utf8').trim();
      out.set(Number(tid), text === '' ? [] : text.split(/\s+/).map(Number));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** the thread whose child `pid` is (the main thread's id is the process's PID) */
function parentThread(pid: number): number | undefined {
  for (const [tid, kids] of childrenByThread()) if (kids.includes(pid)) return tid;
  return undefined;
}

function commandPid(comm: string): number | undefined {
  for (const kids of childrenByThread().values()) {
    for (const pid of kids) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim() === comm) return pid;
      } catch {
        // gone
      }
    }
  }
  return undefined;
}

/** How the event loop fared while `work` ran: the longest gap between 5 ms interval ticks, and monitorEventLoopDelay's view. */
async function loopGaps<T>(work: () => Promise<T>): Promise<{ result: T; worstGapMs: number; p99Ms: number; maxDelayMs: number; syncMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let last = performance.now();
  let worst = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  // let the interval start ticking first
  await new Promise((r) => setTimeout(r, 30));
  try {
    const t0 = performance.now();
    const pending = work();
    const syncMs = performance.now() - t0;
    const result = await pending;
    worst = Math.max(worst, performance.now() - last);
    return { result, worstGapMs: worst, p99Ms: h.percentile(99) / 1e6, maxDelayMs: h.max / 1e6, syncMs };
  } finally {
    clearInterval(tick);
    h.disable();
  }
}

describe('exec checks on the worker thread', () => {
  it('30 exec checks started at once leave the event loop turning (worker; the in-thread way shown for comparison)', async () => {
    const run = async (way: 'worker' | 'thread'): Promise<{ results: ProbeResult[]; worstGapMs: number; p99Ms: number; maxDelayMs: number; syncMs: number }> => {
      const k = newKit(way);
      const probe = k.probeFor({ type: 'exec', command: ['sleep', '0.2'] });
      // warm-up: the worker is made on the first command
      expect(await probe.check(local(1), deadline(5000))).toMatchObject({ ok: true, detail: 'exit 0' });
      const { result, ...gaps } = await loopGaps(() => Promise.all(Array.from({ length: 30 }, () => probe.check(local(1), deadline(20_000)))));
      await k.close();
      return { results: result, ...gaps };
    };
    const worker = await run('worker');
    const thread = await run('thread');
    const fmt = (x: typeof worker): string =>
      `worst 5 ms-tick gap ${x.worstGapMs.toFixed(0)} ms, event-loop delay p99 ${x.p99Ms.toFixed(0)} ms / max ${x.maxDelayMs.toFixed(0)} ms, ` +
      `${x.syncMs.toFixed(0)} ms to start them, all done in ${Math.max(...x.results.map((r) => r.durationMs)).toFixed(0)} ms`;
    console.log(`30 concurrent exec checks (sleep 0.2): worker: ${fmt(worker)}; in-thread: ${fmt(thread)}`);
    for (const x of [worker, thread]) for (const r of x.results) expect(r).toMatchObject({ ok: true, detail: 'exit 0' });
    /**
     * In-thread, the 30 spawns block the loop back to back: 450-1000 ms here (2 cores, a soak
     * run beside). Via the worker the loop is never held for a spawn, but the forks still share
     * this process's memory map and the 2 cores: worst gaps of 23-220 ms measured here, so the
     * bound is well under one in-thread run, not a latency target.
     */
    expect(worker.worstGapMs).toBeLessThan(300);
  });

  it('runs the commands as children of the worker thread; execSpawn: thread runs them on the calling thread', async () => {
    const parents: Record<string, number | undefined> = {};
    for (const way of ['thread', 'worker'] as const) {
      const k = newKit(way);
      const marker = `sleep 7${way === 'worker' ? 1 : 2}.5`;
      const pending = k.probeFor({ type: 'exec', command: marker.split(' ') }).check(local(1), deadline(10_000));
      let pid: number | undefined;
      await waitFor(() => (pid = commandPid(marker)) !== undefined, 5000, `${marker} to start`);
      strays.push(pid!);
      parents[way] = parentThread(pid!);
      await k.close();
      expect(await pending).toMatchObject({ outcome: 'error', detail: 'aborted waiting for sleep to exit: probe kit closed' });
      await waitFor(() => !running(pid!), 2000, `${marker} to be killed`);
    }
    expect(parents.thread).toBeDefined();
    expect(parents.worker).toBeDefined();
    expect(parents.worker).not.toBe(parents.thread);
  });

  it('falls back to spawning in-thread, with the same verdicts, when a Worker cannot start', async () => {
    const spawner = new WorkerSpawner(() => {
      throw new Error('no worker threads here');
    });
    spawners.push(spawner);
    const groups = new ProcessGroups();
    const ok = await createExecProbe(['sh', '-c', 'echo "up $LVSD_ADDRESS:$LVSD_PORT"'], groups, stop, spawner).check(local(8080), deadline(2000));
    expect(ok).toMatchObject({ ok: true, outcome: 'ok', detail: 'exit 0: up 127.0.0.1:8080' });
    const missing = await createExecProbe(['/nonexistent/lvsd-check'], groups, stop, spawner).check(local(1), deadline(2000));
    expect(missing).toMatchObject({ outcome: 'error', detail: 'spawn /nonexistent/lvsd-check: ENOENT' });
    const hang = await createExecProbe(['sleep', '10'], groups, stop, spawner).check(local(1), deadline(300));
    expect(hang).toMatchObject({ outcome: 'timeout', detail: 'timeout after 300ms waiting for sleep to exit' });
    expect(spawner.usingWorker).toBe(false);
  });

  it('gives the same verdicts as in-thread for exit codes, signals, spawn failures and bad arguments', async () => {
    const spawner = new WorkerSpawner();
    spawners.push(spawner);
    const groups = new ProcessGroups();
    const cases: string[][] = [
      ['sh', '-c', 'echo all good; echo more'],
      ['sh', '-c', 'echo "$0 $LVSD_ADDRESS $LVSD_PORT" >&2; exit 3', '{address}:{port}'],
      ['sh', '-c', 'kill -TERM $$'],
      ['sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" x; exit 1'],
      ['/nonexistent/lvsd-check'],
      ['/etc/hostname'],
      ['echo', 'nul\0byte'],
    ];
    for (const cmd of cases) {
      const viaWorker = await createExecProbe(cmd, groups, stop, spawner).check(local(81), deadline(3000));
      const inThread = await createExecProbe(cmd, groups, stop, inThreadSpawner).check(local(81), deadline(3000));
      expect({ cmd, outcome: viaWorker.outcome, detail: viaWorker.detail }).toEqual({ cmd, outcome: inThread.outcome, detail: inThread.detail });
    }
    expect(spawner.usingWorker).toBe(true);
  });

  it('a worker that dies before spawning hands its commands to the in-thread way; one that dies after kills them', async () => {
    // ends at once: the command posted to it was never spawned
    const early = new WorkerSpawner(() => new Worker('process.exit(0)', { eval: true }));
    spawners.push(early);
    const groups = new ProcessGroups();
    const r = await createExecProbe(['sh', '-c', 'echo fine'], groups, stop, early).check(local(1), deadline(5000));
    expect(r).toMatchObject({ ok: true, detail: 'exit 0: fine' });
    expect(early.usingWorker).toBe(false);

    // ends 300 ms after its first command was spawned: that command lost its reaper
    const late = new WorkerSpawner((src) => new Worker(`${src}\nparentPort.once('message', () => setTimeout(() => process.exit(0), 300));`, { eval: true }));
    spawners.push(late);
    const marker = 'sleep 73.5';
    const pending = createExecProbe(marker.split(' '), groups, stop, late).check(local(1), deadline(10_000));
    let pid: number | undefined;
    await waitFor(() => (pid = commandPid(marker)) !== undefined, 5000, `${marker} to start`);
    strays.push(pid!);
    expect(await pending).toMatchObject({ outcome: 'error', detail: 'exec spawn worker exited' });
    await waitFor(() => !running(pid!), 2000, `${marker} to be killed`);
    expect(late.usingWorker).toBe(false);
  });

  it('a kit that is never closed does not hold the process open, and holds it while a command runs', async () => {
    // a process of its own: this one is held open by vitest anyway
    const index = pathToFileURL(path.join(here, '../../checks/index.ts')).href;
    const script = `
      import { createProbeKit } from ${JSON.stringify(index)};
      const kit = createProbeKit({ fpingPath: null });
      // the deadline's timer is unref'd: only the command keeps the process alive until it ends
      const r = await kit.probeFor({ type: 'exec', command: ['sh', '-c', 'sleep 0.3; echo done'] })
        .check({ address: '127.0.0.1', port: 1 }, { signal: AbortSignal.timeout(5000), timeoutMs: 5000 });
      console.log(r.detail);
    `;
    const t0 = performance.now();
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: path.join(here, '../..'),
      timeout: 20_000,
    });
    expect(stdout.trim()).toBe('exit 0: done');
    console.log(`a process that ran one exec check and never closed its kit exited by itself ${(performance.now() - t0).toFixed(0)} ms after it started`);
  });
});
