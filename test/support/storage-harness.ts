import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import type { StorageConfig } from '../../server/config/index.ts';
import { registerFsRoutes } from '../../server/http/fs-routes.ts';
import { createStorage, FsStorage } from '../../server/storage/index.ts';
import type { Storage } from '../../server/storage/types.ts';

export interface StorageHarness {
  storage: Storage;
  /** The fs backend's root directory, for tests that look at the disk. */
  fsRoot?: string;
  close(): Promise<void>;
}

/** An fs backend in a temp dir, with a bare Fastify app on 127.0.0.1:0 serving its signed URLs. */
export async function startFsHarness(): Promise<StorageHarness> {
  const root = await mkdtemp(path.join(tmpdir(), 'coffer-fs-'));
  let baseUrl = '';
  const storage = createStorage({ kind: 'fs', root }, { signingSecret: 'test-secret-'.padEnd(40, 'x'), publicUrl: () => baseUrl });
  if (!(storage instanceof FsStorage)) throw new Error('expected the fs backend');
  const app = Fastify({ logger: false });
  registerFsRoutes(app, storage);
  baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    storage,
    fsRoot: root,
    close: async () => {
      await app.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The S3 backend against a server someone else started and stops. */
export function s3Harness(config: Extract<StorageConfig, { kind: 's3' }>): StorageHarness {
  return { storage: createStorage(config, { signingSecret: 'unused', publicUrl: () => '' }), close: async () => {} };
}
