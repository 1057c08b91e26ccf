/**
 * The network inside the VM, for the IPVS tests and the VM benchmark. Runs in the guest (as
 * PID 1's child, root, fresh kernel): TEST-NET addresses only, in namespaces it makes itself.
 *
 *   client netns  eth0 203.0.113.10/24 ── c-veth 203.0.113.1      director = the guest's root netns
 *                                                                    VIPs 192.0.2.x/32 on lo
 *   rs1..rsN netns eth0 198.51.100.1N/24 ── br-rs 198.51.100.1       (ip_forward=1)
 *   lan netns     eth0 198.51.100.50/24 ── br-rs                     (a DR client on the realservers' segment)
 *
 * Each realserver runs busybox httpd on :8080 (NAT) and :80 (DR) serving "rsN " at /, "ok" at
 * /healthz (deleted to fail the check).
 * Every process is started here and killed here by PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseTable } from '../../../src/ipvs/ipvsadm-parse.js';
import type { IpvsTable } from '../../../src/ipvs/types.js';

const run = promisify(execFile);

export const LAB_DIR = '/tmp/lvsd-lab';
export const rsAddress = (i: number): string => `198.51.100.${10 + i}`;

/** run a bash script (set -e); resolves with stdout */
export async function sh(script: string): Promise<string> {
  const { stdout } = await run('bash', ['-c', `set -euo pipefail\n${script}`], { maxBuffer: 64 << 20 });
  return stdout;
}

export async function ipvsTable(): Promise<IpvsTable> {
  const [rules, th] = await Promise.all([run('ipvsadm', ['-S', '-n']), run('ipvsadm', ['-Ln', '--exact', '--thresholds'])]);
  return parseTable(rules.stdout, th.stdout);
}

/** "192.0.2.100:80" → { "198.51.100.11:8080": weight, ... } (undefined: no such service) */
export async function weightsOf(vip: string, table?: IpvsTable): Promise<Record<string, number> | undefined> {
  const t = table ?? await ipvsTable();
  const key = vip.startsWith('fwmark') ? vip : `tcp ${vip}`;
  const entry = t.services.get(key);
  if (!entry) return undefined;
  return Object.fromEntries([...entry.destinations.entries()].map(([k, d]) => [k, d.weight]));
}

export async function ipvsSave(): Promise<string> {
  return (await run('ipvsadm', ['-S', '-n'])).stdout;
}

export class Lab {
  private readonly procs = new Map<string, ChildProcess>();
  readonly realservers: number;

  constructor(realservers: number) {
    this.realservers = realservers;
  }

  async up(): Promise<void> {
    rmSync(LAB_DIR, { recursive: true, force: true });
    mkdirSync(LAB_DIR, { recursive: true });
    let script = `
ip netns add client
ip link add c-veth type veth peer name eth0 netns client
ip addr add 203.0.113.1/24 dev c-veth; ip link set c-veth up
ip -n client addr add 203.0.113.10/24 dev eth0
ip -n client link set lo up; ip -n client link set eth0 up
ip -n client route add default via 203.0.113.1
ip link add br-rs type bridge; ip addr add 198.51.100.1/24 dev br-rs; ip link set br-rs up
ip netns add lan
ip link add lan-veth type veth peer name eth0 netns lan
ip link set lan-veth master br-rs up
ip -n lan addr add 198.51.100.50/24 dev eth0
ip -n lan link set lo up; ip -n lan link set eth0 up
ip -n lan route add 192.0.2.0/24 via 198.51.100.1
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.ipv4.vs.expire_nodest_conn=1
`;
    for (let i = 1; i <= this.realservers; i++) {
      const dir = path.join(LAB_DIR, `rs${i}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'index.html'), `rs${i} `);
      writeFileSync(path.join(dir, 'healthz'), 'ok\n');
      script += `
ip netns add rs${i}
ip link add rs${i}-veth type veth peer name eth0 netns rs${i}
ip link set rs${i}-veth master br-rs up
ip -n rs${i} addr add ${rsAddress(i)}/24 dev eth0
ip -n rs${i} link set lo up; ip -n rs${i} link set eth0 up
ip -n rs${i} route add default via 198.51.100.1
`;
    }
    await sh(script);
    for (let i = 1; i <= this.realservers; i++) {
      this.startHttpd(i, 8080);
      this.startHttpd(i, 80);
    }
    await this.waitFor(async () => {
      const out = await sh(`for i in $(seq ${this.realservers}); do curl -s -o /dev/null -w '%{http_code} ' --max-time 2 http://198.51.100.1$i:8080/healthz || true; done`);
      return out.trim().split(' ').every((c) => c === '200');
    }, 15_000, 'realservers serving');
  }

  startHttpd(i: number, port: number): void {
    const name = `httpd rs${i}:${port}`;
    const child = spawn('ip', ['netns', 'exec', `rs${i}`, 'busybox', 'httpd', '-f', '-p', String(port), '-h', path.join(LAB_DIR, `rs${i}`)], {
      stdio: 'ignore',
    });
    this.procs.set(name, child);
  }

  /** start argv in a namespace, tracked and killed by PID on down(); output to a log file if given */
  spawnIn(ns: string, argv: readonly string[], logFile?: string): ChildProcess {
    const out = logFile ? openSync(logFile, 'a') : 'ignore';
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', out, out] });
    this.procs.set(`${ns} ${child.pid}`, child);
    return child;
  }

  /** stop a realserver's web server (the whole host "dies" for this port) */
  async stopHttpd(i: number, port: number): Promise<void> {
    const name = `httpd rs${i}:${port}`;
    const child = this.procs.get(name);
    this.procs.delete(name);
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
  }

  /** the check path answers 404 (the realserver still serves its site) */
  failHealth(i: number): void {
    unlinkSync(path.join(LAB_DIR, `rs${i}`, 'healthz'));
  }

  restoreHealth(i: number): void {
    writeFileSync(path.join(LAB_DIR, `rs${i}`, 'healthz'), 'ok\n');
  }

  /** n requests through a VIP from the client netns, each on its own connection: "rs1", ... or "fail" */
  async requests(url: string, n: number, netns = 'client'): Promise<string[]> {
    const urls = Array.from({ length: n }, () => url);
    let out: string;
    try {
      out = (await run('ip', ['netns', 'exec', netns, 'curl', '-s', '--max-time', '3', '-H', 'Connection: close', '-w', '%{http_code}\n', ...urls], {
        maxBuffer: 1 << 20,
      })).stdout;
    } catch (e) {
      out = (e as { stdout?: string }).stdout ?? '';
    }
    const lines = out.split('\n').filter((l) => l !== '');
    const answers = lines.map((l) => {
      const m = /^(rs\d+) 200$/.exec(l);
      return m ? m[1]! : 'fail';
    });
    while (answers.length < n) answers.push('fail');
    return answers;
  }

  /**
   * Open a connection through a VIP and send nothing: it stays ESTABLISHED (IPVS counts it
   * active) until stopped or the web server's 60 s header timeout. (A slow download does not do:
   * the server sends FIN once the file sits in the socket buffers, and IPVS counts FIN_WAIT as
   * inactive.) Returns a stopper.
   */
  holdConnection(vip: string, port: number): { stop: () => Promise<void> } {
    const child = spawn('ip', ['netns', 'exec', 'client', 'busybox', 'nc', vip, String(port)], { stdio: ['pipe', 'ignore', 'ignore'] });
    this.procs.set(`hold ${child.pid}`, child);
    return {
      stop: async () => {
        this.procs.delete(`hold ${child.pid}`);
        if (child.exitCode !== null) return;
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await gone;
      },
    };
  }

  async waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string, everyMs = 200): Promise<number> {
    const t0 = performance.now();
    for (;;) {
      if (await cond()) return performance.now() - t0;
      if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  /** kill everything this lab started, by PID */
  async down(): Promise<void> {
    const all = [...this.procs.values()];
    this.procs.clear();
    await Promise.all(all.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    }));
  }
}

export interface LvsdProcess {
  readonly pid: number;
  readonly api: string;
  status(): Promise<LvsdStatus>;
  metrics(): Promise<string>;
  /** SIGTERM and wait */
  stop(): Promise<number | null>;
  /** SIGKILL and wait: the crash case */
  kill(): Promise<void>;
}

export interface LvsdStatus {
  services: { name: string; leaving: { address: string; active_conns: number }[]; realservers: { id: string; state: string; weight: number | null }[] }[];
}

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;

/** start `lvsd run` on a config; resolves when its API answers */
export async function startLvsd(name: string, configYaml: string, port: number): Promise<LvsdProcess> {
  const file = path.join(LAB_DIR, `${name}.yaml`);
  writeFileSync(file, configYaml);
  const log = openSync(path.join(LAB_DIR, `${name}.log`), 'a');
  const child = spawn(process.execPath, [MAIN, 'run', '-c', file, '--log-level', 'debug'], { stdio: ['ignore', log, log] });
  const api = `http://127.0.0.1:${port}`;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const t0 = performance.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`lvsd exited ${child.exitCode} at start (see ${name}.log)`);
    try {
      if ((await fetch(`${api}/healthz`)).ok) break;
    } catch {
      // not yet
    }
    if (performance.now() - t0 > 30_000) throw new Error('lvsd did not start within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid!,
    api,
    status: async () => (await (await fetch(`${api}/status`)).json()) as LvsdStatus,
    metrics: async () => (await fetch(`${api}/metrics`)).text(),
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
