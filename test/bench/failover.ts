/**
 * Failover time in network namespaces: the master's VRRP process is SIGKILLed; the time until
 * the VIP appears on the backup (seen by `ip monitor address` in the backup's namespace, as it
 * happens; lvsd sends its gratuitous ARP right after). lvsd->lvsd and keepalived->keepalived with
 * the same priorities (150 / 100) and intervals, side by side in one run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lan, waitFor, type Host } from '../support/netns.js';

const VIP = '198.51.100.100';

export interface FailoverSample {
  impl: 'lvsd' | 'keepalived'; intervalMs: number; version: 2 | 3; expectedMs: number;
  /** master killed -> VIP on the backup */
  samplesMs: number[]; medianMs: number;
  /** the master's last advert -> VIP on the backup: the backup's own reaction, free of the kill's phase */
  silenceMs: number[]; silenceMedianMs: number;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

interface Router { stop(): Promise<void>; kill(): Promise<void> }

export async function failoverBench(
  root: string, trials = 7, intervals: readonly number[] = [1000, 100], impls: readonly ('keepalived' | 'lvsd')[] = ['keepalived', 'lvsd'],
): Promise<FailoverSample[]> {
  const lan = new Lan('fb');
  const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-failover-'));
  const out: FailoverSample[] = [];
  const log: string[] = [];
  try {
    await lan.up();
    const a = await lan.host('a', '198.51.100.2');
    const b = await lan.host('b', '198.51.100.3');
    const holds = async (h: Host): Promise<boolean> => (await lan.addresses(h)).includes(VIP);
    // every VRRP packet b receives, with its time: the killed master's last advert
    const adverts: { at: number; source: string }[] = [];
    const watcher = lan.spawn(b, [process.execPath, path.join(root, 'dist/test/bench/vrrp-watch.js')], {
      onOutput: (l) => {
        const [ns, source] = l.split(' ');
        if (source) adverts.push({ at: Number(ns) / 1e6, source });
      },
    });
    await new Promise<void>((resolve, reject) => {
      watcher.stdout!.once('data', () => resolve());
      watcher.once('exit', (c) => reject(new Error(`vrrp-watch exited (${c})`)));
    });

    const lvsd = (h: Host, name: string, priority: number, intervalMs: number): Router => {
      const file = path.join(dir, `${name}.yaml`);
      writeFileSync(file, `node: { name: ${name} }\napi: { listen: false, socket: false }\nipvs: { driver: memory }\nstate_dir: ${dir}
failover: { interface: eth0, virtual_router_id: 51, priority: ${priority}, version: 3, advert_interval: ${intervalMs}ms, virtual_addresses: [${VIP}/24] }
services: []\n`);
      const p = lan.spawn(h, [process.execPath, path.join(root, 'dist/src/cli/main.js'), 'run', '-c', file]);
      return { stop: () => lan.kill(p, 'SIGTERM'), kill: () => lan.kill(p, 'SIGKILL') };
    };
    const keepalived = (h: Host, name: string, priority: number, intervalMs: number): Router => {
      const conf = path.join(dir, `${name}.conf`);
      writeFileSync(conf, `global_defs {\n  router_id ${name}\n  script_user root\n}\nvrrp_instance VI_1 {\n  state BACKUP\n  interface eth0
  virtual_router_id 51\n  priority ${priority}\n  advert_int ${intervalMs / 1000}\n  version 3\n  virtual_ipaddress {\n    ${VIP}/24 dev eth0\n  }\n}\n`);
      const vrrpPid = path.join(dir, `${name}-vrrp.pid`);
      // a SIGKILLed keepalived leaves its pid files: it would refuse to start ("daemon is already running")
      rmSync(vrrpPid, { force: true });
      rmSync(path.join(dir, `${name}.pid`), { force: true });
      const p = lan.spawn(h, ['keepalived', '-n', '-l', '-D', '-G', '-P', '-f', conf, '-p', path.join(dir, `${name}.pid`), '-r', vrrpPid],
        { onOutput: (l) => log.push(`${name}: ${l}`) });
      const child = (): number | undefined => { try { return Number(readFileSync(vrrpPid, 'utf8')); } catch { return undefined; } };
      return {
        stop: async () => { const c = child(); await lan.kill(p, 'SIGTERM'); if (c) try { process.kill(c, 'SIGKILL'); } catch { /* gone */ } },
        // the VRRP process dies; the parent would restart it, so it goes too, right after
        kill: async () => {
          const c = child();
          if (c) process.kill(c, 'SIGKILL');
          await lan.kill(p, 'SIGKILL');
          if (c) await waitFor(async () => !existsSync(`/proc/${c}`), 5000, 'keepalived VRRP process gone', 20);
        },
      };
    };

    for (const intervalMs of intervals) {
      for (const impl of impls) {
        const make = impl === 'lvsd' ? lvsd : keepalived;
        const samples: number[] = [];
        const silence: number[] = [];
        for (let t = 0; t < trials; t++) {
          const ra = make(a, 'a', 150, intervalMs);
          const rb = make(b, 'b', 100, intervalMs);
          try {
            await waitFor(async () => (await holds(a)) && !(await holds(b)), 20_000, `${impl} a MASTER`).catch((e: unknown) => {
              throw new Error(`${String(e)}\n${log.slice(-60).join('\n')}`);
            });
            await new Promise((r) => setTimeout(r, 1500 + 4 * intervalMs));
            const monitor = lan.spawn(b, ['ip', 'monitor', 'address', 'dev', 'eth0']);
            const seen = new Promise<number>((resolve) => {
              monitor.stdout!.on('data', (d: Buffer) => { if (d.toString().includes(VIP)) resolve(nowMs()); });
            });
            await new Promise((r) => setTimeout(r, 200)); // the monitor is listening
            const t0 = nowMs();
            await ra.kill();
            const t1 = await Promise.race([seen, new Promise<number>((_, rej) => setTimeout(() => rej(new Error(`${impl}: no takeover in 15 s`)), 15_000))]);
            samples.push(t1 - t0);
            const last = adverts.filter((x) => x.source === a.address && x.at <= t1).at(-1);
            if (watcher.exitCode !== null) throw new Error(`vrrp-watch exited (${watcher.exitCode})`);
            if (!last) throw new Error(`${impl}: no advert from ${a.address} seen`);
            if (process.env.LVSD_BENCH_DEBUG) process.stderr.write(`${impl} ${intervalMs}: ${adverts.length} adverts seen, watcher exit ${watcher.exitCode}, last from a ${t1 - last.at} ms before the VIP\n`);
            silence.push(t1 - last.at);
            await lan.kill(monitor);
          } finally {
            await ra.stop();
            await rb.stop();
            const del = spawn('ip', ['-n', a.ns, 'addr', 'del', `${VIP}/24`, 'dev', 'eth0'], { stdio: 'ignore' });
            await new Promise((r) => del.once('exit', r));
            const del2 = spawn('ip', ['-n', b.ns, 'addr', 'del', `${VIP}/24`, 'dev', 'eth0'], { stdio: 'ignore' });
            await new Promise((r) => del2.once('exit', r));
          }
        }
        out.push({
          impl, intervalMs, version: 3, expectedMs: 3 * intervalMs + ((256 - 100) * intervalMs) / 256,
          samplesMs: samples, medianMs: median(samples), silenceMs: silence, silenceMedianMs: median(silence),
        });
      }
    }
  } finally {
    await lan.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
