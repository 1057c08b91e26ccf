/** Run the lvsd CLI from source as a child process; every child is tracked and killed by PID. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const children = new Set<ChildProcess>();

/** start `lvsd ...args`; the caller reads output from the returned streams */
export function spawnLvsd(args: readonly string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' },
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** run `lvsd ...args` to completion (killed after timeoutMs) */
export function runLvsd(args: readonly string[], timeoutMs = 20_000): Promise<CliResult> {
  const child = spawnLvsd(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** resolves with the first stdout line that matches, or rejects after timeoutMs */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => { cleanup(); reject(new Error(`no line matching ${re} within ${timeoutMs}ms; got:\n${buf}`)); }, timeoutMs);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      // whole lines only: a line still being written must not match (and be parsed) half-way
      const line = buf.split('\n').slice(0, -1).find((l) => re.test(l));
      if (line !== undefined) { cleanup(); resolve(line); }
    };
    const onExit = (code: number | null): void => { cleanup(); reject(new Error(`lvsd exited (${code}) before printing ${re}; got:\n${buf}`)); };
    const cleanup = (): void => { clearTimeout(timer); child.stdout!.off('data', onData); child.off('exit', onExit); };
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
}

/** kill every child still running (afterAll / afterEach) */
export async function killAll(): Promise<void> {
  await Promise.all([...children].map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.kill('SIGKILL');
  })));
}
