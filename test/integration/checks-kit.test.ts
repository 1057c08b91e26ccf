import { afterAll, describe, expect, it } from 'vitest';
import { createProbeKit, specKey } from '../../checks/index.js';
import type { CheckSpec } from '../../checks/types.js';
import { deadline, local } from '../support/probes.js';
import { startSilentTcp } from '../support/servers.js';

const http: CheckSpec = { type: 'http', path: '/', method: 'GET', expectStatus: [200], tlsVerify: true, freshConnection: false };

describe('probe kit', () => {
  const kit = createProbeKit({ fpingPath: null });
  afterAll(() => kit.close());

  it('hands out a probe of the right type for every check type', () => {
    const specs: CheckSpec[] = [
      { type: 'icmp', count: 1 },
      { type: 'tcp' },
      http,
      { ...http, type: 'https' },
      { type: 'banner', expect: 'login:' },
      { type: 'exec', command: ['true'] },
    ];
    expect(specs.map((s) => kit.probeFor(s).type)).toEqual(['icmp', 'tcp', 'http', 'https', 'banner', 'exec']);
  });

  it('shares one probe between equal specs, whatever their key order', () => {
    const a = kit.probeFor({ type: 'banner', expect: 'login:', send: '\r\n' });
    const b = kit.probeFor({ send: '\r\n', expect: 'login:', type: 'banner' });
    const c = kit.probeFor({ type: 'banner', expect: 'Password:', send: '\r\n' });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(kit.probeFor({ ...http, host: undefined } as unknown as CheckSpec)).toBe(kit.probeFor(http));
    expect(specKey({ type: 'exec', command: ['a', 'b'] })).not.toBe(specKey({ type: 'exec', command: ['b', 'a'] }));
  });
});

describe('probe kit close', () => {
  it('settles in-flight checks of every kind and refuses new ones without throwing', async () => {
    const kit = createProbeKit({ fpingPath: null });
    const silent = await startSilentTcp();
    try {
      const pending = [
        kit.probeFor({ type: 'banner' }).check(local(silent.port), deadline(5000)),
        kit.probeFor(http).check(local(silent.port), deadline(5000)),
        kit.probeFor({ type: 'exec', command: ['sleep', '10'] }).check(local(1), deadline(5000)),
      ];
      await new Promise((r) => setTimeout(r, 100));
      const t0 = performance.now();
      await kit.close();
      const results = await Promise.all(pending);
      expect(performance.now() - t0).toBeLessThan(1000);
      for (const r of results) {
        expect(r.outcome).toBe('error');
        expect(r.detail).toContain('probe kit closed');
      }
      const after = await kit.probeFor({ type: 'tcp' }).check(local(silent.port), deadline(1000));
      expect(after).toMatchObject({ outcome: 'error', detail: 'aborted before starting: probe kit closed' });
    } finally {
      await silent.close();
    }
  });
});
