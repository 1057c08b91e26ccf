/**
 * kill -9 during a reconcile, then a restart with the same config and state_dir: the table
 * converges to exactly the wanted one, with no duplicate destinations and no churn — what the
 * killed daemon already put in the table is neither deleted nor added again, and left alone when
 * its weight is already right.
 *
 * `lvsd run` from source with the ipvsadm shim (test/support/ipvsadm-shim.mjs) first on PATH,
 * made slow (50-200 ms per call, 10-35 ms per -R line) so reconciling 50 realservers spans many
 * calls; the daemon is killed (SIGKILL, by PID) after the shim has seen a seeded-random number of
 * calls plus a random delay, so some seeds hit a -R half-way (a partial table), others a read or
 * the gap between passes. As systemd does with a unit's other processes once its main process
 * died, the ipvsadm still running is killed too — except for every third seed, where it is left
 * running beside the restarted daemon (only convergence is asserted then).
 *
 * LVSD_KILL_SEEDS=N runs seeds 1..N (default 3).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { IpvsadmShim, killLvsds, spawnLvsdWith, type LvsdProcess, type ShimCall } from '../support/ipvsadm-shim.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';
import { prng } from '../support/prng.js';

const VIP = '192.0.2.20:80';
const OTHER = '192.0.2.99:80';
const HEALTHY = 45;
const REFUSED = 5;
const SEEDS = Array.from({ length: Number(process.env.LVSD_KILL_SEEDS ?? 3) }, (_, i) => i + 1);

interface Status {
  ipvs: { last_reconcile: null | { converged: boolean } };
  services: { name: string; realservers: { id: string; wanted_weight: number | null | 'keep' }[] }[];
}

/** one change line: op, service address, destination address */
function change(words: readonly string[]): { op: string; service: string; dest: string | undefined } {
  const at = (flag: string): string | undefined => {
    const i = words.indexOf(flag);
    return i >= 0 ? words[i + 1] : undefined;
  };
  return { op: words[0]!, service: at('-t') ?? at('-u') ?? at('-f') ?? '?', dest: at('-r') };
}

/** every change line a set of calls made, with whether it took effect */
function changes(calls: readonly ShimCall[]): { op: string; service: string; dest: string | undefined; ok: boolean; line: string }[] {
  const out: { op: string; service: string; dest: string | undefined; ok: boolean; line: string }[] = [];
  for (const c of calls) {
    if (c.args[0] === '-R') {
      for (const l of c.lines) out.push({ ...change(l.line.trim().split(/\s+/)), ok: l.ok, line: l.line });
    } else if (['-A', '-E', '-D', '-a', '-e', '-d', '-C'].includes(c.args[0] ?? '')) {
      out.push({ ...change(c.args), ok: c.end?.code === 0, line: c.args.join(' ') });
    }
  }
  return out;
}

describe('kill -9 during a reconcile, then restart (the ipvsadm shim)', () => {
  const listeners: net.Server[] = [];
  const ports: number[] = [];
  const expected = new Map<string, string>();
  let rules: string[] = [];
  const dirs: string[] = [];
  const shims: IpvsadmShim[] = [];

  beforeAll(async () => {
    for (let i = 0; i < HEALTHY; i++) {
      const server = net.createServer((s) => s.destroy());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      listeners.push(server);
      ports.push((server.address() as net.AddressInfo).port);
    }
    for (let i = 0; i < REFUSED; i++) ports.push(await freePort());
    ports.forEach((p, i) => expected.set(`127.0.0.1:${p}`, `masq ${i < HEALTHY ? (i % 4) + 1 : 0}`));
    // what an earlier lvsd left: the service, 10 realservers at the right weight, 2 at a wrong one,
    // one DOWN realserver already quiesced; and a service lvsd does not manage
    rules = [
      `-A -t ${OTHER} -s rr`, `-a -t ${OTHER} -r 198.51.100.1:80 -g -w 2`,
      `-A -t ${VIP} -s wlc`,
      ...ports.slice(0, 10).map((p, i) => `-a -t ${VIP} -r 127.0.0.1:${p} -m -w ${(i % 4) + 1}`),
      ...ports.slice(10, 12).map((p) => `-a -t ${VIP} -r 127.0.0.1:${p} -m -w 9`),
      `-a -t ${VIP} -r 127.0.0.1:${ports[HEALTHY]!} -m -w 0`,
    ];
  });

  afterAll(async () => {
    await killLvsds();
    for (const s of shims) s.close();
    await Promise.all(listeners.map((s) => new Promise((r) => s.close(r))));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  for (const seed of SEEDS) {
    it(`seed ${seed}: the restarted daemon converges without duplicates or churn`, async () => {
      const rnd = prng(seed);
      const orphan = seed % 3 === 0;
      const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-restart-'));
      dirs.push(dir);
      const cfg = path.join(dir, 'lvsd.yaml');
      writeFileSync(cfg, `
node: { name: restart-${seed} }
api: { listen: "127.0.0.1:0", socket: false }
ipvs: { driver: ipvsadm, command_timeout: 10s, resync_interval: 60s }
state_dir: ${dir}
defaults: { interval: 500ms, timeout: 500ms, rise: 1, fall: 2 }
services:
  - name: web
    address: ${VIP}
    check: { type: tcp }
    realservers:
${ports.map((p, i) => `      - { address: "127.0.0.1:${p}", weight: ${(i % 4) + 1} }`).join('\n')}
`);
      const shim = IpvsadmShim.create(rules);
      shims.push(shim);
      const slowMs = Math.round(50 + rnd() * 150);
      const lineMs = Math.round(20 + rnd() * 30);
      shim.setFaults({ slowMs, lineMs });
      // the calls: the start-up read (2), the first pass's read (2), the -R of the realservers
      // coming UP (~40 lines), its verify read (2): killed after the 3rd to 6th call started, and
      // up to the -R's length later
      const killAfterCalls = 3 + Math.floor(rnd() * 4);
      const extraMs = Math.round(rnd() * 40 * lineMs);
      const env = { ...process.env, PATH: shim.path };

      // the first daemon, killed during its reconcile
      const a = spawnLvsdWith(['run', '-c', cfg], env);
      const complete = (): boolean => {
        const have = shim.destinations('tcp', VIP);
        return have !== undefined && have.size === expected.size && [...expected].every(([k, v]) => have.get(k) === v);
      };
      // (a daemon that needed fewer calls is killed once it is done: the trivial case)
      await waitFor(() => shim.calls().length >= killAfterCalls || complete(), 30_000, `${killAfterCalls} ipvsadm calls`, 10);
      await new Promise((r) => setTimeout(r, extraMs));
      process.kill(a.pid, 'SIGKILL');
      expect(await a.exited()).toEqual({ code: null, signal: 'SIGKILL' });
      const atKill = shim.inFlight();
      const partial = atKill.find((c) => c.args[0] === '-R');
      const what = atKill.length === 0 ? 'between calls'
        : atKill.map((c) => (c.args[0] === '-R' ? `-R at line ${c.lines.length}/${c.input?.length}` : c.args.join(' '))).join(', ');
      const orphans = orphan ? atKill.map((c) => c.pid) : [];
      if (!orphan) shim.killInFlight();
      const snapshot = new Map(shim.destinations('tcp', VIP));
      const aCalls = shim.calls().length;

      // the second daemon, same config and state_dir
      const tB = Date.now();
      const b: LvsdProcess = spawnLvsdWith(['run', '-c', cfg], env);
      const line = await b.waitForLog((e) => e.msg === 'api listening', 30_000, 'api listening');
      const upMs = Date.now() - tB;
      const port = (line.listen as { port: number }).port;
      const status = async (): Promise<Status> => (await fetch(`http://127.0.0.1:${port}/status`)).json() as Promise<Status>;
      await waitFor(async () => {
        if (!complete()) return false;
        const s = await status();
        return s.ipvs.last_reconcile?.converged === true && s.services[0]!.realservers.every((r) => r.wanted_weight !== 'keep');
      }, 45_000, 'the restarted daemon to converge', 100);
      const bCalls = shim.calls().filter((c) => c.at >= tB && !orphans.includes(c.pid));
      const bChanges = changes(bCalls);
      console.log(`seed ${seed}: slow ${slowMs} ms/call, ${lineMs} ms/line; killed after ${aCalls} calls (${killAfterCalls}+${extraMs} ms) ${what}; `
        + `table then ${snapshot.size} of ${expected.size}; ${orphan ? `${orphans.length} ipvsadm left running; ` : ''}`
        + `restart: ${bChanges.length} changes in ${bCalls.length} calls, converged ${((Date.now() - tB) / 1000).toFixed(1)} s after the restart (api up after ${(upMs / 1000).toFixed(1)} s)`);
      if (partial && !orphan) expect(partial.lines.length).toBeLessThanOrEqual(partial.input!.length);

      // exactly the wanted table, once each; the other service untouched
      expect([...shim.destinations('tcp', VIP)!].sort()).toEqual([...expected].sort());
      const services = shim.services();
      expect(services.map((s) => `${s.proto} ${s.addr}`).sort()).toEqual([`tcp ${OTHER}`, `tcp ${VIP}`].sort());
      for (const s of services) expect(new Set(s.dests.map((d) => d.addr)).size).toBe(s.dests.length);
      expect([...shim.destinations('tcp', OTHER)!]).toEqual([['198.51.100.1:80', 'route 2']]);
      expect(bChanges.filter((c) => c.service === OTHER)).toEqual([]);
      // nothing to delete: a restart never removes a wanted realserver or the service
      expect(bChanges.filter((c) => ['-d', '-D', '-E', '-C'].includes(c.op))).toEqual([]);
      if (!orphan) {
        // no churn: what the table held at the restart is not added again, and left alone when right
        expect(bChanges.filter((c) => !c.ok)).toEqual([]);
        // a realserver whose probe failed on this busy machine (UP → DOWN → UP) is edited for that: allowed
        const flapped = new Set(b.logs().filter((e) => e.msg === 'realserver transition' && e.from !== 'unknown').map((e) => e.realserver as string));
        if (flapped.size > 0) console.log(`seed ${seed}: ${flapped.size} realserver(s) flapped after the restart: ${[...flapped].join(', ')}`);
        for (const [dest, want] of expected) {
          const mine = bChanges.filter((c) => c.dest === dest);
          const had = snapshot.get(dest);
          if (flapped.has(dest)) expect(mine.filter((c) => c.op !== '-e').map((c) => c.op), dest).toEqual(had === undefined ? ['-a'] : []);
          else if (had === undefined) expect(mine.map((c) => c.op), dest).toEqual(['-a']);
          else if (had === want) expect(mine, dest).toEqual([]);
          else expect(mine.map((c) => c.op), dest).toEqual(['-e']);
        }
      }
      b.child.kill('SIGTERM');
      expect(await b.exited()).toEqual({ code: 0, signal: null });
    }, 90_000);
  }
});
