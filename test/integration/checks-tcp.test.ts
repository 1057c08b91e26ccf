import { readdirSync } from 'node:fs';
import net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createProbeKit } from '../../checks/index.js';
import { AttemptRegistry } from '../../checks/result.js';
import { handleConnectClose, socketConnectClose, type ConnectClose } from '../../checks/tcp-connect-close.js';
import { loadTcpWrap } from '../../checks/tcp-wrap.js';
import { createTcpProbe } from '../../checks/tcp.js';
import { skipUnless, which } from '../support/env.js';
import { deadline, local } from '../support/probes.js';
import type { TestServer } from '../support/servers.js';
import { refusedPort, startHealthyHttp, startUnacceptingTcp } from '../support/servers.js';

const kit = createProbeKit({ fpingPath: null });
const stop = new AttemptRegistry();
const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  stop.close(new Error('test done'));
  await kit.close();
});

const binding = loadTcpWrap();
const ways: [string, ConnectClose][] = [['socket', socketConnectClose]];
if (binding) ways.push(['handle', handleConnectClose(binding)]);

it('finds the tcp_wrap binding on this Node (else the tcp check runs the slower socket way)', () => {
  expect(binding).toBeDefined();
});

it('refuses a binding that is missing or has another shape', () => {
  expect(loadTcpWrap(() => { throw new Error('No such module'); })).toBeUndefined();
  expect(loadTcpWrap(() => undefined)).toBeUndefined();
  expect(loadTcpWrap(() => ({ TCP: class {}, TCPConnectWrap: class {}, constants: { SOCKET: 0 } }))).toBeUndefined();
  expect(loadTcpWrap(() => ({ TCP: binding?.TCP, TCPConnectWrap: binding?.TCPConnectWrap, constants: {} }))).toBeUndefined();
});

describe.each(ways)('tcp probe, the %s way', (_name, connectClose) => {
  const probe = createTcpProbe(stop, connectClose);

  it('connects to a listening port and closes again', async () => {
    const s = await startHealthyHttp();
    servers.push(s);
    const r = await probe.check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ ok: true, outcome: 'ok', detail: 'connected' });
    expect(r.durationMs).toBeGreaterThan(0);
    expect(s.connections).toBe(1);
  });

  it('connects over IPv6', async () => {
    const srv = net.createServer((c) => c.destroy());
    const listening = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(0, '::1', () => resolve(true));
    });
    if (!listening) return; // no ::1 here: nothing to test
    try {
      const r = await probe.check(local((srv.address() as net.AddressInfo).port, '::1'), deadline(1000));
      expect(r).toMatchObject({ ok: true, outcome: 'ok' });
    } finally {
      await new Promise((resolve) => srv.close(resolve));
    }
  });

  it('reports a refused port as error with the errno', async () => {
    const s = await refusedPort();
    const r = await probe.check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ ok: false, outcome: 'error', detail: 'connect ECONNREFUSED' });
  });

  it('reports an address it cannot connect from as error', async () => {
    // 0.0.0.0:0 is not a valid destination: the connect fails at once
    const r = await probe.check(local(0, '0.0.0.0'), deadline(1000));
    expect(r.ok).toBe(false);
    expect(r.outcome).toBe('error');
    expect(r.detail).toMatch(/^connect E[A-Z]+$/);
  });

  it.skipIf(skipUnless(which('python3') !== null, 'python3 (for a listener that never accepts)'))(
    'times out when SYNs go unanswered',
    async () => {
      const s = await startUnacceptingTcp();
      servers.push(s);
      const r = await probe.check(local(s.port), deadline(300));
      expect(r.outcome).toBe('timeout');
      expect(r.detail).toBe(`timeout after 300ms connecting to 127.0.0.1:${s.port}`);
      expect(r.durationMs).toBeGreaterThanOrEqual(250);
      expect(r.durationMs).toBeLessThan(300 + 1000);
    },
  );

  it('settles at once on an already-aborted signal', async () => {
    const r = await probe.check(local(1), { signal: AbortSignal.abort(new DOMException('late', 'TimeoutError')), timeoutMs: 50 });
    expect(r.outcome).toBe('timeout');
    expect(r.durationMs).toBeLessThan(100);
  });

  it.skipIf(skipUnless(which('python3') !== null, 'python3 (for a listener that never accepts)'))(
    'leaves no descriptor open after 1,000 refused, 200 connected and 200 timed-out checks',
    async () => {
      const fds = (): number => readdirSync('/proc/self/fd').length;
      const ok = await startHealthyHttp();
      const black = await startUnacceptingTcp();
      servers.push(ok, black);
      const refused = await refusedPort();
      const before = fds();
      const runs: Promise<unknown>[] = [];
      for (let i = 0; i < 1000; i++) runs.push(probe.check(local(refused.port), deadline(1000)));
      for (let i = 0; i < 200; i++) runs.push(probe.check(local(ok.port), deadline(1000)));
      for (let i = 0; i < 200; i++) runs.push(probe.check(local(black.port), deadline(100)));
      const results = (await Promise.all(runs)) as { outcome: string }[];
      expect(results.filter((r) => r.outcome === 'error')).toHaveLength(1000);
      expect(results.filter((r) => r.outcome === 'ok')).toHaveLength(200);
      expect(results.filter((r) => r.outcome === 'timeout')).toHaveLength(200);
      // handles close in the loop's close phase: give it a few turns
      for (let i = 0; i < 20 && fds() > before; i++) await new Promise((r) => setTimeout(r, 50));
      expect(fds()).toBe(before);
    },
  );
});

it('the kit runs the tcp check', async () => {
  const s = await startHealthyHttp();
  servers.push(s);
  const r = await kit.probeFor({ type: 'tcp' }).check(local(s.port), deadline(1000));
  expect(r).toMatchObject({ ok: true, detail: 'connected' });
});
