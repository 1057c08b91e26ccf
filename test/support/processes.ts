/** Processes a test started outside the code under test (a hook's background `sleep`): checked and killed by PID. */
import { readFileSync } from 'node:fs';

/** Whether `pid` still runs: signal 0 reaches it and it is not a zombie nobody reaped yet. */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** poll until `pid` no longer runs; false if it still does after `withinMs` */
export async function gone(pid: number, withinMs: number): Promise<boolean> {
  const end = Date.now() + withinMs;
  while (running(pid)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** SIGKILL each PID still there (afterAll: what the code under test failed to kill) */
export function killStrays(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone, as it should be
    }
  }
}
