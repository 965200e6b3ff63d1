import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { TRPCClient } from '@trpc/client';
import type { AppRouter } from '../../server/routers/_app.ts';
import { TransferError } from './transfer.ts';

/** Node-only (writes to disk): imported by node.ts, never by index.ts. */

export interface DownloadProgress {
  receivedBytes: number;
  totalBytes: number;
}

export interface DownloadOptions {
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Lifetime of the signed URL, seconds (the server's default otherwise). */
  expiresIn?: number;
}

export interface DownloadResult {
  path: string;
  sizeBytes: number;
  sha256: string;
}

/** The bytes served did not match the artifact's recorded size or sha256. */
export class IntegrityError extends Error {
  readonly code: 'SIZE_MISMATCH' | 'CHECKSUM_MISMATCH';

  constructor(message: string, code: 'SIZE_MISMATCH' | 'CHECKSUM_MISMATCH') {
    super(message);
    this.code = code;
    this.name = 'IntegrityError';
  }
}

/**
 * Streams an artifact to `destination + '.part'` while hashing it, and renames it to
 * `destination` only once size and sha256 match what Coffer recorded at upload; on any failure
 * the partial file is removed, so `destination` never holds unverified bytes.
 */
export async function downloadArtifact(
  trpc: TRPCClient<AppRouter>,
  id: string,
  destination: string,
  opts: DownloadOptions = {},
): Promise<DownloadResult> {
  const { signal } = opts;
  const [link, info] = await Promise.all([
    trpc.artifact.getDownloadUrl.query({ id, expiresIn: opts.expiresIn }, { signal }),
    trpc.artifact.getInfo.query({ id }, { signal }),
  ]);
  const partial = `${destination}.part`;
  try {
    const got = await fetchToFile(link.url, partial, info.sizeBytes, opts);
    if (got.sizeBytes !== info.sizeBytes) {
      throw new IntegrityError(`artifact ${id}: received ${got.sizeBytes} bytes, ${info.sizeBytes} recorded`, 'SIZE_MISMATCH');
    }
    if (got.sha256 !== info.sha256) {
      throw new IntegrityError(
        `artifact ${id}: received bytes hash to ${got.sha256}, ${info.sha256} recorded; the stored object is corrupt or was replaced`,
        'CHECKSUM_MISMATCH',
      );
    }
    await rename(partial, destination);
    return { path: destination, ...got };
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

async function fetchToFile(url: string, path: string, totalBytes: number, opts: DownloadOptions) {
  const res = await fetch(url, { signal: opts.signal });
  if (!res.ok || !res.body) {
    throw new TransferError(`download answered ${res.status}: ${(await res.text().catch(() => '')).slice(0, 300)}`, res.status);
  }
  const hash = createHash('sha256');
  let receivedBytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _e, done) {
      hash.update(chunk);
      receivedBytes += chunk.length;
      opts.onProgress?.({ receivedBytes, totalBytes });
      done(null, chunk);
    },
  });
  // DOM and node:stream/web ReadableStream types differ; the object is the same.
  await pipeline(Readable.fromWeb(res.body as never), tap, createWriteStream(path), { signal: opts.signal });
  return { sizeBytes: receivedBytes, sha256: hash.digest('hex') };
}
