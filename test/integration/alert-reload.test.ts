/**
 * A reload that rebuilds the alert system: a target whose config is unchanged keeps what its
 * policy knows, so a realserver already reported down is not reported again; a changed target
 * starts afresh. Queues on a real disk; the webhook points at a closed port (nothing delivers).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AlertSystem } from '../../src/alerts/manager.js';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import type { DaemonEvent } from '../../src/daemon/daemon.js';
import { freePort } from '../support/ports.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-alert-reload-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const alertsOf = (port: number, after: number) => parseConfig(`
api: { listen: false, socket: false }
alerts:
  - { name: hook, webhook: { url: "http://127.0.0.1:${port}/" }, after: ${after}, retry_initial: 60s }
services: []
`, 'alerts.yaml').alerts;

const down: DaemonEvent = { type: 'transition', service: 'web', realserver: '198.51.100.2:80', from: 'up', to: 'down', at: 1, detail: 'fail: HTTP 503', failures: 3 };
const stillDown: DaemonEvent = { type: 'still_down', scope: 'realserver', service: 'web', realserver: '198.51.100.2:80', failures: 4, at: 2, detail: 'fail: HTTP 503' };

const depth = (a: AlertSystem): number => a.queues()[0]!.depth;
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 100));
}

describe('alert system across a reload', () => {
  it('an unchanged target keeps its policy: a realserver already reported down is not reported again', async () => {
    const port = await freePort();
    const deps = { node: 'lb', stateDir: path.join(dir, 'same'), clock: systemClock, random: Math.random, log: silentLogger() };
    const first = await AlertSystem.start({ ...deps, alerts: alertsOf(port, 1) });
    first.handle(down);
    await settle();
    expect(depth(first)).toBe(1);
    await first.close();
    const second = await AlertSystem.start({ ...deps, alerts: alertsOf(port, 1), previous: first });
    expect(depth(second)).toBe(1); // the queued one, from disk
    second.handle(stillDown);
    await settle();
    expect(depth(second)).toBe(1);
    await second.close();
  });

  it('a changed target starts afresh', async () => {
    const port = await freePort();
    const deps = { node: 'lb', stateDir: path.join(dir, 'changed'), clock: systemClock, random: Math.random, log: silentLogger() };
    const first = await AlertSystem.start({ ...deps, alerts: alertsOf(port, 1) });
    first.handle(down);
    await settle();
    await first.close();
    const second = await AlertSystem.start({ ...deps, alerts: alertsOf(port, 2), previous: first });
    second.handle(stillDown);
    await settle();
    expect(depth(second)).toBe(2); // it knows nothing of the first report: down with 4 failures >= after 2
    await second.close();
  });
});
