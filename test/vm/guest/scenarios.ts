/**
 * The IPVS scenarios, run inside the VM by one node process (node starts slowly under TCG):
 * each records what it observed; test/vm/ipvs.test.ts on the host asserts on the records.
 *
 *   node dist/test/vm/guest/scenarios.js OUT.json
 */
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { SCHEDULERS } from '../../../src/config/types.js';
import { Lab, ipvsSave, ipvsTable, rsAddress, sh, startLvsd, weightsOf, type LvsdProcess } from './lab.js';

const out = process.argv[2] ?? '/dev/stdout';
const results: Record<string, { ok: boolean; data?: unknown; error?: string; ms: number }> = {};
const API_PORT = 9410;
/** the control API's bearer token (writes over TCP) */
const TOKEN = 'vm-lab-token-0123456789abcdef';
const TOKEN_FILE = '/tmp/lvsd-lab/api-token';

/** the schedulers this kernel offers (Debian's 6.1 has no twos, added in 6.2) */
const OFFERED = new Set(
  readdirSync(`/lib/modules/${release()}/kernel/net/netfilter/ipvs`).map((f) => /^ip_vs_(\w+)\.ko/.exec(f)?.[1]).filter((x) => x !== undefined),
);
const SCHEDULERS_HERE = SCHEDULERS.filter((s) => OFFERED.has(s));

function config(opts: { drainService?: string[]; cleanup?: boolean } = {}): string {
  const drain = opts.drainService ?? [rsAddress(1), rsAddress(2)];
  return `node: { name: vm }
api: { listen: 127.0.0.1:${API_PORT}, socket: false, token_file: ${TOKEN_FILE} }
ipvs: { driver: ipvsadm, resync_interval: 3s, drain_before_remove: 60s, cleanup_on_exit: ${opts.cleanup ?? false} }
state_dir: /tmp/lvsd-lab/state
defaults: { interval: 500ms, timeout: 400ms, rise: 2, fall: 2 }
services:
  - name: web
    address: 192.0.2.100:80
    scheduler: wrr
    check: { type: http, path: /healthz }
    realservers:
      - { address: "${rsAddress(1)}:8080", weight: 3 }
      - { address: "${rsAddress(2)}:8080", weight: 2, on_down: remove }
      - { address: "${rsAddress(3)}:8080", weight: 1, upper_threshold: 1000, lower_threshold: 500 }
  - name: sticky
    address: 192.0.2.101:80
    scheduler: rr
    persistence: 60s
    persistence_netmask: 255.255.255.0
    check: { type: http, path: /healthz }
    realservers: [{ address: "${rsAddress(1)}:8080" }, { address: "${rsAddress(3)}:8080" }, { address: "${rsAddress(4)}:8080" }]
  - name: marked
    protocol: fwmark
    fwmark: 7
    scheduler: rr
    check: { type: http, path: /healthz }
    realservers: [{ address: "${rsAddress(1)}:8080" }, { address: "${rsAddress(3)}:8080" }, { address: "${rsAddress(4)}:8080" }]
  - name: dr
    address: 192.0.2.103:80
    forward: route
    scheduler: rr
    check: { type: http, path: /healthz }
    realservers: [{ address: "${rsAddress(1)}" }, { address: "${rsAddress(4)}" }]
  - name: drain
    address: 192.0.2.104:80
    scheduler: rr
    check: { type: tcp }
    realservers: [${drain.map((a) => `{ address: "${a}:8080" }`).join(', ')}]
  - name: sorry
    address: 192.0.2.105:80
    sorry_server: "${rsAddress(4)}:8080"
    check: { type: http, path: /healthz }
    realservers: [{ address: "${rsAddress(3)}:8080" }]
  - name: tun
    address: 192.0.2.106:80
    forward: tunnel
    check: { type: http, path: /healthz }
    realservers: [{ address: "${rsAddress(4)}" }, { address: "${rsAddress(1)}", forward: route }]
  - name: dns
    protocol: udp
    address: 192.0.2.107:53
    check: { type: tcp, port: 8080 }
    realservers: [{ address: "${rsAddress(1)}" }]
${SCHEDULERS_HERE.map((name) => `  - name: sched-${name}
    address: 192.0.2.${150 + SCHEDULERS.indexOf(name)}:80
    scheduler: ${name}
    check: { type: tcp }
    realservers: [{ address: "${rsAddress(1)}:8080" }]
`).join('')}`;
}

/** the kernel's view and the tail of every lvsd log, for a failed scenario's report */
async function diagnose(): Promise<string> {
  return sh('ipvsadm -Ln --exact --thresholds; ipvsadm -Lnc | head -20; for f in /tmp/lvsd-lab/*.log; do echo "== $f"; tail -n 25 "$f"; done').catch((e: unknown) => String(e));
}

async function scenario(name: string, fn: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  try {
    const data = await fn();
    results[name] = { ok: true, data, ms: Math.round(performance.now() - t0) };
  } catch (e) {
    const error = `${e instanceof Error ? e.stack ?? e.message : String(e)}\n--- at the failure:\n${await diagnose()}`;
    results[name] = { ok: false, error, ms: Math.round(performance.now() - t0) };
  }
  process.stderr.write(`scenario ${name}: ${results[name]!.ok ? 'done' : 'FAILED'} in ${results[name]!.ms} ms\n`);
}

const count = (answers: string[]): Record<string, number> => {
  const c: Record<string, number> = {};
  for (const a of answers) c[a] = (c[a] ?? 0) + 1;
  return c;
};

const WEB_ALL = { [`${rsAddress(1)}:8080`]: 3, [`${rsAddress(2)}:8080`]: 2, [`${rsAddress(3)}:8080`]: 1 };
const UNMANAGED = '-A -t 192.0.2.200:80 -s rr\n-a -t 192.0.2.200:80 -r 198.51.100.99:80 -m -w 7\n';

const lab = new Lab(4);
let lvsd: LvsdProcess | undefined;
try {
  await lab.up();
  writeFileSync(TOKEN_FILE, `${TOKEN}\n`, { mode: 0o600 });
  // the director's VIPs; fwmark 7 marks traffic to 192.0.2.102 at the client link (tc: no iptables needed);
  // DR realservers hold 192.0.2.103 on lo and must not answer ARP for it (the LVS "ARP problem")
  await sh(`
for v in 100 101 102 103 104 105; do ip addr add 192.0.2.$v/32 dev lo; done
tc qdisc add dev c-veth ingress
tc filter add dev c-veth ingress protocol ip u32 match ip dst 192.0.2.102/32 action skbedit mark 7
for i in 1 4; do
  ip netns exec rs$i sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
  ip netns exec rs$i sysctl -qw net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
  ip -n rs$i addr add 192.0.2.103/32 dev lo
done
printf -- '${UNMANAGED.replaceAll('\n', '\\n')}' | ipvsadm -R
`);

  await scenario('start', async () => {
    lvsd = await startLvsd('lvsd', config(), API_PORT);
    await lab.waitFor(async () => (await ipvsSave()).includes('-A -t 192.0.2.107:53') || (await ipvsSave()).includes('-A -u 192.0.2.107:53'), 30_000, 'every service created');
    const ms = await lab.waitFor(async () => JSON.stringify(await weightsOf('192.0.2.100:80')) === JSON.stringify(WEB_ALL), 30_000, 'web fully UP');
    await lab.waitFor(async () => (await lvsd!.status()).services.every((s) => s.realservers.every((r) => r.state === 'UP')), 30_000, 'all UP');
    const web = (await ipvsTable()).services.get('tcp 192.0.2.100:80')?.destinations.get(`${rsAddress(3)}:8080`);
    return {
      msToFullTable: Math.round(ms), table: await ipvsSave(), thresholds: [web?.upperThreshold, web?.lowerThreshold],
      schedulers: SCHEDULERS_HERE,
    };
  });

  await scenario('nat-weights', async () => count(await lab.requests('http://192.0.2.100/', 60)));

  await scenario('persistence', async () => ({
    sticky: count(await lab.requests('http://192.0.2.101/', 20)),
    // rr without persistence, for contrast: the same client spreads
    spread: count(await lab.requests('http://192.0.2.104/', 20)),
  }));

  await scenario('fwmark', async () => count(await lab.requests('http://192.0.2.102/', 12)));

  await scenario('dr', async () => {
    const answers = count(await lab.requests('http://192.0.2.103/', 10, 'lan'));
    const t = await ipvsTable();
    return { answers, forward: [...(t.services.get('tcp 192.0.2.103:80')?.destinations.values() ?? [])].map((d) => d.forward) };
  });

  await scenario('fail-and-sorry', async () => {
    // rs3 fails its check but still serves its site; rs2's web server dies (on_down: remove)
    const during = lab.requests('http://192.0.2.100/', 40);
    lab.failHealth(3);
    await lab.stopHttpd(2, 8080);
    const ms = await lab.waitFor(async () => {
      const w = await weightsOf('192.0.2.100:80');
      return JSON.stringify(w) === JSON.stringify({ [`${rsAddress(1)}:8080`]: 3, [`${rsAddress(3)}:8080`]: 0 });
    }, 20_000, 'rs3 quiesced and rs2 removed');
    await lab.waitFor(async () => JSON.stringify(await weightsOf('192.0.2.105:80')) === JSON.stringify({ [`${rsAddress(3)}:8080`]: 0, [`${rsAddress(4)}:8080`]: 1 }), 20_000, 'sorry server in');
    const duringAnswers = count(await during);
    const after = count(await lab.requests('http://192.0.2.100/', 30));
    const sorry = count(await lab.requests('http://192.0.2.105/', 10));
    return { msToKernel: Math.round(ms), during: duringAnswers, after, sorry, web: await weightsOf('192.0.2.100:80') };
  });

  await scenario('recovery', async () => {
    lab.restoreHealth(3);
    lab.startHttpd(2, 8080);
    const ms = await lab.waitFor(async () => JSON.stringify(await weightsOf('192.0.2.100:80')) === JSON.stringify(WEB_ALL), 20_000, 'web back');
    await lab.waitFor(async () => JSON.stringify(await weightsOf('192.0.2.105:80')) === JSON.stringify({ [`${rsAddress(3)}:8080`]: 1 }), 20_000, 'sorry server out');
    return { msToKernel: Math.round(ms), answers: count(await lab.requests('http://192.0.2.100/', 30)), sorryVip: count(await lab.requests('http://192.0.2.105/', 6)) };
  });

  await scenario('drift', async () => {
    const same = (a: Record<string, number> | undefined, b: Record<string, number>): boolean =>
      JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b).sort());
    const wanted = { [`${rsAddress(1)}:8080`]: 9, [`${rsAddress(3)}:8080`]: 1, '198.51.100.77:8080': 5 };
    let tampered: Record<string, number> | undefined;
    // lvsd's resync (every 3 s) can run between the three commands (each a process start in the
    // emulated VM) and undo part of them before the read: then let it finish the repair, and again
    for (let attempt = 0; attempt < 4 && !same(tampered, wanted); attempt++) {
      if (attempt > 0) await lab.waitFor(async () => same(await weightsOf('192.0.2.100:80'), WEB_ALL), 15_000, 'repaired before tampering again', 250);
      await sh(`
ipvsadm -e -t 192.0.2.100:80 -r ${rsAddress(1)}:8080 -m -w 9
ipvsadm -d -t 192.0.2.100:80 -r ${rsAddress(2)}:8080
ipvsadm -a -t 192.0.2.100:80 -r 198.51.100.77:8080 -m -w 5
`);
      tampered = await weightsOf('192.0.2.100:80');
    }
    const ms = await lab.waitFor(async () => JSON.stringify(await weightsOf('192.0.2.100:80')) === JSON.stringify(WEB_ALL), 15_000, 'drift repaired', 250);
    return { tampered, repairedInMs: Math.round(ms), resyncIntervalMs: 3000 };
  });

  await scenario('metrics', async () => {
    await new Promise((r) => setTimeout(r, 2500)); // the kernel's estimator refreshes rates every 2 s
    const text = await lvsd!.metrics();
    return {
      lines: text.split('\n').filter((l) => l.startsWith('lvsd_ipvs_') && /service="web"|lvsd_ipvs_stats_up/.test(l)),
      // the host's promtool, through the shared filesystem: the lint on series from a real kernel
      promtool: await promtoolCheck(text),
    };
  });

  await scenario('crash-and-adopt', async () => {
    const before = await ipvsSave();
    await lvsd!.kill();
    lvsd = undefined;
    const afterKill = await ipvsSave();
    const seen = new Set<string>();
    const watching = (async () => {
      const t0 = performance.now();
      while (performance.now() - t0 < 8000) {
        seen.add(await ipvsSave());
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    lvsd = await startLvsd('lvsd-restarted', config(), API_PORT);
    await lab.waitFor(async () => (await lvsd!.status()).services.every((s) => s.realservers.every((r) => r.state === 'UP')), 30_000, 'all UP again');
    await watching;
    const changes = (await lvsd.metrics()).split('\n').filter((l) => l.startsWith('lvsd_ipvs_changes_total'));
    return { sameAfterKill: afterKill === before, tablesSeen: [...seen], before, changes };
  });

  await scenario('leaving-drains', async () => {
    const hold = lab.holdConnection('192.0.2.104', 80);
    let busy: string | undefined;
    await lab.waitFor(async () => {
      const d = [...((await ipvsTable()).services.get('tcp 192.0.2.104:80')?.destinations.values() ?? [])].find((x) => x.activeConns > 0);
      busy = d && `${d.endpoint.host}`;
      return busy !== undefined;
    }, 20_000, 'an active connection');
    const stopCode = await lvsd!.stop();
    lvsd = undefined;
    const afterStop = await ipvsSave();
    const keep = [rsAddress(1), rsAddress(2)].filter((a) => a !== busy);
    lvsd = await startLvsd('lvsd-shrunk', config({ drainService: keep }), API_PORT);
    await lab.waitFor(async () => (await weightsOf('192.0.2.104:80'))?.[`${busy}:8080`] === 0, 15_000, 'the leaving realserver quiesced');
    await new Promise((r) => setTimeout(r, 3000));
    const whileActive = await weightsOf('192.0.2.104:80');
    const status = (await lvsd.status()).services.find((s) => s.name === 'drain')?.leaving;
    await hold.stop();
    const ms = await lab.waitFor(async () => (await weightsOf('192.0.2.104:80'))?.[`${busy}:8080`] === undefined, 15_000, 'the leaving realserver removed');
    return { busy: `${busy}:8080`, stopCode, afterStop, whileActive, status, removedMsAfterClose: Math.round(ms), final: await weightsOf('192.0.2.104:80') };
  });

  await scenario('drain-wait', async () => {
    // a held connection through web: lvsd drain --wait must wait for it, and time out while it lasts
    const hold = lab.holdConnection('192.0.2.100', 80);
    let busy = '';
    await lab.waitFor(async () => {
      const d = [...((await ipvsTable()).services.get('tcp 192.0.2.100:80')?.destinations.values() ?? [])].find((x) => x.activeConns > 0);
      busy = d ? `${d.endpoint.host}:${d.endpoint.port}` : '';
      return busy !== '';
    }, 20_000, 'an active connection through web');
    const post = async (action: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
      const r = await fetch(`${lvsd!.api}/api/v1/services/web/realservers/${encodeURIComponent(busy)}/${action}`, {
        method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    const t0 = performance.now();
    const timedOut = await post('drain', { wait: true, timeout: '3s' });
    const timedOutMs = performance.now() - t0;
    const weightWhileDraining = (await weightsOf('192.0.2.100:80'))?.[busy];
    const t1 = performance.now();
    const waiting = post('drain', { wait: true, timeout: '60s' });
    await new Promise((r) => setTimeout(r, 3000));
    await hold.stop();
    const drained = await waiting;
    const drainedMs = performance.now() - t1;
    const ready = await post('ready', {});
    const unauthorized = (await fetch(`${lvsd!.api}/api/v1/services/web/realservers/${encodeURIComponent(busy)}/ready`, { method: 'POST' })).status;
    return {
      busy, timedOut: { status: timedOut.status, active: timedOut.body.active_conns, ms: Math.round(timedOutMs) }, weightWhileDraining,
      drained: { status: drained.status, active: drained.body.active_conns, ms: Math.round(drainedMs) },
      readyStatus: ready.status, weightAfter: (await weightsOf('192.0.2.100:80'))?.[busy], unauthorized,
    };
  });

  await scenario('cleanup-on-exit', async () => {
    const beforeStop = await ipvsSave();
    await lvsd!.stop();
    lvsd = await startLvsd('lvsd-cleanup', config({ cleanup: true }), API_PORT);
    await lab.waitFor(async () => (await lvsd!.status()).services.every((s) => s.realservers.every((r) => r.state === 'UP')), 30_000, 'all UP');
    const code = await lvsd.stop();
    lvsd = undefined;
    return { code, beforeStop, after: await ipvsSave() };
  });

  await scenario('sync-daemon', () => syncDaemonScenario(lab));
} catch (e) {
  results.setup = { ok: false, error: e instanceof Error ? e.stack ?? e.message : String(e), ms: 0 };
} finally {
  await lvsd?.kill().catch(() => {});
  await lab.down();
  results.unmanaged = { ok: true, data: { expected: UNMANAGED }, ms: 0 };
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
}

/**
 * Two directors in their own namespaces (IPVS is per namespace) with VRRP and the connection
 * sync daemon, a DR realserver and a client on one bridge (TEST-NET-3): the master runs the
 * master daemon and the backup the backup daemon; a client connection made through the master
 * appears in the backup's table; after the master is killed the backup serves that same
 * connection.
 */
async function syncDaemonScenario(l: Lab): Promise<unknown> {
  const VIP = '203.0.113.100';
  await sh(`
ip link add br-sync type bridge mcast_snooping 0; ip link set br-sync up
for n in d1:203.0.113.2 d2:203.0.113.3 cl:203.0.113.50 rss:203.0.113.20; do
  ns=\${n%%:*}; addr=\${n#*:}
  ip netns add $ns
  ip link add $ns-p type veth peer name eth0 netns $ns
  ip link set $ns-p master br-sync up
  ip -n $ns addr add $addr/24 dev eth0; ip -n $ns link set eth0 up; ip -n $ns link set lo up
done
ip netns exec rss sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
ip netns exec rss sysctl -qw net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
ip -n rss addr add ${VIP}/32 dev lo
mkdir -p /tmp/lvsd-lab/rss; printf 'rss ' > /tmp/lvsd-lab/rss/index.html; echo ok > /tmp/lvsd-lab/rss/healthz
`);
  const httpd = l.spawnIn('rss', ['busybox', 'httpd', '-f', '-p', '80', '-h', '/tmp/lvsd-lab/rss']);
  const conf = (name: string, priority: number): string => `node: { name: ${name} }
api: { listen: false, socket: /tmp/lvsd-lab/${name}.sock }
ipvs: { driver: ipvsadm, resync_interval: 5s }
state_dir: /tmp/lvsd-lab/${name}-state
defaults: { interval: 1s, timeout: 900ms, rise: 1, fall: 2 }
failover:
  interface: eth0
  virtual_router_id: 61
  priority: ${priority}
  advert_interval: 1s
  virtual_addresses: [${VIP}/24]
  sync_daemon: { interface: eth0, syncid: 61 }
services:
  - name: web
    address: ${VIP}:80
    forward: route
    scheduler: rr
    check: { type: http, path: /healthz }
    realservers: [{ address: 203.0.113.20 }]
`;
  const d1 = startLvsdIn(l, 'd1', conf('d1', 150));
  const d2 = startLvsdIn(l, 'd2', conf('d2', 100));
  const holds = async (ns: string): Promise<boolean> => (await sh(`ip -n ${ns} -4 -o addr show dev eth0`)).includes(VIP);
  const daemons = async (ns: string): Promise<string> => (await sh(`ip netns exec ${ns} ipvsadm -L --daemon || true`)).trim();
  const conns = async (ns: string): Promise<string> => (await sh(`ip netns exec ${ns} ipvsadm -Lnc || true`));
  try {
    await l.waitFor(async () => (await holds('d1')) && !(await holds('d2')), 60_000, 'd1 MASTER');
    await l.waitFor(async () => (await daemons('d1')).includes('master') && (await daemons('d2')).includes('backup'), 30_000, 'sync daemons by role');
    const daemonsBefore = { d1: await daemons('d1'), d2: await daemons('d2') };
    // a connection through the master, held open
    const client = spawn('ip', ['netns', 'exec', 'cl', 'busybox', 'nc', VIP, '80'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let answer = '';
    client.stdout!.on('data', (d: Buffer) => { answer += d.toString(); });
    await l.waitFor(async () => /ESTABLISHED.*203\.0\.113\.50/.test(await conns('d1')), 20_000, 'the connection on the master');
    // the first line of a request: the kernel syncs a connection after sync_threshold (3) packets
    client.stdin!.write('GET / HTTP/1.0\r\n');
    await l.waitFor(async () => /203\.0\.113\.50/.test(await conns('d2')), 20_000, 'the connection synced to the backup');
    const syncedOnBackup = await conns('d2');
    await d1.kill();
    await l.waitFor(async () => holds('d2'), 20_000, 'd2 MASTER');
    await l.waitFor(async () => (await daemons('d2')).includes('master'), 20_000, 'd2 master sync daemon');
    // the old connection, through the new master: same realserver, answered
    client.stdin!.write('\r\n');
    await l.waitFor(async () => answer.includes('rss '), 20_000, 'an answer on the connection made before the failover');
    client.kill('SIGKILL');
    return { daemonsBefore, syncedOnBackup, daemonsAfter: await daemons('d2'), answered: answer.includes('rss ') };
  } finally {
    await d1.kill().catch(() => {});
    await d2.kill().catch(() => {});
    httpd.kill('SIGKILL');
  }
}

function startLvsdIn(l: Lab, ns: string, yaml: string): { kill: () => Promise<void> } {
  const file = `/tmp/lvsd-lab/${ns}.yaml`;
  writeFileSync(file, yaml);
  const child = l.spawnIn(ns, [process.execPath, new URL('../../../src/cli/main.js', import.meta.url).pathname, 'run', '-c', file], `/tmp/lvsd-lab/${ns}.log`);
  return {
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    },
  };
}

/** `promtool check metrics` on text (code null: promtool is not installed) */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const p = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    p.once('error', (e) => resolve({ code: null, output: e.message }));
    p.once('close', (code) => resolve({ code, output }));
    p.stdin.on('error', () => undefined);
    p.stdin.end(text);
  });
}
