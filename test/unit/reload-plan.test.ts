import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { effectiveConfig, planReload } from '../../src/daemon/reload-plan.js';

const base = parseConfig(`
node: { name: lb1 }
api: { listen: 127.0.0.1:9410, socket: false }
ipvs: { driver: memory, resync_interval: 30s, command_timeout: 10s }
state_dir: /var/lib/lvsd
max_concurrent_probes: 256
services:
  - name: web
    address: 192.0.2.10:80
    realservers: [{ address: 198.51.100.2 }]
`, 'base.yaml');

/** every setting a reload cannot apply, changed one at a time */
const restartOnly: Record<string, (c: Config) => Config> = {
  api: (c) => ({ ...c, api: { ...c.api, listen: { host: '127.0.0.1', port: 9411 } } }),
  state_dir: (c) => ({ ...c, stateDir: '/tmp/elsewhere' }),
  node: (c) => ({ ...c, node: { name: 'lb2' } }),
  'ipvs.driver': (c) => ({ ...c, ipvs: { ...c.ipvs, driver: 'ipvsadm' } }),
  'ipvs.resync_interval': (c) => ({ ...c, ipvs: { ...c.ipvs, resyncIntervalMs: 5000 } }),
  'ipvs.command_timeout': (c) => ({ ...c, ipvs: { ...c.ipvs, commandTimeoutMs: 1000 } }),
  max_concurrent_probes: (c) => ({ ...c, maxConcurrentProbes: 64 }),
};

describe('reload plan: settings that need a restart', () => {
  for (const [key, change] of Object.entries(restartOnly)) {
    it(`${key}: listed as needing a restart, and kept at its running value`, () => {
      const next = change(base);
      expect(planReload(base, next).needsRestart).toEqual([key]);
      // what the reload applies differs from the running config in nothing that needs a restart
      expect(planReload(base, effectiveConfig(base, next)).needsRestart).toEqual([]);
    });
  }

  it('a live setting goes through', () => {
    const next = { ...base, ipvs: { ...base.ipvs, drainBeforeRemoveMs: 1000 } };
    expect(planReload(base, next).needsRestart).toEqual([]);
    expect(effectiveConfig(base, next).ipvs.drainBeforeRemoveMs).toBe(1000);
  });
});
