/**
 * Benchmark target: one HTTP server on 0.0.0.0 that answers every 127.x address, so thousands
 * of "realservers" cost one process. Prints its port, then serves until killed.
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 0);
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' });
  res.end('ok\n');
});
server.keepAliveTimeout = 60_000;
server.maxConnections = 60_000;
server.listen(port, '0.0.0.0', () => {
  const a = server.address();
  process.stdout.write(`${typeof a === 'object' && a ? a.port : port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
