import type { StorageConfig } from '../config/index.ts';
import { FsStorage } from './fs.ts';
import { S3Storage } from './s3.ts';
import { createUrlSigner } from './signed-url.ts';
import type { Storage } from './types.ts';

export { FsStorage } from './fs.ts';
export type * from './types.ts';

export interface CreateStorageOptions {
  /** Key for the fs backend's signed URLs (S3 signs with its own credentials). */
  signingSecret: string;
  /** Base URL the fs backend's signed URLs point at; a function because with port 0 it is only known after listen. */
  publicUrl: () => string;
}

/**
 * The one place that picks a backend. Callers hold a Storage and never branch on the kind,
 * except the app, which mounts server/http/fs-routes.ts for an FsStorage.
 */
export function createStorage(config: StorageConfig, opts: CreateStorageOptions): Storage {
  if (config.kind === 's3') return new S3Storage(config);
  return new FsStorage(config, createUrlSigner(opts.signingSecret, opts.publicUrl));
}
