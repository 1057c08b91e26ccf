import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createProbeKit } from '../../checks/index.js';
import { deadline, local } from '../support/probes.js';
import { running } from '../support/processes.js';

/** both ways of starting a command: on the kit's worker thread (the default) and on this thread */
const ways = ['worker', 'thread'] as const;
const kits = ways.map((execSpawn) => createProbeKit({ fpingPath: null, execSpawn }));
const root = mkdtempSync(path.join(os.tmpdir(), 'lvsd-exec-'));
/** grandchildren the tests started, killed by PID in afterAll if a test failed to */
const strays: number[] = [];

afterAll(async () => {
  await Promise.all(kits.map((k) => k.close()));
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone, as it should be
    }
  }
  rmSync(root, { recursive: true, force: true });
});

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

/** A command that forks `sleep 1000`, writes its PID to `file`, and waits for it. */
function hangWithGrandchild(file: string): string[] {
  return ['sh', '-c', `sleep 1000 & echo $! > ${file}; wait`];
}

async function grandchildPid(file: string): Promise<number> {
  expect(await waitFor(() => { try { return readFileSync(file, 'utf8').trim() !== ''; } catch { return false; } }, 2000)).toBe(true);
  const pid = Number(readFileSync(file, 'utf8').trim());
  strays.push(pid);
  return pid;
}

describe.each(ways.map((way, i) => [way, kits[i]!] as const))('exec probe, execSpawn: %s', (way, kit) => {
  const dir = path.join(root, way);
  mkdirSync(dir);

  it('passes on exit 0, with the first output line in the detail', async () => {
    const r = await kit.probeFor({ type: 'exec', command: ['sh', '-c', 'echo all good; echo more'] }).check(local(80), deadline(2000));
    expect(r).toMatchObject({ ok: true, outcome: 'ok', detail: 'exit 0: all good' });
  });

  it('fails on another exit status, substituting {address}/{port} and setting LVSD_ env', async () => {
    const cmd = ['sh', '-c', 'echo "$0 $1 $LVSD_ADDRESS $LVSD_PORT" >&2; exit 1', 'addr={address}', '{address}:{port}'];
    const r = await kit.probeFor({ type: 'exec', command: cmd }).check(local(8080), deadline(2000));
    expect(r).toMatchObject({ ok: false, outcome: 'fail', detail: 'exit 1: addr=127.0.0.1 127.0.0.1:8080 127.0.0.1 8080' });
  });

  it('never goes through a shell', async () => {
    const r = await kit.probeFor({ type: 'exec', command: ['echo', '$HOME;', '`id`'] }).check(local(1), deadline(2000));
    expect(r.detail).toBe('exit 0: $HOME; `id`');
  });

  it('reports a missing command as error', async () => {
    const r = await kit.probeFor({ type: 'exec', command: ['/nonexistent/lvsd-check'] }).check(local(1), deadline(2000));
    expect(r).toMatchObject({ outcome: 'error', detail: 'spawn /nonexistent/lvsd-check: ENOENT' });
  });

  it('reports a command killed by a signal as fail', async () => {
    const r = await kit.probeFor({ type: 'exec', command: ['sh', '-c', 'kill -TERM $$'] }).check(local(1), deadline(2000));
    expect(r).toMatchObject({ outcome: 'fail', detail: 'killed by SIGTERM' });
  });

  it('kills a hanging command together with its children at the deadline', async () => {
    const file = path.join(dir, 'hang.pid');
    const r = await kit.probeFor({ type: 'exec', command: hangWithGrandchild(file) }).check(local(1), deadline(500));
    expect(r).toMatchObject({ outcome: 'timeout', detail: 'timeout after 500ms waiting for sh to exit' });
    expect(r.durationMs).toBeLessThan(500 + 1000);
    const pid = await grandchildPid(file);
    expect(await waitFor(() => !running(pid), 2000)).toBe(true);
  });

  it('kills what a finished command left running', async () => {
    const file = path.join(dir, 'leftover.pid');
    const r = await kit
      .probeFor({ type: 'exec', command: ['sh', '-c', `sleep 1000 & echo $! > ${file}; echo started`] })
      .check(local(1), deadline(2000));
    expect(r).toMatchObject({ outcome: 'ok', detail: 'exit 0: started' });
    const pid = await grandchildPid(file);
    expect(await waitFor(() => !running(pid), 2000)).toBe(true);
  });

  it('does not wait for a daemon that escaped the process group and holds the output pipe', async () => {
    const file = path.join(dir, 'escaped.pid');
    const r = await kit
      .probeFor({ type: 'exec', command: ['sh', '-c', `setsid sleep 1000 & echo $! > ${file}; echo spawned`] })
      .check(local(1), deadline(3000));
    const pid = await grandchildPid(file);
    expect(r).toMatchObject({ outcome: 'ok', detail: 'exit 0: spawned' });
    expect(r.durationMs).toBeLessThan(1000);
    process.kill(pid, 'SIGKILL');
  });

  it('kills running commands and their children on kit.close()', async () => {
    const k = createProbeKit({ fpingPath: null, execSpawn: way });
    const file = path.join(dir, 'close.pid');
    const pending = k.probeFor({ type: 'exec', command: hangWithGrandchild(file) }).check(local(1), deadline(10_000));
    const pid = await grandchildPid(file);
    await k.close();
    const r = await pending;
    expect(r.outcome).toBe('error');
    expect(r.detail).toContain('probe kit closed');
    expect(await waitFor(() => !running(pid), 2000)).toBe(true);
  });
});
