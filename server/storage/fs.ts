import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UPLOADS_PREFIX } from '../../shared/keys.ts';
import type { StorageConfig } from '../config/index.ts';
import { CofferError } from '../errors.ts';
import { lengthGuard } from './length-guard.ts';
import { RESERVED_DIRS, resolveKeyPath } from './secure-path.ts';
import type { UrlSigner } from './signed-url.ts';
import type {
  CompletedPart,
  ListedObject,
  MultipartUpload,
  ObjectInfo,
  PresignCreateOptions,
  PresignedRequest,
  PresignGetOptions,
  Storage,
} from './types.ts';

type FsConfig = Extract<StorageConfig, { kind: 'fs' }>;

const UPLOAD_ID = /^[a-f0-9]{32}$/;
const DEFAULT_LIST_LIMIT = 1000;
/** Objects and folders are the service user's alone: stored content is nobody else's to read. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/**
 * Objects are plain files under `root`, so an operator can inspect and back them up with
 * ordinary tools. Every write goes to `.tmp/` first and is renamed (or, for create-only part
 * writes, hard-linked) into place: readers never see a partial file. The server's own
 * assemblies live in `.multipart/<uploadId>/` (`key`, and `data`, written at each part's offset)
 * until completed or aborted. Signed URLs point at server/http/fs-routes.ts, which uses `signer`
 * and `createFromUrl`.
 */
export class FsStorage implements Storage {
  readonly backend = 'fs' as const;
  private readonly root: string;
  private readonly tmpDir: string;
  /** `.etags/<key>` holds the quoted MD5 of a part written through a URL (S3 lists etags; a file has none). */
  private readonly etagDir: string;
  readonly signer: UrlSigner;

  constructor(config: FsConfig, signer: UrlSigner) {
    this.signer = signer;
    this.root = path.resolve(config.root);
    this.tmpDir = path.join(this.root, '.tmp');
    this.etagDir = path.join(this.root, '.etags');
  }

  async put(key: string, body: Readable | Buffer, opts: { contentType: string; contentLength?: number }): Promise<void> {
    const { tmp } = await this.writeTemp(body, opts.contentLength);
    await this.moveIntoPlace(tmp, resolveKeyPath(this.root, key));
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
      items.push({ ...item, etag: await this.etagOf(item.key) });
    }
    return { items };
  }

  async presignGet(key: string, opts: PresignGetOptions): Promise<string> {
    resolveKeyPath(this.root, key);
    return this.signer.sign({ op: 'get', key, filename: opts.filename, contentType: opts.contentType }, opts.expiresIn);
  }

  async openStaging(prefix: string): Promise<void> {
    await mkdir(this.stagingDir(prefix), { recursive: true, mode: DIR_MODE }).catch((err) => Promise.reject(fsError(err)));
  }

  /**
   * Renames the folder away before removing it: from that instant no part write can land in it
   * (their final link fails), even one whose body is still arriving.
   */
  async discardStaging(prefix: string): Promise<void> {
    const dir = this.stagingDir(prefix);
    const trash = path.join(this.tmpDir, `discard-${randomBytes(8).toString('hex')}`);
    await mkdir(this.tmpDir, { recursive: true, mode: DIR_MODE });
    const moved = await rename(dir, trash).then(
      () => true,
      (err) => (isMissing(err) ? false : Promise.reject(fsError(err))),
    );
    if (moved) await rm(trash, { recursive: true, force: true });
    await rm(path.join(this.etagDir, prefix), { recursive: true, force: true });
  }

  async presignCreate(key: string, opts: PresignCreateOptions): Promise<PresignedRequest> {
    resolveKeyPath(this.root, key);
    const url = this.signer.sign({ op: 'create', key, contentLength: opts.contentLength, md5: opts.md5 }, opts.expiresIn);
    return { url, headers: { 'content-md5': opts.md5, 'if-none-match': '*' } };
  }

  /**
   * A create-only write through a signed URL (server/http/fs-routes.ts): the body must have the
   * signed length and MD5, the key's folder must still be open (see openStaging), and the key must
   * not exist yet (a hard link fails rather than replace). Returns the quoted MD5 etag.
   */
  async createFromUrl(key: string, body: Readable, opts: { contentLength: number; md5: string }): Promise<{ etag: string }> {
    const dest = resolveKeyPath(this.root, key);
    const folder = await stat(path.dirname(dest)).catch(() => null);
    if (!folder?.isDirectory()) throw new CofferError('NOT_FOUND', 'upload not found: it was completed, aborted or deleted');
    const { tmp, md5 } = await this.writeTemp(body, opts.contentLength);
    try {
      if (md5.toString('base64') !== opts.md5) throw new CofferError('BAD_INPUT', 'BadDigest: the body does not match its Content-MD5');
      await link(tmp, dest).catch((err) => {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new CofferError('PRECONDITION', 'this part was already uploaded');
        if (isMissing(err)) throw new CofferError('NOT_FOUND', 'upload not found: it was completed, aborted or deleted');
        throw fsError(err);
      });
      const etag = `"${md5.toString('hex')}"`;
      const sidecar = path.join(this.etagDir, key);
      await mkdir(path.dirname(sidecar), { recursive: true, mode: DIR_MODE });
      await writeFile(sidecar, etag, { mode: FILE_MODE });
      return { etag };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Parts written through a URL have their MD5 on record; other files have no etag. */
  private async etagOf(key: string): Promise<string | undefined> {
    if (!key.startsWith(UPLOADS_PREFIX)) return undefined;
    return readFile(path.join(this.etagDir, key), 'utf8').catch(() => undefined);
  }

  async createMultipart(key: string): Promise<{ uploadId: string }> {
    resolveKeyPath(this.root, key);
    const uploadId = randomBytes(16).toString('hex');
    const dir = this.uploadDir(uploadId);
    try {
      await mkdir(dir, { recursive: true, mode: DIR_MODE });
      await writeFile(path.join(dir, 'key'), key, { mode: FILE_MODE });
      await writeFile(path.join(dir, 'data'), '', { mode: FILE_MODE });
    } catch (err) {
      throw fsError(err);
    }
    return { uploadId };
  }

  /** Writes the source's bytes at `offset` of the assembly: copying a part again writes the same range again. */
  async copyPart(
    key: string,
    uploadId: string,
    part: { partNumber: number; sourceKey: string; offset: number },
  ): Promise<{ etag: string }> {
    const dir = await this.openUpload(key, uploadId);
    const md5 = createHash('md5');
    try {
      await pipeline(
        createReadStream(resolveKeyPath(this.root, part.sourceKey)),
        tap((chunk) => md5.update(chunk)),
        createWriteStream(path.join(dir, 'data'), { flags: 'r+', start: part.offset }),
      );
    } catch (err) {
      throw isMissing(err) ? new CofferError('NOT_FOUND', 'part not found') : fsError(err);
    }
    return { etag: `"${md5.digest('hex')}"` };
  }

  async completeMultipart(key: string, uploadId: string, _parts: CompletedPart[]): Promise<void> {
    const dir = await this.openUpload(key, uploadId);
    await this.moveIntoPlace(path.join(dir, 'data'), resolveKeyPath(this.root, key));
    await rm(dir, { recursive: true, force: true });
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    const dir = await this.openUpload(key, uploadId).catch(() => null);
    if (dir) await rm(dir, { recursive: true, force: true });
  }

  async listMultipartUploads(prefix: string): Promise<MultipartUpload[]> {
    const base = path.join(this.root, '.multipart');
    const ids = await readdir(base).catch((err) => (isMissing(err) ? [] : Promise.reject(fsError(err))));
    const found: MultipartUpload[] = [];
    for (const uploadId of ids.filter((id) => UPLOAD_ID.test(id))) {
      const key = await readFile(path.join(base, uploadId, 'key'), 'utf8').catch(() => null);
      const s = await stat(path.join(base, uploadId)).catch(() => null);
      if (key?.startsWith(prefix) && s) found.push({ key, uploadId, initiated: s.birthtime.getTime() ? s.birthtime : s.mtime });
    }
    return found;
  }

  /**
   * A hard link: part files are never written again once created (createFromUrl links, and
   * refuses an existing key), so the copy can share their bytes. No etag: nothing was read.
   */
  async copyObject(sourceKey: string, key: string): Promise<{ etag?: string }> {
    const source = resolveKeyPath(this.root, sourceKey);
    await mkdir(this.tmpDir, { recursive: true, mode: DIR_MODE });
    const tmp = path.join(this.tmpDir, randomBytes(12).toString('hex'));
    await link(source, tmp).catch((err) =>
      Promise.reject(isMissing(err) ? new CofferError('NOT_FOUND', 'object not found') : fsError(err)),
    );
    await this.moveIntoPlace(tmp, resolveKeyPath(this.root, key));
    return {};
  }

  /** Temp files of writes a crash cut short, and leftovers of discarded folders, older than `olderThan`. */
  async removeStaleTemporaries(olderThan: Date): Promise<number> {
    const names = await readdir(this.tmpDir).catch((err) => (isMissing(err) ? [] : Promise.reject(fsError(err))));
    let removed = 0;
    for (const name of names) {
      const file = path.join(this.tmpDir, name);
      const s = await stat(file).catch(() => null);
      if (s && s.mtime < olderThan) {
        await rm(file, { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }

  async health(): Promise<void> {
    try {
      await mkdir(this.tmpDir, { recursive: true, mode: DIR_MODE });
      const probe = path.join(this.tmpDir, `health-${randomBytes(6).toString('hex')}`);
      await writeFile(probe, 'ok');
      await unlink(probe);
    } catch (err) {
      throw new CofferError('STORAGE_UNAVAILABLE', 'storage directory is not writable', { cause: err });
    }
  }

  /** Streams `body` into a private temp file on the same filesystem; returns its path and MD5. */
  private async writeTemp(body: Readable | Buffer, contentLength?: number): Promise<{ tmp: string; md5: Buffer }> {
    await mkdir(this.tmpDir, { recursive: true, mode: DIR_MODE }).catch((err) => Promise.reject(fsError(err)));
    const tmp = path.join(this.tmpDir, randomBytes(12).toString('hex'));
    const md5 = createHash('md5');
    const stages: NodeJS.ReadableStream[] = [Buffer.isBuffer(body) ? Readable.from([body]) : body];
    if (contentLength !== undefined) stages.push(lengthGuard(contentLength));
    try {
      await pipeline([...stages, tap((chunk) => md5.update(chunk)), createWriteStream(tmp, { flags: 'wx', mode: FILE_MODE })]);
    } catch (err) {
      await rm(tmp, { force: true });
      throw fsError(err);
    }
    return { tmp, md5: md5.digest() };
  }

  private async moveIntoPlace(tmp: string, dest: string): Promise<void> {
    try {
      await mkdir(path.dirname(dest), { recursive: true, mode: DIR_MODE });
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw fsError(err);
    }
  }

  private stagingDir(prefix: string): string {
    return resolveKeyPath(this.root, prefix.replace(/\/+$/, ''));
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

/** A pass-through stage that sees every chunk. */
function tap(see: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      see(chunk);
      done(null, chunk);
    },
  });
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
