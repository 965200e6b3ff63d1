/**
 * Runs startThrottle in a process of its own (`node --import tsx throttle-process.ts host port
 * bytesPerSecond`), printing its URL: a link must not stall while the client it carries computes
 * (a client hashing its parts on the bench's event loop would otherwise pause the link too).
 */
import { startThrottle } from './throttle.ts';

const [host, port, rate] = process.argv.slice(2);
const throttle = await startThrottle({ host: host!, port: Number(port) }, Number(rate));
process.stdout.write(`${throttle.url}\n`);
process.on('SIGTERM', () => void throttle.close().then(() => process.exit(0)));
