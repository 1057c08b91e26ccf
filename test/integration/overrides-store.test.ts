/** The overrides file on a real disk: round trip, a corrupt file set aside, a crashed write's temp file cleared. */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/log.js';
import { FileOverrideStore } from '../../src/daemon/overrides.js';

const root = mkdtempSync(path.join(tmpdir(), 'lvsd-overrides-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('FileOverrideStore', () => {
  it('reads back what it saved; a later save replaces it whole', async () => {
    const dir = path.join(root, 'a');
    const store = new FileOverrideStore(dir, silentLogger());
    expect(await store.load()).toEqual(new Map());
    await store.save(new Map([['web|198.51.100.2:80', { admin: 'drain', reason: 'x', since: 1 }], ['web|198.51.100.3:80', { weight: 7, since: 1 }]]));
    await store.save(new Map([['web|198.51.100.3:80', { weight: 8, since: 2 }]]));
    expect(await new FileOverrideStore(dir, silentLogger()).load()).toEqual(new Map([['web|198.51.100.3:80', { weight: 8, since: 2 }]]));
    expect(readdirSync(dir)).toEqual(['overrides.json']);
  });

  it('sets a corrupt file aside and starts empty; clears the temp file of a crashed write', async () => {
    const dir = path.join(root, 'b');
    const store = new FileOverrideStore(dir, silentLogger());
    await store.save(new Map([['web|198.51.100.2:80', { weight: 70000, since: 1 }]])); // out of range: corrupt when read
    writeFileSync(path.join(dir, 'overrides.json.tmp-12345-0a1b2c3d'), '{"version":1,"over');
    expect(await store.load()).toEqual(new Map());
    const names = readdirSync(dir);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^overrides\.json\.corrupt-/);
  });
});
