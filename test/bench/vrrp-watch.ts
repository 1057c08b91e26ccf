/**
 * Run inside a namespace (`ip netns exec NS node dist/test/bench/vrrp-watch.js`): prints one
 * line per VRRP packet the host receives, `<hrtime ns> <source> <priority>`. process.hrtime is
 * CLOCK_MONOTONIC, shared by every process here, so the bench can compare these times with its
 * own: the last advert of a killed master marks where the backup's silence began.
 */
import { createRequire } from 'node:module';

const raw = createRequire(import.meta.url)('raw-socket') as typeof import('raw-socket');
const socket = raw.createSocket({ protocol: 112, addressFamily: raw.AddressFamily.IPv4 });
socket.on('message', (buf: Buffer, source: string) => {
  const ihl = ((buf[0] ?? 0x45) & 0x0f) * 4;
  process.stdout.write(`${process.hrtime.bigint()} ${source} ${buf[ihl + 2] ?? -1}\n`);
});
socket.on('error', (e: Error) => {
  process.stderr.write(`vrrp-watch: ${e.message}\n`);
  process.exit(1);
});
// raw-socket's handle closes when its JS object is collected: keep it reachable, and the process up
const keep = setInterval(() => socket.listenerCount('message'), 60_000);
process.on('SIGTERM', () => { clearInterval(keep); socket.close(); process.exit(0); });
process.stdout.write('ready\n');
