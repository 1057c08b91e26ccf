/**
 * runCommand, the edge every hook, tracker and ipvsadm call stands on: a timeout kills the whole
 * process group (a shell's `sleep` too) and answers at the deadline; a program that exits while
 * something it started keeps the pipes open is answered at its exit, not when that ends; with
 * killGroupOnExit what it started dies at its exit; maxOutputBytes bounds what is kept, not
 * what is read.
 */
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/core/run-command.js';
import { gone, killStrays, running } from '../support/processes.js';

/** background processes the tests left (or failed to kill): killed by PID at the end */
const strays: number[] = [];
afterAll(() => killStrays(strays));

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

  it('without killGroupOnExit, what the program left in the background keeps running', async () => {
    const r = await runCommand('sh', ['-c', 'sleep 30 >/dev/null 2>&1 & echo $!'], { timeoutMs: 5000 });
    const pid = Number(r.stdout.trim());
    strays.push(pid);
    expect(r.code).toBe(0);
    expect(running(pid)).toBe(true);
  });

  it('with killGroupOnExit, what the program left in its group dies at its exit', async () => {
    const t0 = performance.now();
    // the background sleep also holds stdout: the answer still comes at sh's exit
    const r = await runCommand('sh', ['-c', 'sleep 30 & echo $!'], { timeoutMs: 5000, killGroupOnExit: true });
    const pid = Number(r.stdout.trim());
    strays.push(pid);
    expect(r.code).toBe(0);
    expect(pid).toBeGreaterThan(0);
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(await gone(pid, 1000)).toBe(true);
  });

  it('maxOutputBytes keeps that much of stdout and of stderr and reads the rest, so the program never blocks', async () => {
    // 2 MB on each, far past a pipe's buffer: a program whose output stopped being read would hang
    const r = await runCommand('sh', ['-c', 'head -c 2000000 /dev/zero | tr "\\0" o; head -c 2000000 /dev/zero | tr "\\0" e >&2'], {
      timeoutMs: 5000, maxOutputBytes: 1000,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('o'.repeat(1000));
    expect(r.stderr).toBe('e'.repeat(1000));
  });

  it('without timeoutMs the signal bounds the run: aborting kills the program and rejects', async () => {
    const t0 = performance.now();
    await expect(runCommand('sleep', ['30'], { signal: AbortSignal.timeout(200) })).rejects.toMatchObject({ code: 'LVSD_ERR_COMMAND_ABORTED' });
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(180);
    expect(ms).toBeLessThan(1500);
  });
});
