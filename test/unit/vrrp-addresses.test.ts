/**
 * The VIP address manager's gratuitous ARP, with stand-ins for `ip` and `arping` first on PATH
 * (no root, no real link): a director that gives the VIPs up stops announcing them at once —
 * the running arping is ended and the repeat burst never comes. Every stand-in process is
 * found by the PID it logged and killed by PID in afterAll.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/log.js';
import { IpAddressManager } from '../../src/vrrp/addresses.js';
import { gone, killStrays, running } from '../support/processes.js';

let dir: string;
let log: string;
const savedPath = process.env.PATH;

/** "PID argv..." lines the stand-ins wrote */
function calls(): { pid: number; argv: string }[] {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return [];
  }
  return text.trim().split('\n').filter(Boolean).map((l) => {
    const [pid, ...rest] = l.split(' ');
    return { pid: Number(pid), argv: rest.join(' ') };
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'lvsd-vrrp-addr-'));
  log = path.join(dir, 'calls.log');
  // arping keeps running like the real one (-c 3 -w 4 lasts ~3 s); ip answers at once
  writeFileSync(path.join(dir, 'arping'), `#!/bin/sh\necho "$$ arping $*" >> '${log}'\nexec sleep 30\n`);
  writeFileSync(path.join(dir, 'ip'), `#!/bin/sh\necho "$$ ip $*" >> '${log}'\nexit 0\n`);
  chmodSync(path.join(dir, 'arping'), 0o755);
  chmodSync(path.join(dir, 'ip'), 0o755);
  process.env.PATH = `${dir}${path.delimiter}${savedPath ?? ''}`;
});

afterAll(() => {
  process.env.PATH = savedPath;
  killStrays(calls().filter((c) => c.argv.startsWith('arping')).map((c) => c.pid));
  rmSync(dir, { recursive: true, force: true });
});

describe('IpAddressManager gratuitous ARP', () => {
  it('remove() ends the running arping and cancels the repeat burst', async () => {
    const m = new IpAddressManager({ interface: 'eth0', addresses: ['192.0.2.100/24'], log: silentLogger(), garpRepeatDelayMs: 400 });
    await m.add();
    m.announce();
    await until(() => calls().some((c) => c.argv.startsWith('arping')), 5000, 'the first arping');
    const first = calls().find((c) => c.argv.startsWith('arping'))!;
    expect(first.argv).toContain('-U');
    expect(first.argv).toContain('192.0.2.100');
    expect(running(first.pid)).toBe(true);
    await m.remove(); // the VIP is the peer's now
    expect(await gone(first.pid, 5000)).toBe(true);
    await sleep(1000); // well past the repeat delay
    expect(calls().filter((c) => c.argv.startsWith('arping'))).toHaveLength(1);
    m.close();
  });

  it('without a remove(), the repeat burst comes after its delay', async () => {
    const m = new IpAddressManager({ interface: 'eth0', addresses: ['192.0.2.101/24'], log: silentLogger(), garpRepeatDelayMs: 300 });
    m.announce();
    await until(() => calls().filter((c) => c.argv.includes('192.0.2.101')).length >= 2, 5000, 'the repeat burst');
    m.close(); // ends both
    for (const c of calls().filter((x) => x.argv.includes('192.0.2.101'))) expect(await gone(c.pid, 5000)).toBe(true);
  });
});
