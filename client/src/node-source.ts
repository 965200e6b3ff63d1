import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PreparedSource } from './upload.ts';

/** Node-only (fs, crypto, os): imported by node.ts, never by index.ts. */

/** What the Node client uploads from: a file path, bytes, a Blob, or a stream (spooled to a temp file). */
export type NodeUploadSource = string | Uint8Array | Blob | Readable;

const CHUNK = 1024 * 1024;
const noop = async () => {};

/**
 * Below this a file is hashed before createUpload, as before: the pass costs milliseconds, and a
 * checksum declared up front lets a backend that checks it (S3 with trustChecksum, single PUT)
 * bind it into the signed URL instead of the server reading the object back.
 */
export const HASH_WHILE_SENDING_MIN_BYTES = 8 * 1024 * 1024;

/**
 * Hashes with node:crypto (native, ~10x @noble/hashes). A large file is not hashed up front: its
 * one ordered hashing pass runs while the parts are sent (both read through the page cache), and
 * the result is declared at completeUpload. Buffers and Blobs are hashed first (memory speed, and
 * a Blob may not be re-readable cheaply in order); a stream is spooled and hashed in that copy.
 */
export async function prepareNodeSource(source: NodeUploadSource, signal?: AbortSignal): Promise<PreparedSource> {
  if (typeof source === 'string') {
    const info = await stat(source);
    if (info.isFile() && info.size >= HASH_WHILE_SENDING_MIN_BYTES) {
      return { ...fileSource(source, info.size, undefined, noop), hash: (s) => hashFile(source, info.size, s) };
    }
    const { sizeBytes, sha256 } = await hashStream(createReadStream(source, { highWaterMark: CHUNK }), undefined, signal);
    return fileSource(source, sizeBytes, sha256, noop);
  }
  if (source instanceof Uint8Array) {
    return {
      sizeBytes: source.length,
      sha256: createHash('sha256').update(source).digest('hex'),
      read: (s, e) => source.subarray(s, e),
      dispose: noop,
    };
  }
  if (source instanceof Blob) {
    const { sha256 } = await hashStream(Readable.fromWeb(source.stream() as never), undefined, signal);
    return { sizeBytes: source.size, sha256, contentType: source.type || undefined, read: (s, e) => source.slice(s, e), dispose: noop };
  }
  return spool(source, signal);
}

/**
 * A stream's size and hash are only known at its end, and createUpload needs both first: copy it
 * to a private temp file while hashing, upload from that file, delete it when done.
 */
async function spool(source: Readable, signal?: AbortSignal): Promise<PreparedSource> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-upload-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  const path = join(dir, 'body');
  try {
    const { sizeBytes, sha256 } = await hashStream(source, createWriteStream(path, { mode: 0o600 }), signal);
    return fileSource(path, sizeBytes, sha256, dispose);
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** The ordered pass of a file whose size was taken before the upload: a file that changed meanwhile fails here. */
async function hashFile(path: string, expectedBytes: number, signal: AbortSignal): Promise<string> {
  const { sizeBytes, sha256 } = await hashStream(createReadStream(path, { highWaterMark: CHUNK }), undefined, signal);
  if (sizeBytes !== expectedBytes) throw new Error(`${path} changed during the upload: ${sizeBytes} bytes read, ${expectedBytes} expected`);
  return sha256;
}

/** Each part (and each retry) reads its own range of the file again: nothing large stays in memory. */
function fileSource(path: string, sizeBytes: number, sha256: string | undefined, dispose: () => Promise<void>): PreparedSource {
  return {
    sizeBytes,
    sha256,
    dispose,
    read: (start, end) => (end > start ? createReadStream(path, { start, end: end - 1, highWaterMark: CHUNK }) : new Uint8Array(0)),
  };
}

/** Streams `input` through sha256 (and into `sink` when given), counting bytes. */
async function hashStream(input: Readable, sink: Writable | undefined, signal?: AbortSignal) {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  const see = (chunk: Buffer) => {
    hash.update(chunk);
    sizeBytes += chunk.length;
  };
  const tap = sink
    ? new Transform({
        transform(chunk: Buffer, _e, done) {
          see(chunk);
          done(null, chunk);
        },
      })
    : new Writable({
        write(chunk: Buffer, _e, done) {
          see(chunk);
          done();
        },
      });
  await (sink ? pipeline(input, tap, sink, { signal }) : pipeline(input, tap, { signal }));
  return { sizeBytes, sha256: hash.digest('hex') };
}
