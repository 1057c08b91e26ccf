import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFpingC } from '../../checks/fping.js';
import { createProbeKit } from '../../checks/index.js';
import { parsePingSummary } from '../../checks/ping.js';
import type { ProbeKit, ProbeKitOptions } from '../../checks/types.js';
import { isRoot, skipUnless, which } from '../support/env.js';
import { deadline } from '../support/probes.js';

const FPING = which('fping');
const PING = which('ping');
const IP = which('ip');
const dir = mkdtempSync(path.join(os.tmpdir(), 'lvsd-icmp-'));
const kits: ProbeKit[] = [];

afterAll(async () => {
  await Promise.all(kits.map((k) => k.close()));
  rmSync(dir, { recursive: true, force: true });
});

function kit(options: ProbeKitOptions): ProbeKit {
  const k = createProbeKit(options);
  kits.push(k);
  return k;
}

/** An executable shell script in the test's temp dir. */
function script(name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

/** fping behind a wrapper that logs each invocation's arguments, one line per process. */
function loggingFping(name: string, exec = `exec ${FPING ?? 'fping'} "$@"`): { path: string; invocations: () => string[][] } {
  const log = path.join(dir, `${name}.log`);
  const p = script(name, `echo "$*" >> ${log}\n${exec}`);
  return {
    path: p,
    invocations: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ')) : []),
  };
}

const target = (address: string) => ({ address, port: 0 });

/** still running (a zombie nobody reaped yet runs nothing) */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

describe('fping output parsing', () => {
  it('reads padded -C lines and skips everything else', () => {
    const text = '127.0.0.1 : 0.05 -\n::1       : - -\nICMP Host Unreachable from 127.0.0.1 for ICMP Echo sent to 127.0.0.9\n256.1.1.1: Name or service not known\ngarbage : x y\n';
    expect([...parseFpingC(text)]).toEqual([
      ['127.0.0.1', [0.05, null]],
      ['::1', [null, null]],
    ]);
  });

  it('reads the iputils ping summary', () => {
    const text = '--- 127.0.0.1 ping statistics ---\n2 packets transmitted, 1 received, 50% packet loss, time 200ms\nrtt min/avg/max/mdev = 0.011/0.020/0.030/0.000 ms\n';
    expect(parsePingSummary(text)).toEqual({ sent: 2, rttsMs: [0.02] });
    expect(parsePingSummary('1 packets transmitted, 0 received, 100% packet loss, time 0ms\n')).toEqual({ sent: 1, rttsMs: [] });
  });
});

describe.skipIf(skipUnless(FPING !== null, 'fping (apt-get install fping)'))('icmp probe with fping', () => {
  it('gets a reply from 127.0.0.1', async () => {
    const r = await kit({}).probeFor({ type: 'icmp', count: 1 }).check(target('127.0.0.1'), deadline(1000));
    expect(r).toMatchObject({ ok: true, outcome: 'ok' });
    expect(r.detail).toMatch(/^rtt \d+(\.\d+)?ms$/);
  });

  it('serves 127.0.0.1..127.0.0.50 in one batch with one fping process', async () => {
    const fping = loggingFping('fping-batch');
    const k = kit({ fpingPath: fping.path });
    const probe = k.probeFor({ type: 'icmp', count: 1 });
    const addresses = Array.from({ length: 50 }, (_, i) => `127.0.0.${i + 1}`);
    const results = await Promise.all(addresses.map((a) => probe.check(target(a), deadline(1000))));
    expect(results.map((r) => r.outcome)).toEqual(addresses.map(() => 'ok'));
    const calls = fping.invocations();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.slice(0, 2)).toEqual(['-C', '1']);
    expect(calls[0]?.slice(-50)).toEqual(addresses);
  });

  it('pings a host asked for twice once and fans the answer out; one process per (timeout, count)', async () => {
    const fping = loggingFping('fping-dups');
    const k = kit({ fpingPath: fping.path });
    const one = k.probeFor({ type: 'icmp', count: 1 });
    const two = k.probeFor({ type: 'icmp', count: 2 });
    const results = await Promise.all([
      one.check(target('127.0.0.1'), deadline(1000)),
      one.check(target('127.0.0.1'), deadline(1000)),
      one.check(target('127.0.0.2'), deadline(1000)),
      two.check(target('127.0.0.1'), deadline(1000)),
    ]);
    expect(results.map((r) => r.outcome)).toEqual(['ok', 'ok', 'ok', 'ok']);
    const calls = fping.invocations().sort((a, b) => (a[1] ?? '').localeCompare(b[1] ?? ''));
    expect(calls).toHaveLength(2);
    expect(calls[0]?.filter((a) => a.startsWith('127.'))).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(calls[1]?.slice(0, 2)).toEqual(['-C', '2']);
    expect(calls[1]?.filter((a) => a.startsWith('127.'))).toEqual(['127.0.0.1']);
  });

  it('gives error, not a throw, when fping is killed by a signal', async () => {
    const k = kit({ fpingPath: script('fping-crash', 'kill -9 $$') });
    const r = await k.probeFor({ type: 'icmp', count: 1 }).check(target('127.0.0.1'), deadline(1000));
    expect(r).toMatchObject({ outcome: 'error', detail: 'fping killed by SIGKILL' });
  });

  it('gives error when fping prints garbage', async () => {
    const k = kit({ fpingPath: script('fping-garbage', 'echo "127.0.0.10 : 0.1" >&2; echo "127.0.0.1 : banana" >&2; exit 0') });
    const probe = k.probeFor({ type: 'icmp', count: 1 });
    const [r, r10, r2] = await Promise.all(['127.0.0.1', '127.0.0.10', '127.0.0.2'].map((a) => probe.check(target(a), deadline(1000))));
    expect(r).toMatchObject({ outcome: 'error', detail: 'fping gave no result for 127.0.0.1 (127.0.0.1 : banana)' });
    expect(r10?.outcome).toBe('ok');
    expect(r2).toMatchObject({ outcome: 'error', detail: 'fping gave no result for 127.0.0.2' });
  });

  it('gives error with fping\'s complaint when it fails outright', async () => {
    const k = kit({ fpingPath: script('fping-exit4', 'echo "fping: can\'t create socket (must run as root?)" >&2; exit 4') });
    const r = await k.probeFor({ type: 'icmp', count: 1 }).check(target('127.0.0.1'), deadline(1000));
    expect(r).toMatchObject({ outcome: 'error', detail: "fping exit 4: fping: can't create socket (must run as root?)" });
  });
});

describe.skipIf(skipUnless(PING !== null, 'system ping (apt-get install iputils-ping)'))('icmp fallback to the system ping', () => {
  for (const fpingPath of [path.join(dir, 'no-such-fping'), null]) {
    it(`warns once and uses ping when fpingPath is ${fpingPath === null ? 'null' : 'missing'}`, async () => {
      const warnings: string[] = [];
      const k = kit({ fpingPath, warn: (m) => warnings.push(m) });
      const probe = k.probeFor({ type: 'icmp', count: 1 });
      const results = await Promise.all([probe.check(target('127.0.0.1'), deadline(1000)), probe.check(target('127.0.0.1'), deadline(1000))]);
      const again = await probe.check(target('127.0.0.1'), deadline(1000));
      expect([...results, again].map((r) => r.outcome)).toEqual(['ok', 'ok', 'ok']);
      expect(again.detail).toMatch(/^rtt \d+(\.\d+)?ms$/);
      expect(warnings).toEqual(['fping not found; falling back to one system ping process per target — install fping']);
    });
  }

  it('sends count pings', async () => {
    const k = kit({ fpingPath: null });
    const r = await k.probeFor({ type: 'icmp', count: 2 }).check(target('127.0.0.1'), deadline(1500));
    expect(r.outcome).toBe('ok');
  });
});

const ns = `lvsdt-icmp-${process.pid}`;
describe.skipIf(
  skipUnless(isRoot() && IP !== null && FPING !== null && PING !== null, 'root, ip, fping and ping (a netns that ignores echo requests)'),
)('icmp without replies (network namespace ignoring echo requests)', () => {
  let fpingNs = '';
  let pingNs = '';
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv4.icmp_echo_ignore_all=1']);
    // the wrapper records its PID: `ip netns exec` execs fping in place, so it is fping's PID
    fpingNs = script('fping-ns', `echo $$ >> ${path.join(dir, 'fping-ns.pids')}\nexec ip netns exec ${ns} ${FPING ?? 'fping'} "$@"`);
    pingNs = script('ping-ns', `exec ip netns exec ${ns} ${PING ?? 'ping'} "$@"`);
  });
  afterAll(() => {
    try {
      execFileSync('ip', ['netns', 'delete', ns]);
    } catch {
      // never created
    }
  });

  it('fails (not times out) within the deadline when nothing answers', async () => {
    const k = kit({ fpingPath: fpingNs });
    const r = await k.probeFor({ type: 'icmp', count: 1 }).check(target('127.0.0.1'), deadline(500));
    expect(r).toMatchObject({ ok: false, outcome: 'fail', detail: 'no reply to 1 ping' });
    expect(r.durationMs).toBeLessThan(500 + 1000);
  });

  it('counts every unanswered ping', async () => {
    const k = kit({ fpingPath: fpingNs });
    const r = await k.probeFor({ type: 'icmp', count: 3 }).check(target('127.0.0.1'), deadline(800));
    expect(r).toMatchObject({ outcome: 'fail', detail: 'no reply to 3 pings' });
    expect(r.durationMs).toBeLessThan(800 + 1000);
  });

  it('settles an aborted target at once while the rest of its batch goes on, and kills fping when nobody waits', async () => {
    const k = kit({ fpingPath: fpingNs });
    const probe = k.probeFor({ type: 'icmp', count: 1 });
    const early = new AbortController();
    const t0 = performance.now();
    const a = probe.check(target('127.0.0.1'), { signal: early.signal, timeoutMs: 3000 });
    const b = probe.check(target('127.0.0.2'), { signal: early.signal, timeoutMs: 3000 });
    const c = probe.check(target('127.0.0.3'), deadline(700));
    setTimeout(() => early.abort(new DOMException('deadline', 'TimeoutError')), 100);
    const [ra, rb] = await Promise.all([a, b]);
    expect(performance.now() - t0).toBeLessThan(100 + 500);
    expect(ra).toMatchObject({ outcome: 'timeout', detail: 'timeout after 3000ms waiting for echo reply from 127.0.0.1' });
    expect(rb.outcome).toBe('timeout');
    const rc = await c;
    expect(rc).toMatchObject({ outcome: 'fail', detail: 'no reply to 1 ping' });
    // the 3000 ms batch lost all its waiters: its fping must be gone long before it would end
    const pids = readFileSync(path.join(dir, 'fping-ns.pids'), 'utf8').trim().split('\n').map(Number);
    expect(pids.filter(running)).toEqual([]);
  });

  it('system ping fallback: fails within the deadline too', async () => {
    const k = kit({ fpingPath: null, pingPath: pingNs });
    const r = await k.probeFor({ type: 'icmp', count: 1 }).check(target('127.0.0.1'), deadline(500));
    expect(r).toMatchObject({ outcome: 'fail', detail: 'no reply to 1 ping' });
    expect(r.durationMs).toBeLessThan(500 + 1000);
  });

  it('kit.close() settles pending pings and kills fping', async () => {
    const k = createProbeKit({ fpingPath: fpingNs });
    const pending = k.probeFor({ type: 'icmp', count: 1 }).check(target('127.0.0.1'), deadline(5000));
    await new Promise((res) => setTimeout(res, 100));
    await k.close();
    const r = await pending;
    expect(r.outcome).toBe('error');
    expect(r.detail).toContain('probe kit closed');
  });
});
