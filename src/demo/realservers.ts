/**
 * The demo's realservers: small HTTP servers on loopback addresses, one of which flaps
 * (healthy, then answering 503, every `flapMs`). Real sockets, so the real probes see them.
 */
import { createServer, type Server } from 'node:http';

export interface DemoRealserver {
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly flapping: boolean;
  close(): Promise<void>;
}

export async function startDemoRealserver(host: string, port: number, name: string, flapMs: number | null): Promise<DemoRealserver> {
  const started = Date.now();
  const healthy = (): boolean => flapMs === null || Math.floor((Date.now() - started) / flapMs) % 2 === 0;
  const server: Server = createServer((req, res) => {
    const ok = healthy();
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(ok ? `ok from ${name}\n` : `${name} is unwell\n`);
    req.resume();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address();
  const bound = addr && typeof addr === 'object' ? addr.port : port;
  return {
    host, port: bound, name, flapping: flapMs !== null,
    close: () => new Promise((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

/** Four realservers on 127.0.0.11-14, on `port` if free on all of them, else on ports of the kernel's choice. */
export async function startDemoRealservers(port: number, flapMs: number): Promise<DemoRealserver[]> {
  const hosts = ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14'];
  const started: DemoRealserver[] = [];
  try {
    for (const [i, host] of hosts.entries()) {
      started.push(await startDemoRealserver(host, port, `web${i + 1}`, i === 2 ? flapMs : null));
    }
    return started;
  } catch {
    await Promise.all(started.map((s) => s.close()));
    started.length = 0;
    for (const [i, host] of hosts.entries()) {
      started.push(await startDemoRealserver(host, 0, `web${i + 1}`, i === 2 ? flapMs : null));
    }
    return started;
  }
}
