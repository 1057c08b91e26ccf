/**
 * Small state files written whole and atomically, and bad ones kept for a human: the alert
 * queues, the alert sequence file (and whatever else keeps state in state_dir).
 *
 * writeFileAtomic: a unique temp file beside the target (created exclusively), fsync, rename
 * over the target, then a best-effort fsync of the directory so the rename survives a power
 * cut. A reader sees the old content or the new, never a mix; a failed write removes its temp
 * file. A crash mid-write can leave one behind: removeTempFiles() at open clears them.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/** a fresh temp name per write (pid and random: no counter kept in the module) */
function tmpName(file: string): string {
  return `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Replace `file` with `text` (UTF-8), created with `mode`. Throws what the filesystem said; nothing is left behind. */
export async function writeFileAtomic(file: string, text: string, mode = 0o600): Promise<void> {
  const tmp = tmpName(file);
  try {
    const fh = await fs.open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  // the rename is durable only once the directory is synced; not every filesystem allows it
  try {
    const dh = await fs.open(path.dirname(file), 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // best effort
  }
}

/**
 * Remove the temp files writeFileAtomic() left beside `file` when a crash cut a write short (the
 * file itself is intact), and the `<file>.tmp` of older versions. Only names of exactly that
 * form: another file that merely starts like one (`x.json.tmp-1.json`) is left alone.
 */
export async function removeTempFiles(file: string): Promise<void> {
  const dir = path.dirname(file);
  const base = path.basename(file);
  for (const name of await fs.readdir(dir)) {
    if (!name.startsWith(`${base}.tmp`)) continue;
    const rest = name.slice(base.length);
    if (rest === '.tmp' || /^\.tmp-\d+-[0-9a-f]{8}$/.test(rest)) await fs.rm(path.join(dir, name), { force: true });
  }
}

/**
 * Move an unusable `file` to `<file>.corrupt-<time>` (`-1`, `-2`... if that is taken) and return
 * the new name, so the caller can start afresh while a human can still look at it. `now` stamps
 * the name (ms since the epoch). Throws if the file cannot be moved.
 */
export async function setAside(file: string, now: number = Date.now()): Promise<string> {
  const stamp = new Date(now).toISOString().replace(/[:.]/g, '-');
  let aside = `${file}.corrupt-${stamp}`;
  for (let n = 1; await exists(aside); n++) aside = `${file}.corrupt-${stamp}-${n}`;
  await fs.rename(file, aside);
  return aside;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}
