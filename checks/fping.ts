/**
 * The fping batcher: ping requests arriving within a short window are grouped by
 * (timeout, count) and served by ONE `fping -C` process per group; a host asked for twice
 * is pinged once and the answer fanned out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { PingReply, PingRequest, Pinger } from './ping-types.js';
import { perEchoWaitMs } from './ping-types.js';
import type { AbortLike } from './cancel.js';
import { firstLine } from './result.js';

export interface FpingOptions {
  readonly path: string;
  /** collect requests for this long before starting fping */
  readonly windowMs?: number;
  /** start at once when this many distinct targets are queued */
  readonly maxBatch?: number;
}

interface Waiter {
  readonly resolve: (reply: PingReply) => void;
  readonly signal: AbortLike;
  readonly onAbort: () => void;
}

/** address → everyone waiting for it */
type Targets = Map<string, Set<Waiter>>;

interface Group {
  readonly timeoutMs: number;
  readonly count: number;
  readonly targets: Targets;
}

interface Run {
  readonly child: ChildProcess;
  readonly targets: Targets;
  cancelled: boolean;
}

const STDERR_MAX_BYTES = 1024 * 1024;

export class FpingBatcher implements Pinger {
  private readonly path: string;
  private readonly windowMs: number;
  private readonly maxBatch: number;
  private queue = new Map<string, Group>();
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly runs = new Set<Run>();
  private closed = false;

  constructor(options: FpingOptions) {
    this.path = options.path;
    this.windowMs = options.windowMs ?? 10;
    this.maxBatch = options.maxBatch ?? 256;
  }

  ping(req: PingRequest): Promise<PingReply> {
    return new Promise((resolve) => {
      if (this.closed) return resolve({ kind: 'error', detail: 'pinger closed' });
      if (req.signal.aborted) return resolve({ kind: 'error', detail: 'aborted' });
      const key = `${req.timeoutMs}/${req.count}`;
      let group = this.queue.get(key);
      if (!group) {
        group = { timeoutMs: req.timeoutMs, count: req.count, targets: new Map() };
        this.queue.set(key, group);
      }
      let waiters = group.targets.get(req.address);
      if (!waiters) {
        waiters = new Set();
        group.targets.set(req.address, waiters);
        this.queued++;
      }
      const set = waiters;
      const waiter: Waiter = {
        resolve,
        signal: req.signal,
        // a per-target abort answers that target at once; fping is killed once nobody waits
        onAbort: () => {
          set.delete(waiter);
          resolve({ kind: 'error', detail: 'aborted' });
          this.reapIdleRuns();
        },
      };
      set.add(waiter);
      req.signal.addEventListener('abort', waiter.onAbort, { once: true });
      if (this.queued >= this.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.windowMs);
    });
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const pending = [...this.queue.values()].map((g) => g.targets);
    this.queue.clear();
    this.queued = 0;
    for (const run of this.runs) {
      run.cancelled = true;
      run.child.kill('SIGKILL');
      pending.push(run.targets);
    }
    this.runs.clear();
    for (const targets of pending) answerAll(targets, () => ({ kind: 'error', detail: 'pinger closed' }));
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const groups = [...this.queue.values()];
    this.queue = new Map();
    this.queued = 0;
    for (const g of groups) {
      dropEmpty(g.targets);
      if (g.targets.size > 0) this.start(g);
    }
  }

  private start(group: Group): void {
    const hosts = [...group.targets.keys()];
    const t = perEchoWaitMs(group.timeoutMs, group.count, this.windowMs + hosts.length);
    const args = ['-C', String(group.count), '-q', '-t', String(t), '-i', '1', '-p', String(t), ...hosts];
    const child = spawn(this.path, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const run: Run = { child, targets: group.targets, cancelled: false };
    this.runs.add(run);
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      if (stderr.length < STDERR_MAX_BYTES) stderr += chunk;
    });
    // backstop: a wedged fping must not hold its waiters past any sane deadline
    const backstop = setTimeout(() => child.kill('SIGKILL'), group.timeoutMs + 2000);
    const finish = (reply: (host: string) => PingReply): void => {
      clearTimeout(backstop);
      if (!this.runs.delete(run)) return;
      answerAll(run.targets, reply);
    };
    child.once('error', (e: NodeJS.ErrnoException) => {
      const detail = `fping at ${this.path} could not start (${e.code ?? e.message})`;
      const kind = e.code === 'ENOENT' || e.code === 'EACCES' ? 'unavailable' : 'error';
      finish(() => ({ kind, detail }));
    });
    child.once('close', (code, signal) => {
      if (run.cancelled) return finish(() => ({ kind: 'error', detail: 'aborted' }));
      if (signal !== null) return finish(() => ({ kind: 'error', detail: `fping killed by ${signal}` }));
      // 0 all alive, 1 some unreachable, 2 some address invalid; 3/4 = fping itself failed
      if (code !== 0 && code !== 1 && code !== 2) {
        const why = firstLine(stderr);
        return finish(() => ({ kind: 'error', detail: `fping exit ${code ?? '?'}${why ? `: ${why}` : ''}` }));
      }
      const results = parseFpingC(stderr);
      finish((host) => {
        const rtts = results.get(host);
        if (rtts === undefined) {
          // fping names the host in its complaint ("x: Name or service not known"), if any
          const why = firstLine(stderr.split('\n').find((l) => mentions(l, host)) ?? '');
          return { kind: 'error', detail: `fping gave no result for ${host}${why ? ` (${why})` : ''}` };
        }
        return { kind: 'replies', sent: rtts.length, rttsMs: rtts.filter((r): r is number => r !== null) };
      });
    });
  }

  /** Kill runs whose every waiter gave up. */
  private reapIdleRuns(): void {
    for (const run of this.runs) {
      dropEmpty(run.targets);
      if (run.targets.size === 0) {
        run.cancelled = true;
        run.child.kill('SIGKILL');
      }
    }
  }
}

/** `line` names `host` as a whole word (127.0.0.1 is not 127.0.0.10). */
function mentions(line: string, host: string): boolean {
  let i = line.indexOf(host);
  while (i >= 0) {
    const before = i === 0 ? ' ' : line.charAt(i - 1);
    const after = line.charAt(i + host.length);
    if (/[\s(]/.test(before) && (after === '' || /[\s:,)]/.test(after))) return true;
    i = line.indexOf(host, i + 1);
  }
  return false;
}

function dropEmpty(targets: Targets): void {
  for (const [host, waiters] of targets) if (waiters.size === 0) targets.delete(host);
}

function answerAll(targets: Targets, reply: (host: string) => PingReply): void {
  for (const [host, waiters] of targets) {
    const r = reply(host);
    for (const w of waiters) {
      w.signal.removeEventListener('abort', w.onAbort);
      w.resolve(r);
    }
  }
  targets.clear();
}

/**
 * Parse `fping -C N -q` output (on stderr): `127.0.0.1   : 0.05 - 0.04`, names padded.
 * Lines that are not exactly a host and N-ish numbers/dashes (errors, warnings) are skipped,
 * so garbage leaves a host without a result rather than with a wrong one.
 */
export function parseFpingC(text: string): Map<string, (number | null)[]> {
  const out = new Map<string, (number | null)[]>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+:((?:\s+(?:-|\d+(?:\.\d+)?))+)\s*$/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    const values = m[2].trim().split(/\s+/).map((v) => (v === '-' ? null : Number(v)));
    out.set(m[1], values);
  }
  return out;
}
