/**
 * Host side of the VM: can this machine boot it, and run a command in it. The VM is
 * test/vm/ipvs-vm (qemu, Debian's kernel with IPVS, the host's filesystem shared read-only).
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** the repository: the nearest folder above this file with a package.json (from test/ or dist/test/) */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

export const ROOT = findRoot();
export const IPVS_VM = path.join(ROOT, 'test/vm/ipvs-vm');

/** ok, or why not: root, qemu and friends (ipvs-vm --check lists missing packages) */
export function vmAvailability(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'the IPVS VM needs Linux' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'the IPVS VM needs root' };
  const r = spawnSync(IPVS_VM, ['--check'], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, reason: (r.stderr || r.stdout || `ipvs-vm --check exited ${r.status}`).trim() };
  return { ok: true };
}

export interface VmRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run argv in the VM (cwd = repo root); `rw` directories are writable through to the host. */
export function runInVm(argv: readonly string[], opts: { rw?: readonly string[]; timeoutSec: number }): Promise<VmRun> {
  const args = ['--timeout', String(opts.timeoutSec), ...(opts.rw ?? []).flatMap((d) => ['--rw', d]), '--', ...argv];
  return new Promise((resolve) => {
    execFile(IPVS_VM, args, { cwd: ROOT, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Run a compiled guest script (dist/...) that writes JSON to the path it is given; returns the JSON. */
export async function runGuestScript<T>(script: string, args: readonly string[], timeoutSec: number): Promise<{ run: VmRun; result: T | undefined }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-vm-'));
  try {
    const out = path.join(dir, 'result.json');
    const run = await runInVm(['node', path.join(ROOT, script), out, ...args], { rw: [dir], timeoutSec });
    let result: T | undefined;
    try {
      result = JSON.parse(readFileSync(out, 'utf8')) as T;
    } catch {
      result = undefined;
    }
    return { run, result };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
