/** Failover tracking and notify hooks, with real commands (true, false, sh) and real interfaces (lo). */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/log.js';
import { NotifyQueue } from '../../src/vrrp/notify.js';
import { Tracker } from '../../src/vrrp/tracker.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let tracker: Tracker | undefined;
afterEach(() => tracker?.stop());

describe('tracking', () => {
  it('adds the weight of every tracked thing that is down: service, interface, command', async () => {
    const seen: number[] = [];
    let webDown = false;
    tracker = new Tracker({
      base: 150,
      track: [
        { kind: 'service', service: 'web', weight: -60 },
        { kind: 'interface', interface: 'lo', weight: -50 },
        { kind: 'interface', interface: 'nosuch0', weight: -5 },
        { kind: 'exec', command: ['true'], intervalMs: 100, timeoutMs: 100, weight: -20 },
        { kind: 'exec', command: ['false'], intervalMs: 100, timeoutMs: 100, weight: -7 },
      ],
      serviceDown: () => webDown, log: silentLogger(), onPriority: (p) => seen.push(p), interfacePollMs: 50,
    });
    tracker.start();
    await sleep(300);
    expect(tracker.priority).toBe(150 - 5 - 7); // lo is up, true succeeds
    webDown = true;
    tracker.changed();
    expect(seen.at(-1)).toBe(150 - 5 - 7 - 60);
    webDown = false;
    tracker.changed();
    expect(seen.at(-1)).toBe(138);
  });

  it('counts a command that outlives its timeout as failing', async () => {
    tracker = new Tracker({
      base: 100, track: [{ kind: 'exec', command: ['sleep', '5'], intervalMs: 200, timeoutMs: 100, weight: -30 }],
      serviceDown: () => false, log: silentLogger(), onPriority: () => {},
    });
    tracker.start();
    await sleep(400);
    expect(tracker.priority).toBe(70);
  });
});

describe('notify hooks', () => {
  it('runs the state hook and the generic one with keepalived\'s arguments, one at a time, in order', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-notify-'));
    try {
      const out = path.join(dir, 'log');
      const q = new NotifyQueue({
        master: ['sh', '-c', `sleep 0.2; echo master >> ${out}`],
        backup: ['sh', '-c', `echo backup >> ${out}`],
        all: ['sh', '-c', `echo "all $*" >> ${out}`, 'notify'],
        timeoutMs: 5000,
      }, 'VI_51', silentLogger());
      q.changed('master', 150);
      q.changed('backup', 150);
      q.changed('init', 150);
      await q.drain();
      expect(readFileSync(out, 'utf8').trim().split('\n')).toEqual([
        'master', 'all INSTANCE VI_51 MASTER 150', 'backup', 'all INSTANCE VI_51 BACKUP 150', 'all INSTANCE VI_51 STOP 150',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kills a hook at its timeout and goes on with the next', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-notify-'));
    try {
      const out = path.join(dir, 'log');
      const q = new NotifyQueue({ master: ['sleep', '10'], backup: ['sh', '-c', `echo backup >> ${out}`], timeoutMs: 200 }, 'VI_1', silentLogger());
      const t0 = performance.now();
      q.changed('master', 100);
      q.changed('backup', 100);
      await q.drain();
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(readFileSync(out, 'utf8')).toBe('backup\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
