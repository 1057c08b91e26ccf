/**
 * The ipvsadm shim (ipvsadm-shim.mjs) from a test: a temp directory with an executable `ipvsadm`
 * to put first on PATH, its table, its fault switches and its call log; and `lvsd run` from source
 * with that PATH. Every process is tracked and killed by PID.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT } from './cli.js';
import { killStrays, running } from './processes.js';

const SHIM = fileURLToPath(new URL('./ipvsadm-shim.mjs', import.meta.url));
const MAIN = path.join(ROOT, 'src/cli/main.ts');

export interface ShimFaults {
  /** the next `calls` calls (absent: every call) fail: `message` on stderr, exit `code` (2) */
  readonly fail?: { readonly calls?: number; readonly message?: string; readonly code?: number; readonly only?: 'read' | 'write' };
  /** calls sleep until killed */
  readonly hang?: true | { readonly only?: 'read' | 'write' };
  /** the next -R applies its first `after` lines, then exits `code` (2) with `message` */
  readonly batch?: { readonly after: number; readonly message?: string; readonly code?: number };
  /** every call sleeps this long first */
  readonly slowMs?: number;
  /** every -R line sleeps this long first */
  readonly lineMs?: number;
}

export interface ShimCall {
  readonly pid: number;
  /** when the shim logged the call (after node started) */
  readonly at: number;
  /** when the process started (performance.timeOrigin): the moment lvsd spawned it */
  readonly born: number;
  readonly args: readonly string[];
  /** -R: the batch's lines */
  readonly input?: readonly string[];
  /** -R: each line applied (ok) or refused, in order */
  readonly lines: { at: number; line: string; ok: boolean; error?: string }[];
  end?: { readonly at: number; readonly code: number };
}

export interface ShimDest {
  readonly addr: string;
  readonly fwd: 'masq' | 'route' | 'tunnel';
  readonly weight: number;
  readonly x: number;
  readonly y: number;
}

export interface ShimService {
  readonly proto: 'tcp' | 'udp' | 'fwmark';
  readonly addr: string;
  readonly ipv6?: boolean;
  readonly sched: string;
  readonly persistent: number | null;
  readonly dests: readonly ShimDest[];
}

export class IpvsadmShim {
  readonly dir: string;
  /** the directory holding `ipvsadm`: first on PATH */
  readonly binDir: string;
  readonly program: string;

  private constructor(dir: string) {
    this.dir = dir;
    this.binDir = path.join(dir, 'bin');
    this.program = path.join(this.binDir, 'ipvsadm');
  }

  /** a shim whose table starts as `rules` (ipvsadm -R lines) */
  static create(rules: readonly string[] = []): IpvsadmShim {
    const shim = new IpvsadmShim(mkdtempSync(path.join(tmpdir(), 'lvsd-ipvsadm-')));
    mkdirSync(shim.binDir);
    // the node process is the ipvsadm process itself (no shell in between): killing its PID kills the shim
    writeFileSync(shim.program, `#!${process.execPath}\n`
      + `import(${JSON.stringify(pathToFileURL(SHIM).href)}).then((m) => m.main(${JSON.stringify(shim.dir)}));\n`);
    chmodSync(shim.program, 0o755);
    if (rules.length > 0) execFileSync(shim.program, ['-R'], { input: `${rules.join('\n')}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
    // the seeding call is not part of what a test looks at
    rmSync(path.join(shim.dir, 'calls.jsonl'), { force: true });
    return shim;
  }

  /** a `ipvsadm` that cannot be started (its interpreter does not exist): spawn fails with ENOENT */
  breakProgram(): void {
    writeFileSync(this.program, '#!/nonexistent/interpreter\n');
    chmodSync(this.program, 0o755);
  }

  /** PATH with the shim first */
  get path(): string {
    return `${this.binDir}${path.delimiter}${process.env.PATH ?? ''}`;
  }

  setFaults(faults: ShimFaults): void {
    const file = path.join(this.dir, 'faults.json');
    writeFileSync(`${file}.test.tmp`, JSON.stringify(faults));
    renameSync(`${file}.test.tmp`, file);
  }

  clearFaults(): void {
    this.setFaults({});
  }

  /** every call so far, in the order they started */
  calls(): ShimCall[] {
    let text = '';
    try {
      text = readFileSync(path.join(this.dir, 'calls.jsonl'), 'utf8');
    } catch {
      return [];
    }
    const byPid = new Map<number, ShimCall>();
    const out: ShimCall[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      let e: { ev: string; pid: number; at: number; born?: number; args?: string[]; input?: string[]; line?: string; ok?: boolean; error?: string; code?: number };
      try {
        e = JSON.parse(line) as typeof e;
      } catch {
        continue; // a line being written
      }
      if (e.ev === 'start') {
        const call: ShimCall = { pid: e.pid, at: e.at, born: e.born ?? e.at, args: e.args ?? [], ...(e.input ? { input: e.input } : {}), lines: [] };
        byPid.set(e.pid, call);
        out.push(call);
      } else if (e.ev === 'line') {
        byPid.get(e.pid)?.lines.push({ at: e.at, line: e.line ?? '', ok: e.ok ?? false, ...(e.error ? { error: e.error } : {}) });
      } else if (e.ev === 'end') {
        const call = byPid.get(e.pid);
        if (call) call.end = { at: e.at, code: e.code ?? -1 };
      }
    }
    return out;
  }

  /** calls started and not ended whose process still runs */
  inFlight(): ShimCall[] {
    return this.calls().filter((c) => c.end === undefined && running(c.pid));
  }

  /** kill -9 every shim process still running (what systemd does to a unit's other processes after its main one died) */
  killInFlight(): number[] {
    const pids = this.inFlight().map((c) => c.pid);
    killStrays(pids);
    return pids;
  }

  /** the "kernel's" table as the shim holds it */
  services(): ShimService[] {
    try {
      return (JSON.parse(readFileSync(path.join(this.dir, 'table.json'), 'utf8')) as { services: ShimService[] }).services;
    } catch {
      return [];
    }
  }

  /** one service's destinations as "addr" → "fwd weight" (x/y when set) */
  destinations(proto: ShimService['proto'], addr: string): Map<string, string> | undefined {
    const s = this.services().find((x) => x.proto === proto && x.addr === addr);
    if (!s) return undefined;
    return new Map(s.dests.map((d) => [d.addr, `${d.fwd} ${d.weight}${d.x || d.y ? ` x${d.x} y${d.y}` : ''}`]));
  }

  /** `ipvsadm -S -n` and `-Ln --exact --thresholds` from the shim itself, bypassing faults and the call log */
  read(): { rules: string; thresholds: string } {
    const env = { ...process.env, IPVSADM_SHIM_QUIET: '1' };
    return {
      rules: execFileSync(this.program, ['-S', '-n'], { env, encoding: 'utf8' }),
      thresholds: execFileSync(this.program, ['-Ln', '--exact', '--thresholds'], { env, encoding: 'utf8' }),
    };
  }

  close(): void {
    this.killInFlight();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface LvsdProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** stdout and stderr so far */
  output(): string;
  /** the JSON log lines of stdout so far */
  logs(): Record<string, unknown>[];
  /** resolves with the first log line that matches, rejects after timeoutMs or when lvsd exits first */
  waitForLog(match: (entry: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>>;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const lvsds = new Set<ChildProcess>();

/** `lvsd ...args` from source with `env` (PATH with the shim first) */
export function spawnLvsdWith(args: readonly string[], env: NodeJS.ProcessEnv): LvsdProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, NO_COLOR: '1' },
  });
  lvsds.add(child);
  let out = '';
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      lvsds.delete(child);
      resolve({ code, signal });
    });
  });
  const logs = (): Record<string, unknown>[] => stdout.split('\n').slice(0, -1).flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
  let done = false;
  void exit.then(() => { done = true; });
  return {
    child, pid: child.pid!, output: () => out, logs, exited: () => exit,
    async waitForLog(match, timeoutMs, what) {
      const t0 = Date.now();
      for (;;) {
        const hit = logs().find(match);
        if (hit) return hit;
        if (done) throw new Error(`lvsd exited before logging ${what}:\n${out.slice(-3000)}`);
        if (Date.now() - t0 > timeoutMs) throw new Error(`no log line for ${what} within ${timeoutMs} ms:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

/** kill -9 every lvsd this module started that still runs, and wait for it */
export async function killLvsds(): Promise<void> {
  await Promise.all([...lvsds].map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    killStrays([c.pid!]);
  })));
}
