/**
 * Alert sequence numbers on a real disk: monotonic across re-opens (restarts), never repeated,
 * a stable epoch in the keys, a corrupt file refused with its name rather than reset silently.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AlertQueue } from '../../src/alerts/queue.js';
import { SequenceStore } from '../../src/alerts/sequence.js';
import { silentLogger } from '../../src/core/log.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-seq-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('alert sequence store', () => {
  it('numbers grow across restarts and are never handed out twice', async () => {
    const d = path.join(dir, 'a');
    const first = await SequenceStore.open(d);
    const a = [await first.next(), await first.next(), await first.next()];
    expect(a).toEqual([1, 2, 3]);
    // a restart without a clean stop: the next run starts past every number the last could have used
    const second = await SequenceStore.open(d);
    const b = await second.next();
    expect(b).toBeGreaterThan(3);
    expect(second.epoch).toBe(first.epoch);
    expect(second.key('dir1', b)).toBe(`dir1-${first.epoch}-${b}`);
    const many: number[] = [];
    for (let i = 0; i < 2500; i++) many.push(await second.next());
    expect(new Set(many).size).toBe(2500);
    expect(many.every((n, i) => i === 0 || n === many[i - 1]! + 1)).toBe(true);
    const third = await SequenceStore.open(d);
    expect(await third.next()).toBeGreaterThan(many.at(-1)!);
    expect(JSON.parse(readFileSync(path.join(d, SequenceStore.FILE), 'utf8'))).toMatchObject({ epoch: first.epoch });
  });

  it('shares its directory with an alert target named "seq" without either overwriting the other', async () => {
    const d = path.join(dir, 'named-seq');
    const seq = await SequenceStore.open(d);
    const n = await seq.next();
    const q = await AlertQueue.open({ dir: d, target: 'seq', max: 10, log: silentLogger() });
    await q.push({ seq: n, id: seq.key('lb', n), type: 'realserver_down', at: new Date(0).toISOString(), node: 'lb', detail: 'x' });
    await q.flush();
    const again = await SequenceStore.open(d);
    expect(again.epoch).toBe(seq.epoch);
    expect(await again.next()).toBeGreaterThan(n);
    const reopened = await AlertQueue.open({ dir: d, target: 'seq', max: 10, log: silentLogger() });
    expect(reopened.length).toBe(1);
  });

  it('a new state directory starts a new epoch', async () => {
    const x = await SequenceStore.open(path.join(dir, 'x'));
    const y = await SequenceStore.open(path.join(dir, 'y'));
    expect(x.epoch).not.toBe(y.epoch);
    expect(x.epoch).toMatch(/^[0-9a-f]{8}$/);
  });

  it('sets a corrupt file aside and starts a new epoch, so no key can repeat an old one', async () => {
    const d = path.join(dir, 'bad');
    const old = await SequenceStore.open(d);
    writeFileSync(path.join(d, SequenceStore.FILE), '{"epoch": 12');
    const moved: string[] = [];
    const fresh = await SequenceStore.open(d, (to) => moved.push(to));
    expect(moved).toHaveLength(1);
    expect(readFileSync(moved[0]!, 'utf8')).toBe('{"epoch": 12');
    expect(fresh.epoch).not.toBe(old.epoch);
    expect(await fresh.next()).toBe(1);
  });
});
