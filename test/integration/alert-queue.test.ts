/**
 * AlertQueue on a real temp directory: survives a restart, sets a corrupt file aside, writes
 * atomically (no temp files left), and loses none of a burst of pushes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Deliverer } from '../../src/alerts/delivery.js';
import { AlertQueue, FileQueueStore, type QueueStore } from '../../src/alerts/queue.js';
import type { AlertEvent, DeliveryResult } from '../../src/alerts/types.js';
import { systemClock } from '../../src/core/clock.js';
import { LvsError } from '../../src/core/errors.js';
import { createLogger, silentLogger } from '../../src/core/log.js';
import { waitFor } from '../support/wait.js';

const log = silentLogger();
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'lvsd-alertq-'));
  dirs.push(d);
  return d;
}

function ev(seq: number): AlertEvent {
  return { seq, id: `n1-${seq}`, type: 'service_down', at: new Date(1_700_000_000_000 + seq).toISOString(), node: 'n1', service: 'tcp:10.0.0.1:80', detail: `down #${seq}` };
}

/** A logger whose JSON lines the test can read. */
function capturingLogger(): { log: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { log: createLogger('info', sink), lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const ids = (q: AlertQueue): string[] => q.snapshot().map((i) => i.event.id);

describe('AlertQueue on disk', () => {
  it('survives a restart: push 3, deliver 1, close; reopen has the other 2 in order', async () => {
    const dir = path.join(tempDir(), 'alerts', 'nested');
    const q = await AlertQueue.open({ dir, target: 'ops', max: 100, log });
    expect((await fs.stat(dir)).mode & 0o777).toBe(0o700);
    const delivered: string[] = [];
    const d = new Deliverer({
      target: 'ops', queue: q, clock: systemClock, random: Math.random, log,
      timeoutMs: 1000, retryInitialMs: 60_000, retryMaxMs: 60_000,
      // the receiver takes one alert, then goes away
      notifier: {
        deliver: async (e): Promise<DeliveryResult> => {
          if (delivered.length > 0) return { ok: false, error: 'connection refused' };
          delivered.push(e.id);
          return { ok: true };
        },
      },
    });
    d.start();
    for (let i = 1; i <= 3; i++) await d.enqueue(ev(i));
    await waitFor(() => d.depth === 2, 5000, 'one alert delivered');
    const enqueuedAt = q.snapshot().map((i) => i.enqueuedAt);
    await d.close();
    expect(delivered).toEqual(['n1-1']);

    const again = await AlertQueue.open({ dir, target: 'ops', max: 100, log });
    expect(ids(again)).toEqual(['n1-2', 'n1-3']);
    expect(again.peek()).toEqual(ev(2));
    expect(again.snapshot().map((i) => i.enqueuedAt)).toEqual(enqueuedAt);
    expect(again.oldestAt()).toBe(enqueuedAt[0]);
    const st = await fs.stat(path.join(dir, 'ops.json'));
    expect(st.mode & 0o777).toBe(0o600);
  });

  it.each([
    ['not JSON', '{"version":1,"target":"ops","items":[{"enq'],
    ['the wrong shape', '{"version":1,"target":"ops","items":{}}'],
    ['an unknown version', '{"version":9,"target":"ops","items":[]}'],
    ['a bad event', '{"version":1,"target":"ops","items":[{"enqueuedAt":1,"event":{"seq":1,"id":"x","type":"nope","at":"","node":"n","detail":""}}]}'],
  ])('sets a file with %s aside, logs an error, and starts empty', async (_what, content) => {
    const dir = tempDir();
    const file = path.join(dir, 'ops.json');
    await fs.writeFile(file, content);
    const cap = capturingLogger();
    const q = await AlertQueue.open({ dir, target: 'ops', max: 100, log: cap.log });
    expect(q.length).toBe(0);
    const names = await fs.readdir(dir);
    const aside = names.filter((n) => n.startsWith('ops.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(await fs.readFile(path.join(dir, aside[0]!), 'utf8')).toBe(content);
    expect(names).not.toContain('ops.json');
    const errors = cap.lines().filter((l) => l['level'] === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ target: 'ops', file, aside: path.join(dir, aside[0]!) });
    // and it works from there on
    await q.push(ev(1));
    expect(ids(await AlertQueue.open({ dir, target: 'ops', max: 100, log }))).toEqual(['n1-1']);
  });

  it('sets an unreadable file (a directory in its place) aside too', async () => {
    const dir = tempDir();
    await fs.mkdir(path.join(dir, 'ops.json'));
    const q = await AlertQueue.open({ dir, target: 'ops', max: 100, log });
    expect(q.length).toBe(0);
    expect((await fs.readdir(dir)).some((n) => n.startsWith('ops.json.corrupt-'))).toBe(true);
    await q.push(ev(1));
    expect(ids(await AlertQueue.open({ dir, target: 'ops', max: 100, log }))).toEqual(['n1-1']);
  });

  it('writes atomically: only the queue file remains, and a crash leftover temp file is cleaned at open', async () => {
    const dir = tempDir();
    const q = await AlertQueue.open({ dir, target: 'ops', max: 100, log });
    for (let i = 1; i <= 20; i++) await q.push(ev(i));
    await q.shift();
    expect(await fs.readdir(dir)).toEqual(['ops.json']);

    // a crash mid-write leaves a half temp file beside an intact queue file
    await fs.writeFile(path.join(dir, 'ops.json.tmp-99999-0a1b2c3d'), '{"version":1,"tar');
    const again = await AlertQueue.open({ dir, target: 'ops', max: 100, log });
    expect(again.length).toBe(19);
    expect(await fs.readdir(dir)).toEqual(['ops.json']);
    // every write leaves a complete, parseable file
    const doc = JSON.parse(await fs.readFile(path.join(dir, 'ops.json'), 'utf8')) as { items: unknown[] };
    expect(doc.items).toHaveLength(19);
  });

  it('persists every one of many rapid pushes, in order, in few writes', async () => {
    const dir = tempDir();
    // the real file store, counting its writes
    const file = new FileQueueStore({ dir, target: 'ops', log, clock: systemClock });
    await file.init();
    let writes = 0;
    const counting: QueueStore = { load: () => file.load(), save: (items) => { writes++; return file.save(items); } };
    const q = await AlertQueue.fromStore(counting, { target: 'ops', max: 10_000, log });
    await Promise.all(Array.from({ length: 1000 }, (_, i) => q.push(ev(i + 1))));
    expect(writes).toBeLessThanOrEqual(3);
    const again = await AlertQueue.open({ dir, target: 'ops', max: 10_000, log });
    expect(again.length).toBe(1000);
    expect(ids(again)).toEqual(Array.from({ length: 1000 }, (_, i) => `n1-${i + 1}`));
    expect(await fs.readdir(dir)).toEqual(['ops.json']);
  });

  it('interleaved pushes and shifts all land on disk', async () => {
    const dir = tempDir();
    const q = await AlertQueue.open({ dir, target: 'ops', max: 10_000, log });
    const ops: Promise<unknown>[] = [];
    for (let i = 1; i <= 200; i++) {
      ops.push(q.push(ev(i)));
      if (i % 2 === 0) ops.push(q.shift());
    }
    await Promise.all(ops);
    const again = await AlertQueue.open({ dir, target: 'ops', max: 10_000, log });
    expect(ids(again)).toEqual(Array.from({ length: 100 }, (_, i) => `n1-${i + 101}`));
  });

  it('trims to max at open when the file holds more (max lowered in the config)', async () => {
    const dir = tempDir();
    const q = await AlertQueue.open({ dir, target: 'ops', max: 100, log });
    for (let i = 1; i <= 5; i++) await q.push(ev(i));
    const small = await AlertQueue.open({ dir, target: 'ops', max: 2, log });
    expect(ids(small)).toEqual(['n1-4', 'n1-5']);
    expect(small.takeDroppedAtOpen().map((e) => e.id)).toEqual(['n1-1', 'n1-2', 'n1-3']);
    expect(ids(await AlertQueue.open({ dir, target: 'ops', max: 100, log }))).toEqual(['n1-4', 'n1-5']);
  });

  it('keeps each target in its own file and refuses names that are not plain file names', async () => {
    const dir = tempDir();
    const a = await AlertQueue.open({ dir, target: 'ops', max: 10, log });
    const b = await AlertQueue.open({ dir, target: 'pager.duty-2', max: 10, log });
    await a.push(ev(1));
    await b.push(ev(2));
    expect((await fs.readdir(dir)).sort()).toEqual(['ops.json', 'pager.duty-2.json']);
    for (const target of ['../escape', 'a/b', '.hidden', '']) {
      await expect(AlertQueue.open({ dir, target, max: 10, log })).rejects.toBeInstanceOf(LvsError);
    }
    expect((await fs.readdir(dir)).sort()).toEqual(['ops.json', 'pager.duty-2.json']);
  });

  it('rejects a push it cannot write, with a typed error, and writes it with the next push', async () => {
    const dir = tempDir();
    const q = await AlertQueue.open({ dir, target: 'ops', max: 10, log });
    // a non-empty directory where the file goes: the rename fails, even for root
    await fs.mkdir(path.join(dir, 'ops.json', 'x'), { recursive: true });
    await expect(q.push(ev(1))).rejects.toBeInstanceOf(LvsError);
    expect((await fs.readdir(dir)).sort()).toEqual(['ops.json']); // the temp file was removed
    await fs.rm(path.join(dir, 'ops.json'), { recursive: true });
    await q.push(ev(2));
    expect(ids(await AlertQueue.open({ dir, target: 'ops', max: 10, log }))).toEqual(['n1-1', 'n1-2']);
  });
});
