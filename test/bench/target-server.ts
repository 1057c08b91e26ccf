/**
 * Benchmark target: one HTTP server on 0.0.0.0 that answers every 127.x address, so thousands
 * of "realservers" cost one process. Prints its port, then serves until killed. On SIGUSR2 it
 * prints `stats {"connections":C,"requests":R}` (totals since start), so a benchmark can count
 * the checks that reached it instead of trusting the checker's own count.
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 0);
let connections = 0;
let requests = 0;
const server = createServer((req, res) => {
  requests++;
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' });
  res.end('ok\n');
});
// a TCP check connects and closes without a request: count accepted connections too
server.on('connection', () => { connections++; });
server.keepAliveTimeout = 60_000;
server.maxConnections = 60_000;
// one process stands in for 50,000 realservers: a real one's default backlog (511) overflows
// when 1,000 checks connect at once, and dropped SYNs come back a second later as slow checks
server.listen({ port, host: '0.0.0.0', backlog: 4096 }, () => {
  const a = server.address();
  process.stdout.write(`${typeof a === 'object' && a ? a.port : port}\n`);
});
process.on('SIGUSR2', () => { process.stdout.write(`stats ${JSON.stringify({ connections, requests })}\n`); });
// kept-alive connections would hold close() open: end them, then exit
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
