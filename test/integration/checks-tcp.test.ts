import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createProbeKit } from '../../checks/index.js';
import { skipUnless, which } from '../support/env.js';
import { deadline, local } from '../support/probes.js';
import type { TestServer } from '../support/servers.js';
import { refusedPort, startHealthyHttp, startUnacceptingTcp } from '../support/servers.js';

const kit = createProbeKit({ fpingPath: null });
const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(() => kit.close());

describe('tcp probe', () => {
  const probe = kit.probeFor({ type: 'tcp' });

  it('connects to a listening port and closes again', async () => {
    const s = await startHealthyHttp();
    servers.push(s);
    const r = await probe.check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ ok: true, outcome: 'ok' });
    expect(r.durationMs).toBeGreaterThan(0);
    expect(s.connections).toBe(1);
  });

  it('reports a refused port as error with the errno', async () => {
    const s = await refusedPort();
    const r = await probe.check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ ok: false, outcome: 'error', detail: 'connect ECONNREFUSED' });
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
});
