import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Storage } from '../../server/storage/types.ts';

export interface FlakyProxy {
  origin: string;
  /** How many PUTs were answered 503 instead of forwarded. */
  failures(): number;
  close(): Promise<void>;
}

/**
 * A real HTTP hop that answers 503 to the first PUT of every distinct URL, cuts the first
 * GET of every URL off half-way, and forwards the rest
 * to `target()`, Host header included, so SigV4 signatures still verify. Lets tests cause a
 * genuine transient failure without mocking fetch.
 */
export async function startFlakyProxy(target: () => string): Promise<FlakyProxy> {
  const seen = new Set<string>();
  let failures = 0;
  const server = http.createServer((req, res) => {
    if (req.method === 'PUT' && !seen.has(req.url!)) {
      seen.add(req.url!);
      failures++;
      req.resume().on('end', () => res.writeHead(503).end('injected transient failure'));
      return;
    }
    // The first GET of a URL without a Range is cut off half-way: a connection breaking mid-download.
    const cut = req.method === 'GET' && !req.headers.range && !seen.has(`GET ${req.url}`);
    if (cut) {
      seen.add(`GET ${req.url}`);
      failures++;
    }
    const to = new URL(target());
    const up = http.request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        if (!cut) return void r.pipe(res);
        let sent = 0;
        const half = Number(r.headers['content-length'] ?? 0) / 2;
        r.on('data', (chunk: Buffer) => {
          if (sent >= half) {
            res.destroy();
            r.destroy();
            return;
          }
          sent += chunk.length;
          res.write(chunk);
        });
      },
    );
    up.on('error', (err) => res.destroy(err));
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    failures: () => failures,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // fetch keeps sockets alive; close() alone would wait for them
      }),
  };
}

/** Wraps a backend so the upload URLs it signs point at `origin` (the proxy) instead. */
export function signUploadsVia(storage: Storage, origin: string): Storage {
  const rewrite = (url: string) => {
    const u = new URL(url);
    u.host = new URL(origin).host;
    return u.toString();
  };
  // A Proxy, not a spread: the backends are classes, and app.ts checks `instanceof FsStorage`.
  return new Proxy(storage, {
    get(target, prop) {
      if (prop === 'presignGet') return async (...a: Parameters<Storage['presignGet']>) => rewrite(await target.presignGet(...a));
      if (prop === 'presignCreate') {
        return async (...a: Parameters<Storage['presignCreate']>) => {
          const signed = await target.presignCreate(...a);
          return { ...signed, url: rewrite(signed.url) };
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
