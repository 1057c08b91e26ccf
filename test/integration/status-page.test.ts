/// <reference lib="dom" />
// (playwright-core's types name DOM classes; the callbacks given to $$eval run in the page)
/**
 * The status page in a real browser: headless Chromium (Debian's, driven by playwright-core)
 * loads GET / from a running lvsd that holds the VIP by VRRP, in a network namespace; the page
 * shows each realserver's state, weight, last result and latency and the VRRP role, follows a
 * realserver going down by itself (no reload), fetches nothing from anywhere else, and is saved
 * as test-results/status-page.png.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import { ROOT } from '../support/cli.js';
import { isRoot, needs, which } from '../support/env.js';
import { Lan, waitFor, type Host } from '../support/netns.js';

const browserPath = which('chromium');
const hasRaw = ((): boolean => {
  try {
    createRequire(import.meta.url)('raw-socket');
    return true;
  } catch {
    return false;
  }
})();
const t = needs(isRoot() && browserPath !== null && hasRaw && which('python3') !== null,
  'root, chromium (apt-get install chromium), python3 and the raw-socket package');

const VIP = '198.51.100.100';
const API = 'http://127.0.0.1:9410';

t.describe('status page in headless Chromium', () => {
  const lan = new Lan('sp');
  const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-page-'));
  let host: Host;
  let browser: Browser | undefined;
  let web: ReturnType<Lan['spawn']>;
  const log: string[] = [];
  let lvsd: ReturnType<Lan['spawn']>;

  beforeAll(async () => {
    await lan.up();
    host = await lan.host('a', '198.51.100.2');
    // a realserver inside the namespace (lvsd probes 127.0.0.1 there); 8081 has nobody: DOWN
    web = lan.spawn(host, ['python3', '-m', 'http.server', '8080', '--bind', '127.0.0.1', '--directory', dir]);
    writeFileSync(path.join(dir, 'lvsd.yaml'), `
node: { name: page-test }
api: { listen: "127.0.0.1:9410", socket: false }
ipvs: { driver: memory }
state_dir: ${dir}
defaults: { interval: 300ms, timeout: 250ms, rise: 1, fall: 1 }
failover: { interface: eth0, virtual_router_id: 61, priority: 150, advert_interval: 100ms, virtual_addresses: [${VIP}/24] }
services:
  - name: web
    address: ${VIP}:80
    check: { type: http, path: / }
    realservers:
      - { address: "127.0.0.1:8080", weight: 5 }
      - { address: "127.0.0.1:8081", weight: 3 }
  - name: ssh
    address: ${VIP}:22
    check: { type: tcp }
    realservers:
      - { address: "127.0.0.1:8080" }
`);
    lvsd = lan.spawn(host, [process.execPath, '--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'run', '-c', path.join(dir, 'lvsd.yaml')],
      { cwd: ROOT, onOutput: (l) => log.push(l) });
    await waitFor(async () => (await lan.addresses(host)).includes(VIP), 20_000, 'lvsd MASTER with the VIP');
    // Chromium runs in the namespace too: playwright starts it through this wrapper (exec keeps the PID)
    const wrapper = path.join(dir, 'chromium-in-ns');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${host.ns} ${browserPath} "$@"\n`);
    chmodSync(wrapper, 0o755);
    browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox', '--disable-gpu'], timeout: 60_000 });
  }, 90_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await lan.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  t.it('shows states, weights, last results and the VRRP role, follows a change by itself, fetches nothing else', async () => {
    const page = await browser!.newPage({ viewport: { width: 1400, height: 700 } });
    const foreign: string[] = [];
    page.on('request', (r) => { if (!r.url().startsWith(`${API}/`)) foreign.push(r.url()); });
    await page.goto(`${API}/`);

    const row = (svc: string, rs: string): string => `section[data-service="${svc}"] tr[data-realserver="${rs}"]`;
    await page.waitForSelector(`${row('web', '127.0.0.1:8080')}[data-state="UP"]`, { timeout: 15_000 });
    await page.waitForSelector(`${row('web', '127.0.0.1:8081')}[data-state="DOWN"]`, { timeout: 15_000 });
    await page.waitForSelector(`${row('ssh', '127.0.0.1:8080')}[data-state="UP"]`, { timeout: 15_000 });
    const cells = async (sel: string): Promise<string[]> => page.$$eval(`${sel} td`, (tds) => tds.map((td) => td.textContent ?? ''));
    const header = await page.$$eval('section[data-service="web"] th', (ths) => ths.map((th) => th.textContent));
    const col = (name: string): number => header.indexOf(name);
    const upRow = await cells(row('web', '127.0.0.1:8080'));
    expect(upRow[col('state')]).toBe('UP');
    expect(upRow[col('weight')]).toBe('5');
    expect(upRow[col('last result')]).toBe('ok');
    expect(upRow[col('latency')]).toMatch(/^\d+\.\d ms$/);
    expect(upRow[col('detail')]).toContain('HTTP 200');
    const downRow = await cells(row('web', '127.0.0.1:8081'));
    expect(downRow[col('state')]).toBe('DOWN');
    expect(downRow[col('weight')]).toBe('0 (of 3)');
    expect(downRow[col('last result')]).toBe('error'); // connection refused
    expect(downRow[col('detail')]).toMatch(/ECONNREFUSED|refused/);
    expect(Number(downRow[col('fails')])).toBeGreaterThan(0);
    expect(await page.textContent('#vrrp')).toMatch(/^VRRP MASTER · vrid 61 · priority 150 · eth0 · 198\.51\.100\.100\/24$/);
    expect(await page.textContent('#summary')).toBe('2 services · 2/3 realservers up');
    mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, 'test-results', 'status-page.png'), fullPage: true });

    // the realserver stops: the open page shows it DOWN on its own refresh
    await lan.kill(web);
    await page.waitForSelector(`${row('web', '127.0.0.1:8080')}[data-state="DOWN"]`, { timeout: 15_000 });
    await page.waitForSelector(`${row('ssh', '127.0.0.1:8080')}[data-state="DOWN"]`, { timeout: 15_000 });
    expect(await page.textContent('#summary')).toBe('2 services · 0/3 realservers up');
    expect(foreign).toEqual([]);
    await page.close();
  }, 60_000);

  t.it('logs each VRRP transition, realserver transition and IPVS change with its reason, one JSON line each', () => {
    const events = log.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toContainEqual(expect.objectContaining({ msg: 'VRRP transition', from: 'backup', to: 'master', reason: expect.stringMatching(/^no advert for \d+ms$/) }));
    expect(events).toContainEqual(expect.objectContaining({
      // refused once it is gone; a check whose connection it had accepted just before dying sees the reset
      msg: 'realserver transition', service: 'web', realserver: '127.0.0.1:8080', from: 'up', to: 'down', reason: expect.stringMatching(/^error: .*(ECONNREFUSED|ECONNRESET)/),
    }));
    expect(events).toContainEqual(expect.objectContaining({ msg: 'ipvs change', command: `ipvsadm -A -t ${VIP}:80 -s wlc`, reason: 'service web is in the config and not in the kernel' }));
    expect(events).toContainEqual(expect.objectContaining({ msg: 'ipvs change', command: `ipvsadm -a -t ${VIP}:80 -r 127.0.0.1:8080 -m -w 5`, reason: 'UP: weight 5 (ok: HTTP 200)' }));
    expect(events).toContainEqual(expect.objectContaining({ msg: 'ipvs change', command: `ipvsadm -a -t ${VIP}:80 -r 127.0.0.1:8081 -m -w 0`, reason: expect.stringMatching(/^DOWN, quiescent at weight 0 \(error: .*ECONNREFUSED/) }));
    expect(events).toContainEqual(expect.objectContaining({ msg: 'ipvs change', command: `ipvsadm -e -t ${VIP}:80 -r 127.0.0.1:8080 -m -w 0`, reason: expect.stringMatching(/^DOWN, quiescent at weight 0/) }));
  });

  t.it('the open page says when lvsd is gone; lvsd release (systemd ExecStopPost) removes the VIP it left', async () => {
    const page = await browser!.newPage();
    await page.goto(`${API}/`);
    await page.waitForSelector('section[data-service="web"] tr[data-realserver]', { timeout: 15_000 });
    await lan.kill(lvsd, 'SIGKILL');
    // the last table stays, greyed out, under a message
    await page.waitForFunction(() => document.body.classList.contains('stale'), undefined, { timeout: 15_000 });
    expect(await page.textContent('#error')).toMatch(/^cannot reach lvsd: /);
    expect(await page.$$('section[data-service="web"] tr[data-realserver]')).toHaveLength(2);
    await page.close();
    expect(await lan.addresses(host)).toContain(VIP);
    const out: string[] = [];
    const release = lan.spawn(host, [process.execPath, '--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'release', '-c', path.join(dir, 'lvsd.yaml')],
      { cwd: ROOT, onOutput: (l) => out.push(l) });
    const code = await new Promise<number | null>((r) => release.once('exit', r));
    expect(code).toBe(0);
    expect(out).toContain(`released ${VIP}/24 on eth0`);
    expect(await lan.addresses(host)).not.toContain(VIP);
  }, 30_000);
});
