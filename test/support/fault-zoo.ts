/**
 * A "zoo" of misbehaving loopback servers in a process of its own, for tests that run many
 * failing checks at once: the probes' process then holds only the probes' descriptors (the
 * leak census is about those), and the servers' busy work (endless bodies, trickles) does not
 * run on the probes' event loop. `spawnZoo()` starts it (Node with tsx, this file as the
 * script); it prints its ports as one JSON line and serves until stdin closes or it is killed.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findProgram } from '../../src/core/find-program.js';
import {
  startEndlessBanner,
  startEndlessChunkedHttp,
  startEndlessHeaders,
  startHttpsBlackHole,
  startResetMidResponse,
  startResettingBanner,
  startTlsHangup,
} from './faults.js';
import type { TestServer } from './servers.js';
import {
  refusedPort,
  selfSignedCert,
  startHealthyHttp,
  startSilentTcp,
  startStatusHttp,
  startTricklingHttp,
  startUnacceptingTcp,
} from './servers.js';

/** Each server's port on 127.0.0.1; null where a prerequisite (python3, openssl) is missing. */
export interface ZooPorts {
  /** nothing listens */
  readonly refused: number;
  /** accepts, never says a word (TCP, HTTP, TLS and banner black hole) */
  readonly silent: number;
  /** SYNs go unanswered (python3) */
  readonly unaccepting: number | null;
  /** HTTP 200 "ok" (also: a plaintext server on the https port) */
  readonly healthy: number;
  readonly status503: number;
  /** headers, then one body byte every 100 ms */
  readonly trickle: number;
  /** 2 bytes of a 100-byte body, then RST after 50 ms */
  readonly reset: number;
  readonly endlessBody: number;
  readonly endlessHead: number;
  /** RST on the ClientHello */
  readonly tlsHangup: number;
  /** TLS with a self-signed certificate; the request is never answered (openssl) */
  readonly selfSigned: number | null;
  readonly endlessBanner: number;
  /** "Password: ", then RST after 50 ms */
  readonly resetBanner: number;
}

export interface Zoo {
  readonly ports: ZooPorts;
  readonly pid: number;
  close(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function serveZoo(): Promise<void> {
  const servers: TestServer[] = [];
  const keep = async <T extends TestServer>(p: Promise<T>): Promise<T> => {
    const s = await p;
    servers.push(s);
    return s;
  };
  const cert = findProgram('openssl') ? selfSignedCert() : undefined;
  const ports: ZooPorts = {
    refused: (await refusedPort()).port,
    silent: (await keep(startSilentTcp())).port,
    unaccepting: findProgram('python3') ? (await keep(startUnacceptingTcp())).port : null,
    healthy: (await keep(startHealthyHttp())).port,
    status503: (await keep(startStatusHttp(503))).port,
    trickle: (await keep(startTricklingHttp(100, 100))).port,
    reset: (await keep(startResetMidResponse())).port,
    endlessBody: (await keep(startEndlessChunkedHttp())).port,
    endlessHead: (await keep(startEndlessHeaders())).port,
    tlsHangup: (await keep(startTlsHangup('reset'))).port,
    selfSigned: cert ? (await keep(startHttpsBlackHole(cert))).port : null,
    endlessBanner: (await keep(startEndlessBanner())).port,
    resetBanner: (await keep(startResettingBanner('Password: '))).port,
  };
  let closing = false;
  const stop = (): void => {
    if (closing) return;
    closing = true;
    void Promise.all(servers.map((s) => s.close())).finally(() => process.exit(0));
  };
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
  process.stdout.write(`${JSON.stringify(ports)}\n`);
}

/** Start the zoo in its own process; close() ends it (by PID) and waits for it to exit. */
export async function spawnZoo(timeoutMs = 30_000): Promise<Zoo> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--serve'], {
    cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(t);
    }
  };
  try {
    const ports = await new Promise<ZooPorts>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`fault zoo gave no ports within ${timeoutMs} ms: ${out}`)), timeoutMs);
      child.once('exit', (code, signal) => reject(new Error(`fault zoo exited (${code ?? signal}) before serving: ${out}`)));
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(t);
          resolve(JSON.parse(out.slice(0, nl)) as ZooPorts);
        }
      });
    });
    return { ports, pid: child.pid!, close };
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === SELF && process.argv.includes('--serve')) {
  void serveZoo();
}
