/**
 * What this process holds, from /proc: open descriptors, child processes, and every live
 * process that carries a tag in its environment (children, grandchildren, and orphans that a
 * dead parent left to init all inherit it). For leak tests: take one before, one after, compare.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface Census {
  /** entries of /proc/self/fd */
  readonly fds: number;
  /** PIDs whose parent is this process (from /proc/self/task/<tid>/children), sorted */
  readonly children: readonly number[];
  /** live (not zombie) PIDs with `tag` in their environment, sorted; [] without a tag */
  readonly tagged: readonly number[];
}

export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** direct children of this process, over all its threads */
export function childPids(): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    let text = '';
    try {
      text = readFileSync(`/proc/${process.pid}/task/${tid}/children`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    for (const p of text.trim().split(/\s+/)) if (p !== '') out.push(Number(p));
  }
  return out.sort((a, b) => a - b);
}

/** a zombie runs nothing: it is waiting for its parent (or init) to reap it */
function isZombie(pid: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true; // gone
  }
}

/** live processes whose environment holds exactly `entry` (`NAME=value`) */
export function taggedPids(entry: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let env: string;
    try {
      env = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue; // gone, or not ours to read
    }
    if (env.split('\0').includes(entry) && !isZombie(pid)) out.push(Number(pid));
  }
  return out.sort((a, b) => a - b);
}

export function census(tagEntry?: string): Census {
  return { fds: openFds(), children: childPids(), tagged: tagEntry === undefined ? [] : taggedPids(tagEntry) };
}

/**
 * Poll until the census is back to `before` (same descriptor count, no child or tagged process
 * that was not there before) or `withinMs` passes; returns the last census taken. Sockets close
 * in the event loop's close phase and children are reaped on SIGCHLD, so a few turns are needed.
 */
export async function settleTo(before: Census, tagEntry: string | undefined, withinMs: number): Promise<Census> {
  const end = Date.now() + withinMs;
  for (;;) {
    const now = census(tagEntry);
    if (sameAs(before, now) || Date.now() > end) return now;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function sameAs(before: Census, now: Census): boolean {
  const fresh = (a: readonly number[], b: readonly number[]): number[] => b.filter((p) => !a.includes(p));
  return now.fds === before.fds && fresh(before.children, now.children).length === 0 && fresh(before.tagged, now.tagged).length === 0;
}

/** PIDs in `now` that were not in `before` */
export function newPids(before: readonly number[], now: readonly number[]): number[] {
  return now.filter((p) => !before.includes(p));
}

/** `pid`'s command line, for a failure message ('' if it is gone) */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}
