import crypto from 'node:crypto';
import { access, mkdir, mkdtemp, open, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import S3rver, { type S3rverStore } from '@20minutes/s3rver';
import type { StorageConfig } from '../../server/config/index.ts';
import { ensureBucket, SEPARATE_BUCKETS } from './bucket.ts';

type S3Config = Extract<StorageConfig, { kind: 's3' }>;

export interface TestS3 {
  config: S3Config;
  stop(): Promise<void>;
}

/**
 * True when startTestS3 runs s3rver rather than a real server. What s3rver 4 gets wrong, so
 * tests check the closest observable thing instead:
 * - it re-encodes query values with encodeURIComponent when checking a presigned URL, so a signed
 *   value containing `'`, `(`, `)`, `*` or `!` (an RFC 5987 `filename*=UTF-8''...`) never verifies;
 * - it does not compare part etags on CompleteMultipartUpload;
 * - `Range: bytes=0-0` returns the whole object.
 * (Missing AbortMultipartUpload, NoSuchUpload, Content-MD5 and If-None-Match checks on PutObject
 * and ListMultipartUploads are patched in by the shims below, and two races in its store are
 * closed by raceFreeStore.)
 */
export function usesS3rver(): boolean {
  return !process.env.S3_ENDPOINT;
}

const BUCKET = 'coffer-test';

/**
 * The S3 server for integration tests: the one in S3_ENDPOINT (Ceph, MinIO, AWS...) when set,
 * else an in-process s3rver on 127.0.0.1 with a fresh directory. s3rver verifies SigV4, so
 * signing mistakes fail here as they would in production.
 */
export async function startTestS3(): Promise<TestS3> {
  const env = process.env;
  if (!usesS3rver()) {
    const config: S3Config = {
      kind: 's3',
      endpoint: env.S3_ENDPOINT!,
      region: env.S3_REGION ?? 'us-east-1',
      bucket: env.S3_BUCKET ?? BUCKET,
      accessKeyId: env.S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? '',
      forcePathStyle: env.S3_FORCE_PATH_STYLE !== 'false',
    };
    await ensureBucket(config);
    return { config, stop: async () => {} };
  }
  polyfillSingleDes();
  const directory = await mkdtemp(path.join(tmpdir(), 'coffer-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    vhostBuckets: false,
    configureBuckets: [BUCKET, ...Object.values(SEPARATE_BUCKETS)].map((name) => ({ name })),
  });
  raceFreeStore(server.store);
  server.middleware.unshift(multipartShim(directory));
  server.middleware.unshift(createOnlyShim());
  server.middleware.unshift(listUploadsShim(directory));
  const { port } = await server.run();
  const config: S3Config = {
    kind: 's3',
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    bucket: BUCKET,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
  };
  return {
    config,
    stop: async () => {
      // The SDK keeps sockets alive; close() alone would wait for them to time out.
      server.httpServer?.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 (Node >= 17)
 * only ships in its legacy provider, so every truncated listing is a 500. Triple DES with three
 * equal keys is single DES and is in the default provider, so s3rver's 'des' is mapped onto it.
 * Only the algorithm name 'des' is touched, which nothing else can use on this Node anyway.
 */
function polyfillSingleDes(): void {
  const patch = <F extends typeof crypto.createCipheriv | typeof crypto.createDecipheriv>(original: F): F =>
    ((algorithm: string, key: Buffer, iv: Buffer, ...rest: unknown[]) =>
      algorithm === 'des'
        ? original('des-ede3-cbc', Buffer.concat([key, key, key]), iv)
        : (original as (...args: unknown[]) => unknown)(algorithm, key, iv, ...rest)) as F;
  if ((crypto as { desPolyfilled?: boolean }).desPolyfilled) return;
  crypto.createCipheriv = patch(crypto.createCipheriv);
  crypto.createDecipheriv = patch(crypto.createDecipheriv);
  (crypto as { desPolyfilled?: boolean }).desPolyfilled = true;
}

/**
 * s3rver's filesystem store loses and tears objects when requests overlap, as they do when every
 * test file shares this one server:
 * - after a delete, it removes each parent folder it found empty with a recursive rm, which also
 *   takes whatever another request wrote into that folder meanwhile: an acknowledged PUT, gone;
 * - it writes an object in place, so a GET during the PUT reads part of it (and saves the MD5 of
 *   that part as the object's etag).
 * S3 does neither, so this store writes beside the object and renames it into place (an object
 * appears whole or not at all), and removes emptied folders with rmdir, which refuses a folder
 * that is no longer empty. (Still so in s3rver 5.0.0.)
 */
function raceFreeStore(store: S3rverStore): void {
  store.putContent = async (objectPath, content) => {
    // Not named like an object (`._S3rver_object`), so listings skip it.
    const temp = `${objectPath}.writing-${crypto.randomBytes(6).toString('hex')}`;
    const md5 = crypto.createHash('md5');
    let size = 0;
    const file = await openCreating(temp);
    try {
      await pipeline(
        Buffer.isBuffer(content) ? Readable.from([content]) : content,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            md5.update(chunk);
            size += chunk.length;
            yield chunk;
          }
        },
        file.createWriteStream(),
      );
      await rename(temp, objectPath);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return [size, md5.digest('hex')];
  };
  store.deleteObject = async (bucket, key) => {
    await Promise.all(['object', 'object.md5', 'metadata.json'].map((r) => rm(store.getResourcePath(bucket, key, r), { force: true })));
    const folders = key.split('/').slice(0, -1); // the last part is in the file names
    for (; folders.length; folders.pop()) {
      const removed = await rmdir(path.join(store.getBucketPath(bucket), ...folders)).then(
        () => true,
        () => false, // not empty (any more), or already gone
      );
      if (!removed) return;
    }
  };
}

/** Creates a file and its folder; again when a delete removed the emptied folder in between. */
async function openCreating(file: string) {
  for (let attempt = 0; ; attempt++) {
    await mkdir(path.dirname(file), { recursive: true });
    try {
      return await open(file, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw err;
    }
  }
}

/**
 * s3rver 4 has no AbortMultipartUpload (it answers 405 after checking the signature) and
 * accepts parts and completion for uploads that do not exist. This puts S3's behaviour in
 * front of it: abort deletes the upload, and an unknown upload id is NoSuchUpload (404).
 */
function multipartShim(directory: string): S3rver['middleware'][number] {
  return async (ctx, next) => {
    const uploadId = ctx.query.uploadId;
    if (typeof uploadId !== 'string' || !/^[a-f0-9]+$/.test(uploadId)) return next();
    const uploads = uploadsDir(directory, ctx.path);
    if (!uploads) return next();
    const dir = path.join(uploads, uploadId);
    if (ctx.method === 'DELETE') {
      try {
        await next();
      } catch (err) {
        if ((err as { code?: string }).code !== 'MethodNotAllowed') throw err;
        await rm(dir, { recursive: true, force: true });
        ctx.status = 204;
        ctx.body = null;
      }
      return;
    }
    const exists = await access(path.join(dir, 'key')).then(
      () => true,
      () => false,
    );
    if (exists) return next();
    ctx.status = 404;
    ctx.type = 'application/xml';
    ctx.body =
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>';
  };
}

/**
 * s3rver ignores Content-MD5 and If-None-Match on PutObject. S3, R2, MinIO and Ceph refuse a body
 * whose MD5 differs (400 BadDigest) and, with If-None-Match: *, a key that exists (412); Coffer's
 * part URLs rely on both. This checks the condition first, lets s3rver store the object, and
 * removes it again if its MD5 was not the one declared.
 */
function createOnlyShim(): S3rver['middleware'][number] {
  const xmlError = (ctx: Parameters<S3rver['middleware'][number]>[0], status: number, code: string) => {
    ctx.status = status;
    ctx.type = 'application/xml';
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code}</Message></Error>`;
  };
  return async (ctx, next) => {
    const md5 = ctx.get('content-md5');
    if (ctx.method !== 'PUT' || ctx.query.uploadId !== undefined || ctx.get('x-amz-copy-source') || (!md5 && !ctx.get('if-none-match'))) {
      return next();
    }
    const [, bucket, ...rest] = ctx.path.split('/');
    const key = decodeURIComponent(rest.join('/'));
    if (ctx.get('if-none-match') === '*' && bucket && (await ctx.store.existsObject(bucket, key)))
      return xmlError(ctx, 412, 'PreconditionFailed');
    await next();
    const stored = typeof ctx.response.etag === 'string' ? ctx.response.etag.replace(/"/g, '') : '';
    if (ctx.status === 200 && md5 && bucket && Buffer.from(md5, 'base64').toString('hex') !== stored) {
      await ctx.store.deleteObject(bucket, key);
      xmlError(ctx, 400, 'BadDigest');
    }
  };
}

/** s3rver has no ListMultipartUploads; this lists its own uploads directory the way S3 answers. */
function listUploadsShim(directory: string): S3rver['middleware'][number] {
  return async (ctx, next) => {
    if (ctx.method !== 'GET' || ctx.query.uploads === undefined || ctx.path.split('/').filter(Boolean).length !== 1) return next();
    const dir = uploadsDir(directory, ctx.path);
    if (!dir) return next();
    const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
    const ids = await readdir(dir).catch(() => [] as string[]);
    const uploads: string[] = [];
    for (const id of ids) {
      const key = await readFile(path.join(dir, id, 'key'), 'utf8').catch(() => null);
      const info = await stat(path.join(dir, id)).catch(() => null);
      if (key?.startsWith(prefix) && info) {
        uploads.push(
          `<Upload><Key>${escapeXml(key)}</Key><UploadId>${id}</UploadId><Initiated>${info.mtime.toISOString()}</Initiated></Upload>`,
        );
      }
    }
    ctx.status = 200;
    ctx.type = 'application/xml';
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>${uploads.join('')}</ListMultipartUploadsResult>`;
  };
}

/** Where s3rver keeps the multipart uploads of the bucket a path-style request names; undefined without one. */
function uploadsDir(directory: string, requestPath: string): string | undefined {
  const bucket = requestPath.split('/')[1];
  return bucket && /^[a-z0-9][a-z0-9.-]*$/.test(bucket) ? path.join(directory, bucket, '._S3rver_uploads') : undefined;
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
