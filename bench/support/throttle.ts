import net from 'node:net';

/**
 * A TCP proxy whose link carries at most `bytesPerSecond` in each direction, over all its
 * connections together, like one client's uplink and downlink. Bytes are forwarded untouched
 * (the Host header too), so SigV4 URLs signed for the proxy's address verify at the server.
 */
export async function startThrottle(target: { host: string; port: number }, bytesPerSecond: number) {
  const up = tokenBucket(bytesPerSecond);
  const down = tokenBucket(bytesPerSecond);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    pump(client, upstream, up);
    pump(upstream, client, down);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Forwards `from` to `to`, pausing `from` while the link's bucket is empty and while `to` is full. */
function pump(from: net.Socket, to: net.Socket, bucket: ReturnType<typeof tokenBucket>) {
  from.on('data', (chunk: Buffer) => {
    const wait = bucket.take(chunk.length);
    const full = !to.write(chunk);
    if (wait <= 0 && !full) return;
    from.pause();
    let drained = !full;
    let waited = false;
    const resume = () => {
      if (drained && waited) from.resume();
    };
    // Listened for at once: a drain during the wait must not be missed.
    if (full)
      to.once('drain', () => {
        drained = true;
        resume();
      });
    setTimeout(() => {
      waited = true;
      resume();
    }, wait);
  });
  from.on('end', () => to.end());
}

/** Milliseconds to wait before more bytes may go: the link may run ahead of its rate by one chunk at most. */
function tokenBucket(bytesPerSecond: number) {
  let available = 0;
  let at = performance.now();
  return {
    take(n: number): number {
      const now = performance.now();
      available = Math.min(bytesPerSecond / 20, available + ((now - at) / 1000) * bytesPerSecond);
      at = now;
      available -= n;
      return available >= 0 ? 0 : (-available / bytesPerSecond) * 1000;
    },
  };
}

/** startThrottle in a child process (throttle-process.ts); resolves once it listens. */
export async function spawnThrottle(target: { host: string; port: number }, bytesPerSecond: number) {
  const { spawn } = await import('node:child_process');
  const script = new URL('./throttle-process.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', 'tsx', script, target.host, String(target.port), String(bytesPerSecond)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').once('data', (line: string) => resolve(line.trim()));
    child.once('exit', (code) => reject(new Error(`throttle exited (${code})`)));
  });
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
