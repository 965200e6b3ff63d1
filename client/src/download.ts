import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { TRPCClient } from '@trpc/client';
import { backoffMs } from '../../shared/retry.ts';
import { TransferError } from './transfer.ts';
import type { AppRouter } from './wire.ts';

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
  /** Further attempts after the connection breaks mid-download, each resuming where it stopped (default 3). */
  retries?: number;
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
 * Downloads an artifact to `destination + '.part'` in one stream, hashed as it is written; a
 * connection that breaks mid-way is picked up where it stopped (a Range request), so a long
 * download survives a flaky link. The file is renamed to `destination` only once size and sha256
 * match what Coffer recorded at upload; on any failure the partial file is removed, so
 * `destination` never holds unverified bytes. (Parallel ranged GETs were measured too: on the
 * test machine they cost twice the client CPU for no gain over one stream.)
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
    const sha256 = await fetchToFile(link.url, partial, info.sizeBytes, opts);
    if (sha256 !== info.sha256) {
      throw new IntegrityError(
        `artifact ${id}: received bytes hash to ${sha256}, ${info.sha256} recorded; the stored object is corrupt or was replaced`,
        'CHECKSUM_MISMATCH',
      );
    }
    await rename(partial, destination);
    return { path: destination, sizeBytes: info.sizeBytes, sha256 };
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

async function fetchToFile(url: string, path: string, totalBytes: number, opts: DownloadOptions): Promise<string> {
  const hash = createHash('sha256');
  let received = 0;
  const file = await open(path, 'w', 0o600);
  /**
   * Writes at the current offset, batching what arrived meanwhile (writev), and counts and hashes
   * bytes only once they are on disk: after a broken connection, `received` is exactly where the
   * file ends and the hash where the resumed request must continue.
   */
  const sink = () =>
    new Writable({
      writev(chunks, done) {
        const buffers = chunks.map((c) => c.chunk as Buffer);
        const length = buffers.reduce((n, b) => n + b.length, 0);
        if (received + length > totalBytes) {
          return done(
            new IntegrityError(
              `received more than the ${totalBytes} bytes recorded; the stored object is not the recorded size`,
              'SIZE_MISMATCH',
            ),
          );
        }
        file.writev(buffers, received).then(() => {
          for (const b of buffers) hash.update(b);
          received += length;
          opts.onProgress?.({ receivedBytes: received, totalBytes });
          done();
        }, done);
      },
    });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const resumeAt = received;
        const res = await fetch(url, { signal: opts.signal, headers: resumeAt > 0 ? { range: `bytes=${resumeAt}-` } : {} });
        if (!res.ok || !res.body) {
          throw new TransferError(`download answered ${res.status}: ${(await res.text().catch(() => '')).slice(0, 300)}`, res.status);
        }
        if (resumeAt > 0 && res.status !== 206) throw new TransferError('the server ignored the Range of a resumed download', res.status);
        // DOM and node:stream/web ReadableStream types differ; the object is the same.
        await pipeline(Readable.fromWeb(res.body as never), sink(), { signal: opts.signal });
        break;
      } catch (err) {
        const network = !(err instanceof TransferError || err instanceof IntegrityError);
        if (opts.signal?.aborted || !network || attempt >= (opts.retries ?? 3)) throw err;
        await new Promise((r) => setTimeout(r, backoffMs(attempt, { baseMs: 250, maxMs: 8_000 })));
      }
    }
  } finally {
    await file.close();
  }
  if (received !== totalBytes) {
    throw new IntegrityError(
      `received ${received} bytes, ${totalBytes} recorded; the stored object is not the recorded size`,
      'SIZE_MISMATCH',
    );
  }
  return hash.digest('hex');
}
