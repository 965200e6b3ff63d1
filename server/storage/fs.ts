import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StorageConfig } from '../config/index.ts';
import { CofferError } from '../errors.ts';
import { lengthGuard } from './length-guard.ts';
import { RESERVED_DIRS, resolveKeyPath } from './secure-path.ts';
import type { UrlSigner } from './signed-url.ts';
import type { CompletedPart, ListedObject, ObjectInfo, PresignedPut, PresignGetOptions, PresignPutOptions, Storage } from './types.ts';

type FsConfig = Extract<StorageConfig, { kind: 'fs' }>;

const UPLOAD_ID = /^[a-f0-9]{32}$/;
const DEFAULT_LIST_LIMIT = 1000;

/**
 * Objects are plain files under `root`, so an operator can inspect and back them up with
 * ordinary tools. Every write goes to `.tmp/` and is renamed into place: readers never see a
 * partial file. Multipart parts live in `.multipart/<uploadId>/` until completed or aborted.
 * Signed URLs point at server/http/fs-routes.ts, which uses `signer`, `putWithEtag` and `putPart`.
 */
export class FsStorage implements Storage {
  readonly backend = 'fs' as const;
  /** The fs routes do not check a sha256: the service verifies the bytes itself. */
  readonly verifiesSha256OnPut = false;
  private readonly root: string;
  private readonly tmpDir: string;
  readonly signer: UrlSigner;

  constructor(config: FsConfig, signer: UrlSigner) {
    this.signer = signer;
    this.root = path.resolve(config.root);
    this.tmpDir = path.join(this.root, '.tmp');
  }

  async put(key: string, body: Readable | Buffer, opts: { contentType: string; contentLength?: number }): Promise<void> {
    await this.writeAtomic(resolveKeyPath(this.root, key), body, opts.contentLength);
  }

  /** Like put, but returns the quoted md5 hex etag for the HTTP response, as S3 does. */
  async putWithEtag(key: string, body: Readable | Buffer, contentLength?: number): Promise<{ etag: string }> {
    return { etag: await this.writeAtomic(resolveKeyPath(this.root, key), body, contentLength) };
  }

  async get(key: string, range?: { start: number; end?: number }): Promise<{ body: Readable; sizeBytes: number }> {
    const handle = await open(resolveKeyPath(this.root, key), 'r').catch((err) => {
      throw isMissing(err) ? new CofferError('NOT_FOUND', 'object not found') : fsError(err);
    });
    try {
      const s = await handle.stat();
      if (!s.isFile()) throw new CofferError('NOT_FOUND', 'object not found');
      const start = range?.start ?? 0;
      if (range && (start < 0 || start >= s.size)) throw new CofferError('BAD_INPUT', 'range not satisfiable');
      const end = Math.min(range?.end ?? s.size - 1, s.size - 1);
      // end >= start even for an empty file, where the stream then simply ends.
      return { body: handle.createReadStream({ start, end: Math.max(end, start) }), sizeBytes: s.size };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const s = await stat(resolveKeyPath(this.root, key)).catch((err) => {
      if (isMissing(err)) return null;
      throw fsError(err);
    });
    return s?.isFile() ? { sizeBytes: s.size, lastModified: s.mtime } : null;
  }

  async delete(key: string): Promise<void> {
    await unlink(resolveKeyPath(this.root, key)).catch((err) => {
      if (!isMissing(err)) throw fsError(err);
    });
  }

  async deleteMany(keys: string[]): Promise<void> {
    // Bounded concurrency: thousands of parallel unlinks would exhaust file descriptors.
    for (let i = 0; i < keys.length; i += 64) {
      await Promise.all(keys.slice(i, i + 64).map((k) => this.delete(k)));
    }
  }

  async list(prefix: string, opts: { continuationToken?: string; limit?: number } = {}) {
    const after = opts.continuationToken ? Buffer.from(opts.continuationToken, 'base64url').toString('utf8') : '';
    const limit = opts.limit ?? DEFAULT_LIST_LIMIT;
    const items: ListedObject[] = [];
    for await (const item of walk(this.root, '', prefix, after)) {
      if (items.length === limit) {
        return { items, nextToken: Buffer.from(items.at(-1)!.key, 'utf8').toString('base64url') };
      }
      items.push(item);
    }
    return { items };
  }

  async presignGet(key: string, opts: PresignGetOptions): Promise<string> {
    resolveKeyPath(this.root, key);
    return this.signer.sign({ op: 'get', key, filename: opts.filename, contentType: opts.contentType }, opts.expiresIn);
  }

  /** The sha256 is not bound: the fs routes do not check it, so the service must verify the bytes itself. */
  async presignPut(key: string, opts: PresignPutOptions): Promise<PresignedPut> {
    resolveKeyPath(this.root, key);
    const url = this.signer.sign({ op: 'put', key, contentType: opts.contentType, contentLength: opts.contentLength }, opts.expiresIn);
    return { url, headers: { 'content-type': opts.contentType } };
  }

  async createMultipart(key: string): Promise<{ uploadId: string }> {
    resolveKeyPath(this.root, key);
    const uploadId = randomBytes(16).toString('hex');
    const dir = this.uploadDir(uploadId);
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'key'), key);
    } catch (err) {
      throw fsError(err);
    }
    return { uploadId };
  }

  async presignPart(
    key: string,
    uploadId: string,
    partNumber: number,
    opts: { expiresIn: number; contentLength: number },
  ): Promise<string> {
    resolveKeyPath(this.root, key);
    checkPartNumber(partNumber);
    return this.signer.sign({ op: 'part', key, uploadId, partNumber, contentLength: opts.contentLength }, opts.expiresIn);
  }

  /** Stores one part; re-uploading a part number replaces it, as on S3. */
  async putPart(key: string, uploadId: string, partNumber: number, body: Readable, contentLength: number): Promise<{ etag: string }> {
    checkPartNumber(partNumber);
    const dir = await this.openUpload(key, uploadId);
    const etag = await this.writeAtomic(path.join(dir, `${partNumber}.part`), body, contentLength);
    await writeFile(path.join(dir, `${partNumber}.etag`), etag);
    return { etag };
  }

  async completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<void> {
    const dir = await this.openUpload(key, uploadId);
    const ordered = await checkParts(dir, parts);
    const files = ordered.map((p) => path.join(dir, `${p.partNumber}.part`));
    await this.writeAtomic(resolveKeyPath(this.root, key), Readable.from(concatFiles(files)));
    await rm(dir, { recursive: true, force: true });
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    const dir = await this.openUpload(key, uploadId).catch(() => null);
    if (dir) await rm(dir, { recursive: true, force: true });
  }

  async health(): Promise<void> {
    try {
      await mkdir(this.tmpDir, { recursive: true });
      const probe = path.join(this.tmpDir, `health-${randomBytes(6).toString('hex')}`);
      await writeFile(probe, 'ok');
      await unlink(probe);
    } catch (err) {
      throw new CofferError('STORAGE_UNAVAILABLE', 'storage directory is not writable', { cause: err });
    }
  }

  /** Streams `body` into a temp file on the same filesystem, then renames it to `dest`; returns the quoted md5. */
  private async writeAtomic(dest: string, body: Readable | Buffer, contentLength?: number): Promise<string> {
    await mkdir(this.tmpDir, { recursive: true }).catch((err) => Promise.reject(fsError(err)));
    const tmp = path.join(this.tmpDir, randomBytes(12).toString('hex'));
    const md5 = createHash('md5');
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, done) {
        md5.update(chunk);
        done(null, chunk);
      },
    });
    const stages: NodeJS.ReadableStream[] = [Buffer.isBuffer(body) ? Readable.from([body]) : body];
    if (contentLength !== undefined) stages.push(lengthGuard(contentLength));
    try {
      await pipeline([...stages, hashing, createWriteStream(tmp, { flags: 'wx' })]);
      await mkdir(path.dirname(dest), { recursive: true });
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw fsError(err);
    }
    return `"${md5.digest('hex')}"`;
  }

  private uploadDir(uploadId: string): string {
    // The id becomes a path segment, so only our own format is accepted.
    if (!UPLOAD_ID.test(uploadId)) throw new CofferError('NOT_FOUND', 'upload not found');
    return path.join(this.root, '.multipart', uploadId);
  }

  /** The upload's directory, if the upload exists and belongs to `key` (S3 answers NoSuchUpload otherwise). */
  private async openUpload(key: string, uploadId: string): Promise<string> {
    const dir = this.uploadDir(uploadId);
    const owner = await readFile(path.join(dir, 'key'), 'utf8').catch(() => null);
    if (owner !== key) throw new CofferError('NOT_FOUND', 'upload not found');
    return dir;
  }
}

function checkPartNumber(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new CofferError('BAD_INPUT', 'part number must be 1-10000');
}

/** Same rules as S3's CompleteMultipartUpload: ascending unique part numbers whose etags match. */
async function checkParts(dir: string, parts: CompletedPart[]): Promise<CompletedPart[]> {
  if (parts.length === 0) throw new CofferError('BAD_INPUT', 'a multipart upload needs at least one part');
  const ordered = [...parts].sort((a, b) => a.partNumber - b.partNumber);
  for (const [i, part] of ordered.entries()) {
    if (i > 0 && ordered[i - 1]!.partNumber === part.partNumber) throw new CofferError('BAD_INPUT', 'duplicate part number');
    const stored = await readFile(path.join(dir, `${part.partNumber}.etag`), 'utf8').catch(() => null);
    if (stored === null || unquote(stored) !== unquote(part.etag)) {
      throw new CofferError('BAD_INPUT', `part ${part.partNumber} is missing or its etag does not match`);
    }
  }
  return ordered;
}

async function* concatFiles(files: string[]): AsyncGenerator<Buffer> {
  for (const file of files) yield* createReadStream(file);
}

/**
 * Depth-first walk that yields keys in the same order as S3 (lexicographic): a directory `a`
 * sorts as `a/`, so `a-b` and `a.txt` come before `a/x`. Subtrees that cannot contain a key
 * matching `prefix` or sorting after `after` are not entered.
 */
async function* walk(root: string, rel: string, prefix: string, after: string): AsyncGenerator<ListedObject> {
  const entries = await readdir(path.join(root, rel), { withFileTypes: true }).catch((err) => {
    if (isMissing(err)) return [];
    throw fsError(err);
  });
  const named = entries
    .filter((e) => !(rel === '' && (RESERVED_DIRS as readonly string[]).includes(e.name)))
    .map((e) => ({ entry: e, key: rel + e.name + (e.isDirectory() ? '/' : '') }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const { entry, key } of named) {
    if (entry.isDirectory()) {
      const mayMatch = key.startsWith(prefix) || prefix.startsWith(key);
      const mayFollow = key > after || after.startsWith(key);
      if (mayMatch && mayFollow) yield* walk(root, key, prefix, after);
    } else if (entry.isFile() && key.startsWith(prefix) && key > after) {
      const s = await stat(path.join(root, key)).catch(() => null);
      if (s) yield { key, sizeBytes: s.size, lastModified: s.mtime };
    }
  }
}

const unquote = (etag: string) => etag.replace(/"/g, '');

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** CofferErrors pass through; anything else is the disk failing us. No paths in the message. */
function fsError(err: unknown): CofferError {
  if (err instanceof CofferError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTDIR') {
    return new CofferError('CONFLICT', 'object key collides with an existing key prefix', { cause: err });
  }
  return new CofferError('STORAGE_UNAVAILABLE', 'storage directory failed', { cause: err });
}
