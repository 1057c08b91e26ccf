/**
 * The HTTP check alone, in its own process: `rate` GET /healthz a second for `seconds`, each to
 * the next of 50,000 loopback targets on a fresh connection, each with a 1 s deadline. Clients:
 * `lvsd` (the probe kit's http probe, on a bare libuv handle), `lvsd-socket` (the same probe on
 * a net.Socket, where Node lacks the bindings), `undici` (request() on an Agent with one Client per
 * origin, what lvsd used before) and `socket` (net.connect, a request line, the status line:
 * the floor). Prints one JSON line: CPU ms per 1,000 checks, how many passed.
 */
import net from 'node:net';
import { Agent, Client } from 'undici';
import { createProbeKit } from '../../checks/index.js';

const [client, rateArg, secondsArg, portArg] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const port = Number(portArg);
const address = (i: number): string => `127.1.${Math.floor((i % 50_000) / 250)}.${(i % 250) + 1}`;

const kit = createProbeKit({ fpingPath: null, bareHandles: client !== 'lvsd-socket' });
const probe = kit.probeFor({ type: 'http', path: '/healthz', method: 'GET', expectStatus: [200], tlsVerify: true, freshConnection: true });
const agent = new Agent({ factory: (origin, opts) => new Client(origin, opts) });

async function lvsd(host: string, signal: AbortSignal): Promise<boolean> {
  return (await probe.check({ address: host, port }, { signal, timeoutMs: 1000 })).ok;
}

async function viaUndici(host: string, signal: AbortSignal): Promise<boolean> {
  try {
    const res = await agent.request({ origin: `http://${host}:${port}`, path: '/healthz', method: 'GET', reset: true, headers: { 'user-agent': 'lvsd-probe' }, signal });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

function viaSocket(host: string, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, noDelay: true });
    const done = (ok: boolean): void => { signal.removeEventListener('abort', onAbort); sock.destroy(); resolve(ok); };
    const onAbort = (): void => done(false);
    signal.addEventListener('abort', onAbort, { once: true });
    sock.on('connect', () => sock.write(`GET /healthz HTTP/1.1\r\nHost: ${host}:${port}\r\nUser-Agent: lvsd-probe\r\nConnection: close\r\n\r\n`));
    sock.on('data', (d: Buffer) => done(d.toString('latin1', 0, 12) === 'HTTP/1.1 200'));
    sock.on('error', () => done(false));
  });
}

const check = client === 'lvsd' || client === 'lvsd-socket' ? lvsd : client === 'undici' ? viaUndici : viaSocket;
let done = 0;
let passed = 0;
const one = async (i: number): Promise<void> => {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(new DOMException('deadline', 'TimeoutError')), 1000);
  if (await check(address(i), ac.signal)) passed++;
  clearTimeout(t);
  done++;
};

const cpu0 = process.cpuUsage();
const total = rate * seconds;
let started = 0;
const pending: Promise<void>[] = [];
// 100 ticks a second, rate/100 checks each
await new Promise<void>((resolve) => {
  const tick = setInterval(() => {
    for (let k = 0; k < rate / 100 && started < total; k++) pending.push(one(started++));
    if (started >= total) {
      clearInterval(tick);
      resolve();
    }
  }, 10);
});
await Promise.all(pending);
const cpu = process.cpuUsage(cpu0);
process.stdout.write(`${JSON.stringify({ client, checks: done, passed, cpuMsPer1kChecks: (cpu.user + cpu.system) / 1000 / (done / 1000) })}\n`);
await kit.close();
await agent.destroy();
process.exit(0);
