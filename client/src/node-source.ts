import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digests } from './transfer.ts';
import type { PreparedSource, ResumeRecord, ResumeStore } from './upload.ts';

/** Node-only (fs, crypto, os): imported by node.ts, never by index.ts. */

/** What the Node client uploads from: a file path, bytes, a Blob, or a stream (spooled to a temp file). */
export type NodeUploadSource = string | Uint8Array | Blob | Readable;

/** node:crypto's digests: native, about ten times the portable ones. */
export const nodeDigests: Digests = {
  md5: (bytes) => createHash('md5').update(bytes).digest('base64'),
  sha256: () => {
    const h = createHash('sha256');
    return { update: (b) => h.update(b), digest: () => h.digest('hex') };
  },
};

/**
 * Each part is read once, from its offset: a file is never held whole, and its sha256 is computed
 * while the parts go out (one ordered pass over the very bytes sent, declared at completion).
 * Bytes are hashed up front (memory speed, and then declared at creation); a stream's size must
 * be known before the first part is signed, so it is spooled to a private temp file first.
 */
export async function prepareNodeSource(source: NodeUploadSource, signal?: AbortSignal): Promise<PreparedSource> {
  if (typeof source === 'string') {
    const info = await stat(source);
    if (!info.isFile()) throw new Error(`${source} is not a file`);
    return fileSource(source, info.size, async () => {}, `${await realpath(source)} ${info.size} ${info.mtimeMs}`);
  }
  if (source instanceof Uint8Array) {
    return {
      sizeBytes: source.length,
      sha256: createHash('sha256').update(source).digest('hex'),
      read: async (s, e) => source.subarray(s, e),
      dispose: async () => {},
    };
  }
  if (source instanceof Blob) {
    return {
      sizeBytes: source.size,
      contentType: source.type || undefined,
      read: async (s, e) => new Uint8Array(await source.slice(s, e).arrayBuffer()),
      dispose: async () => {},
    };
  }
  return spool(source, signal);
}

async function spool(source: Readable, signal?: AbortSignal): Promise<PreparedSource> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-upload-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  const path = join(dir, 'body');
  try {
    let sizeBytes = 0;
    const count = new Transform({
      transform(chunk: Buffer, _e, done) {
        sizeBytes += chunk.length;
        done(null, chunk);
      },
    });
    await pipeline(source, count, createWriteStream(path, { mode: 0o600 }), { signal });
    return fileSource(path, sizeBytes, dispose);
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** Reads parts at their offsets through one file handle; a file that shrank meanwhile fails the read. */
function fileSource(path: string, sizeBytes: number, dispose: () => Promise<void>, resumeKey?: string): PreparedSource {
  let handle: ReturnType<typeof open> | undefined;
  return {
    sizeBytes,
    resumeKey,
    async read(start, end) {
      handle ??= open(path, 'r');
      const buf = Buffer.allocUnsafe(end - start);
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await (await handle).read(buf, got, buf.length - got, start + got);
        if (bytesRead === 0) throw new Error(`${path} changed during the upload: it ended at ${start + got} bytes, ${sizeBytes} expected`);
        got += bytesRead;
      }
      // The last part: a file that grew (or was replaced) since its size was taken is not the file meant.
      if (end === sizeBytes && (await (await handle).stat()).size !== sizeBytes) {
        throw new Error(`${path} changed during the upload: it now has ${(await (await handle).stat()).size} bytes, ${sizeBytes} expected`);
      }
      return buf;
    },
    async dispose() {
      await (await handle)?.close().catch(() => {});
      await dispose();
    },
  };
}

/**
 * Resume records as small JSON files, one per upload in progress, in `dir` (default
 * $XDG_CACHE_HOME/coffer/uploads or ~/.cache/coffer/uploads), private to the user.
 */
export function fileResumeStore(dir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'coffer', 'uploads')): ResumeStore {
  const file = (key: string) => join(dir, `${createHash('sha256').update(key).digest('hex')}.json`);
  return {
    get: async (key) =>
      readFile(file(key), 'utf8').then(
        (s) => JSON.parse(s) as ResumeRecord,
        () => null,
      ),
    set: async (key, record) => {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(file(key), JSON.stringify(record), { mode: 0o600 });
    },
    delete: async (key) => rm(file(key), { force: true }),
  };
}
