/**
 * The start bench's baseline: the same launcher (`tsx`, a fresh node) running a bare HTTP server
 * that answers /healthz at once. What Coffer's start-up takes beyond this is its own.
 */
import { createServer } from 'node:http';

createServer((_req, res) => {
  res.statusCode = 200;
  res.end('{"ok":true}');
}).listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
