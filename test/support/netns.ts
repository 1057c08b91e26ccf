/**
 * Network namespaces for integration tests: a bridge in its own namespace and hosts attached to
 * it by veth pairs, TEST-NET-2 addresses only. Every namespace and process made here is removed
 * by name / PID in destroy(), also after a failure. Needs root.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

// lives in wait.ts; re-exported for the tests that import it together with Lan
export { waitFor } from './wait.js';

export async function ip(...args: string[]): Promise<string> {
  return (await run('ip', args)).stdout;
}

export interface Host {
  readonly ns: string;
  readonly address: string;
}

export class Lan {
  readonly sw: string;
  private readonly namespaces: string[] = [];
  private readonly procs = new Set<ChildProcess>();
  private readonly prefix: string;

  /** `tag`: a short name unique to the test file (namespace names carry it and the PID) */
  constructor(tag: string) {
    this.prefix = `lv${process.pid % 100000}${tag}`;
    this.sw = `${this.prefix}sw`;
  }

  async up(): Promise<void> {
    await ip('netns', 'add', this.sw);
    this.namespaces.push(this.sw);
    // no IGMP snooping: nothing on this bridge answers queries, and VRRP multicast must flood
    await ip('-n', this.sw, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
    await ip('-n', this.sw, 'link', 'set', 'br0', 'up');
    await ip('-n', this.sw, 'link', 'set', 'lo', 'up');
  }

  /** a namespace on the bridge with eth0 = address/24 */
  async host(name: string, address: string): Promise<Host> {
    const ns = `${this.prefix}${name}`;
    await ip('netns', 'add', ns);
    this.namespaces.push(ns);
    const port = `${name}p`;
    await ip('-n', this.sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip('-n', this.sw, 'link', 'set', port, 'master', 'br0', 'up');
    await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    return { ns, address };
  }

  /** the host's port on the bridge up or down (a cable pulled) */
  async link(host: Host, up: boolean): Promise<void> {
    const name = host.ns.slice(this.prefix.length);
    await ip('-n', this.sw, 'link', 'set', `${name}p`, up ? 'up' : 'down');
  }

  /** bridge port isolation: isolated ports cannot reach each other, only the others (a partition) */
  async isolate(host: Host, on: boolean): Promise<void> {
    const name = host.ns.slice(this.prefix.length);
    await run('bridge', ['-n', this.sw, 'link', 'set', 'dev', `${name}p`, 'isolated', on ? 'on' : 'off']);
  }

  async addresses(host: Host): Promise<string[]> {
    const out = await ip('-n', host.ns, '-4', '-o', 'addr', 'show', 'dev', 'eth0');
    return [...out.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!);
  }

  async mac(host: Host): Promise<string> {
    return (await ip('-n', host.ns, '-o', 'link', 'show', 'dev', 'eth0')).match(/link\/ether ([0-9a-f:]+)/)?.[1] ?? '';
  }

  /** the MAC the host has in its ARP cache for an address ('' if none) */
  async neighbour(host: Host, address: string): Promise<string> {
    const out = await ip('-n', host.ns, 'neigh', 'show', address, 'dev', 'eth0');
    return out.match(/lladdr ([0-9a-f:]+)/)?.[1] ?? '';
  }

  /** start argv inside the namespace (ip netns exec execs it: the PID is the program's) */
  spawn(host: Host, argv: readonly string[], opts: { cwd?: string; onOutput?: (line: string) => void } = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', host.ns, ...argv], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.add(child);
    child.once('exit', () => this.procs.delete(child));
    // whole lines only: a chunk may end in the middle of one
    const lines = (): ((b: Buffer) => void) => {
      let rest = '';
      return (b) => {
        const parts = (rest + b.toString()).split('\n');
        rest = parts.pop() ?? '';
        for (const l of parts) if (l) opts.onOutput?.(l);
      };
    };
    child.stdout!.on('data', lines());
    child.stderr!.on('data', lines());
    return child;
  }

  async kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await gone;
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.procs].map((c) => this.kill(c)));
    for (const ns of this.namespaces.reverse()) await ip('netns', 'del', ns).catch(() => {});
    this.namespaces.length = 0;
  }
}
