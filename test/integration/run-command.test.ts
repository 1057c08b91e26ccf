/**
 * runCommand, the edge every hook, tracker and ipvsadm call stands on: a timeout kills the whole
 * process group (a shell's `sleep` too) and answers at the deadline; a program that exits while
 * something it started keeps the pipes open is answered at its exit, not when that ends.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/core/run-command.js';

describe('runCommand', () => {
  it('kills the process group at the timeout and rejects then, not when a grandchild ends', async () => {
    const t0 = performance.now();
    let pid = 0;
    const p = runCommand('sh', ['-c', 'sleep 30 & echo $! ; wait'], { timeoutMs: 300 });
    await expect(p).rejects.toThrow(/no answer within 300ms \(killed\)/);
    expect(performance.now() - t0).toBeLessThan(2000);
    // the grandchild `sleep` went with the group
    const ps = await runCommand('pgrep', ['-f', '^sleep 30$'], { timeoutMs: 2000 });
    pid = Number(ps.stdout.trim().split('\n')[0] ?? 0);
    expect(pid === 0 || !existsSync(`/proc/${pid}`)).toBe(true);
  });

  it('answers at the exit of a program whose background child still holds stdout', async () => {
    const t0 = performance.now();
    const r = await runCommand('sh', ['-c', 'sleep 3 & echo started'], { timeoutMs: 5000 });
    expect(r).toMatchObject({ code: 0, stdout: 'started\n' });
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  it('feeds stdin and returns the output and exit status', async () => {
    const r = await runCommand('sh', ['-c', 'cat; exit 3'], { timeoutMs: 2000, input: 'abc' });
    expect(r).toMatchObject({ code: 3, stdout: 'abc' });
  });
});
