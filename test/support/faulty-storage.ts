import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { inject } from 'vitest';
import { S3Storage } from '../../server/storage/s3.ts';
import type { Storage } from '../../server/storage/types.ts';

/** A TCP server that accepts connections and never answers: a storage endpoint that hangs. */
export async function startStallingServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {}).on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A real S3 client against `endpoint`, with the short timeouts a test can wait for. */
export const s3At = (endpoint: string) =>
  new S3Storage({ ...inject('s3'), endpoint }, { connectionTimeoutMs: 500, requestTimeoutMs: 1000 });

export type StorageMode = 'real' | 'stalled' | 'dead';

export interface SwitchableStorage {
  wrap(real: Storage): Storage;
  mode: StorageMode;
  /** Runs after a successful real `put`, before it returns: the moment between object write and row update. */
  afterPut?: (key: string) => Promise<void>;
}

/** Routes every call to the real backend, a hanging one or a closed port, as the test switches. */
export function switchableStorage(stalledUrl: string): SwitchableStorage {
  const stalled = s3At(stalledUrl);
  const dead = s3At('http://127.0.0.1:1');
  const sw: SwitchableStorage = {
    mode: 'real',
    wrap: (real) =>
      new Proxy(real, {
        get(target, prop) {
          const impl = sw.mode === 'real' ? target : sw.mode === 'stalled' ? stalled : dead;
          if (prop === 'put' && sw.mode === 'real') {
            return async (...args: Parameters<Storage['put']>) => {
              await target.put(...args);
              await sw.afterPut?.(args[0]);
            };
          }
          const value = Reflect.get(impl, prop, impl) as unknown;
          return typeof value === 'function' ? value.bind(impl) : value;
        },
      }),
  };
  return sw;
}
