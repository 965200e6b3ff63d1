import { pipeline, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  type CORSRule,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketCorsCommand,
  GetBucketLifecycleConfigurationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  type LifecycleRule,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutBucketCorsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { StorageConfig } from '../config/index.ts';
import { CofferError } from '../errors.ts';
import { attachmentDisposition } from './content-disposition.ts';
import { lengthGuard } from './length-guard.ts';
import { storageUnavailable, toStorageError } from './s3-errors.ts';
import { S3Http } from './s3-http.ts';
import type { CompletedPart, MultipartUpload, PresignCreateOptions, PresignedRequest, PresignGetOptions, Storage } from './types.ts';

type S3Config = Extract<StorageConfig, { kind: 's3' }>;

/** Streams up to this size go up in one PutObject; larger or unknown ones through lib-storage's multipart Upload. */
const SINGLE_PUT_MAX = 16 * 1024 * 1024;
const UPLOAD_PART_SIZE = 8 * 1024 * 1024;
const DELETE_BATCH = 1000;
const LEFTOVER_RECHECK_MS = 250;
const CONNECTION_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 60_000;

export interface S3StorageOptions {
  /** Socket connect timeout; an unreachable endpoint fails after this (times maxAttempts). */
  connectionTimeoutMs?: number;
  /**
   * Wall-clock limit from sending a request (body included) to its response headers; a download
   * body streams on without it. Bodies sent through put are at most one 16 MiB request or 8 MiB part.
   */
  requestTimeoutMs?: number;
}

export function createS3Client(config: S3Config, opts: S3StorageOptions = {}): S3Client {
  const client = new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    // R2, MinIO, Ceph and s3rver reject or mishandle the default aws-chunked CRC32 trailers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Fail within seconds when the backend is down instead of retrying for minutes.
    maxAttempts: 2,
    requestHandler: {
      connectionTimeout: opts.connectionTimeoutMs ?? CONNECTION_TIMEOUT_MS,
      requestTimeout: opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      // Without this the SDK only logs a warning when requestTimeout passes and keeps waiting.
      throwOnRequestTimeout: true,
    },
  });
  if (config.forcePathStyle) stripBucketRootSlash(client);
  return client;
}

/**
 * In path style the SDK addresses bucket-level operations as `/<bucket>/?...`. AWS, R2, MinIO and
 * Ceph treat that exactly like `/<bucket>`, but s3rver signs and routes the slash-less form and
 * answers SignatureDoesNotMatch. This lives in the production client rather than in test code
 * because it is harmless for real servers (it only touches the three bucket-level commands, which
 * never carry a key) and it lets the integration tests and local development run the very client
 * that production runs, against s3rver, without a second code path.
 */
function stripBucketRootSlash(client: S3Client): void {
  const bucketCommands = new Set([
    'ListObjectsV2Command',
    'DeleteObjectsCommand',
    'HeadBucketCommand',
    'ListMultipartUploadsCommand',
    'GetBucketCorsCommand',
    'PutBucketCorsCommand',
    'GetBucketLifecycleConfigurationCommand',
    'PutBucketLifecycleConfigurationCommand',
  ]);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { path?: unknown };
      if (bucketCommands.has(context.commandName ?? '') && typeof request.path === 'string' && request.path.length > 1) {
        request.path = request.path.replace(/\/$/, '');
      }
      return next(args);
    },
    { step: 'build', name: 'cofferStripBucketRootSlash' },
  );
}

/**
 * Sends a PutObject of a stream. The SDK pipes a stream body into the request without watching
 * it, so a failing or wrongly sized stream would leave the request waiting for bytes that never
 * come; here either aborts the request and surfaces the stream's error.
 */
async function sendStreamed(
  body: Readable,
  length: number,
  send: (body: Readable, abortSignal: AbortSignal) => Promise<unknown>,
): Promise<void> {
  const controller = new AbortController();
  let failure: unknown;
  const guarded = pipeline(body, lengthGuard(length), (err) => {
    if (err) {
      failure = err;
      controller.abort(err);
    }
  });
  try {
    await send(guarded, controller.signal);
  } catch (err) {
    if (failure) throw new BodyFailed(failure);
    throw err;
  }
  // A lenient server (s3rver) may answer 200 to a short body before our abort lands.
  if (failure) throw new BodyFailed(failure);
}

/**
 * The body stream failed (wrong length, read error). A lenient server may still have created an
 * object, whole or empty, from what arrived before the abort: the caller removes it.
 */
class BodyFailed extends Error {
  readonly failure: unknown;

  constructor(failure: unknown) {
    super('request body failed');
    this.failure = failure;
  }
}

/**
 * S3-compatible backend (AWS S3, R2, MinIO, Ceph RGW, s3rver). Every SDK error leaves through
 * toStorageError, so callers only ever see CofferErrors without endpoints or keys in them.
 */
export class S3Storage implements Storage {
  readonly backend = 's3' as const;
  private readonly client: S3Client;
  /** Signs URLs for clients: the same client unless they reach the bucket at S3_PUBLIC_ENDPOINT. */
  private readonly signer: S3Client;
  private readonly bucket: string;
  /** The one-request object calls that sit on artifact.put's and artifact.get's path. */
  private readonly objects: S3Http;

  constructor(config: S3Config, opts: S3StorageOptions = {}) {
    this.client = createS3Client(config, opts);
    this.objects = new S3Http(config, {
      connectionTimeoutMs: opts.connectionTimeoutMs ?? CONNECTION_TIMEOUT_MS,
      requestTimeoutMs: opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    });
    this.signer = config.publicEndpoint ? createS3Client({ ...config, endpoint: config.publicEndpoint }, opts) : this.client;
    this.bucket = config.bucket;
  }

  put(Key: string, body: Readable | Buffer, { contentType, contentLength }: { contentType: string; contentLength?: number }) {
    const { client, bucket: Bucket } = this;
    return call('object', async () => {
      // An in-memory body, whatever its size, goes up in one PutObject, as it always did.
      if (Buffer.isBuffer(body)) return this.objects.put(Key, body, contentType);
      if (contentLength !== undefined && contentLength <= SINGLE_PUT_MAX) {
        await sendStreamed(body, contentLength, (Body, abortSignal) =>
          client.send(new PutObjectCommand({ Bucket, Key, Body, ContentType: contentType, ContentLength: contentLength }), { abortSignal }),
        ).catch(async (err: unknown) => {
          if (!(err instanceof BodyFailed)) throw err;
          await this.removeLeftover(Key);
          throw err.failure;
        });
        return;
      }
      // Upload reads the body itself (so it sees stream errors) and aborts its multipart upload on failure.
      const Body = contentLength === undefined ? body : pipeline(body, lengthGuard(contentLength), () => {});
      await new Upload({
        client,
        params: { Bucket, Key, Body, ContentType: contentType },
        partSize: UPLOAD_PART_SIZE,
        queueSize: 4,
      }).done();
    });
  }

  /**
   * Removes what a failed body may have left. A lenient server (s3rver) may store the aborted
   * request only after our first delete has run, so look once more a moment later.
   */
  private async removeLeftover(Key: string) {
    const remove = () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key })).catch(() => {});
    await remove();
    await sleep(LEFTOVER_RECHECK_MS);
    if (await this.head(Key).catch(() => null)) await remove();
  }

  get(Key: string, range?: { start: number; end?: number }) {
    return call('object', async () => {
      return this.objects.get(Key, range ? `bytes=${range.start}-${range.end ?? ''}` : undefined);
    });
  }

  head(Key: string) {
    return call('object', async () => {
      try {
        const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
        return { sizeBytes: res.ContentLength ?? 0, lastModified: res.LastModified, etag: res.ETag };
      } catch (err) {
        if (toStorageError(err, 'object').code === 'NOT_FOUND') return null;
        throw err;
      }
    });
  }

  delete(Key: string) {
    return call('object', async () => void (await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }))));
  }

  deleteMany(keys: string[]) {
    return call('object', async () => {
      for (let i = 0; i < keys.length; i += DELETE_BATCH) {
        const Objects = keys.slice(i, i + DELETE_BATCH).map((Key) => ({ Key }));
        const res = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects, Quiet: true } }));
        // Per-key failures come back in a 200 response; a missing key is not one of them.
        if (res.Errors?.length) throw storageUnavailable(res.Errors);
      }
    });
  }

  list(Prefix: string, opts: { continuationToken?: string; limit?: number } = {}) {
    return call('object', async () => {
      const res = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix, ContinuationToken: opts.continuationToken, MaxKeys: opts.limit ?? 1000 }),
      );
      const items = (res.Contents ?? []).map((o) => ({
        key: o.Key!,
        sizeBytes: o.Size ?? 0,
        lastModified: o.LastModified ?? new Date(0),
        etag: o.ETag,
      }));
      return { items, nextToken: res.IsTruncated ? res.NextContinuationToken : undefined };
    });
  }

  presignGet(Key: string, opts: PresignGetOptions) {
    return call('object', () => {
      const ResponseContentDisposition = opts.filename === undefined ? undefined : attachmentDisposition(opts.filename);
      const command = new GetObjectCommand({ Bucket: this.bucket, Key, ResponseContentDisposition, ResponseContentType: opts.contentType });
      return getSignedUrl(this.signer, command, { expiresIn: opts.expiresIn });
    });
  }

  /** S3 has no folders to open: part URLs are bounded by their expiry and their key. */
  async openStaging(): Promise<void> {}

  async discardStaging(prefix: string): Promise<void> {
    for (;;) {
      const page = await this.list(prefix);
      await this.deleteMany(page.items.map((o) => o.key));
      if (!page.nextToken) return;
    }
  }

  /**
   * A PutObject URL with Content-Length, Content-MD5 and If-None-Match: * as signed headers: the
   * bucket checks the body's MD5 (AWS, R2, MinIO, Ceph all do) and refuses to replace an object
   * that exists (all four support conditional writes; s3rver does not, the test shim adds it).
   */
  presignCreate(Key: string, opts: PresignCreateOptions): Promise<PresignedRequest> {
    return call('object', async () => {
      const command = new PutObjectCommand({
        Bucket: this.bucket,
        Key,
        ContentLength: opts.contentLength,
        ContentMD5: opts.md5,
        IfNoneMatch: '*',
      });
      const url = await getSignedUrl(this.signer, command, {
        expiresIn: opts.expiresIn,
        signableHeaders: new Set(['content-length', 'content-md5', 'if-none-match']),
        // In the query string most servers would not compare them with the request.
        unhoistableHeaders: new Set(['content-md5', 'if-none-match']),
      });
      return { url, headers: { 'content-md5': opts.md5, 'if-none-match': '*' } };
    });
  }

  createMultipart(Key: string, { contentType }: { contentType: string }) {
    return call('object', async () => {
      const res = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key, ContentType: contentType }));
      return { uploadId: res.UploadId! };
    });
  }

  copyPart(Key: string, UploadId: string, part: { partNumber: number; sourceKey: string }) {
    return call('upload', async () => {
      const res = await this.client.send(
        new UploadPartCopyCommand({
          Bucket: this.bucket,
          Key,
          UploadId,
          PartNumber: part.partNumber,
          CopySource: this.copySource(part.sourceKey),
        }),
      );
      return { etag: res.CopyPartResult?.ETag ?? '' };
    });
  }

  copyObject(sourceKey: string, Key: string, { contentType }: { contentType: string }) {
    return call('object', async () => {
      const res = await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key,
          CopySource: this.copySource(sourceKey),
          ContentType: contentType,
          MetadataDirective: 'REPLACE',
        }),
      );
      return { etag: res.CopyObjectResult?.ETag };
    });
  }

  listMultipartUploads(Prefix: string): Promise<MultipartUpload[]> {
    return bucketCall('multipart upload listing', async () => {
      const found: MultipartUpload[] = [];
      let KeyMarker: string | undefined;
      let UploadIdMarker: string | undefined;
      do {
        const res = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix, KeyMarker, UploadIdMarker }));
        for (const u of res.Uploads ?? []) found.push({ key: u.Key!, uploadId: u.UploadId!, initiated: u.Initiated ?? new Date(0) });
        ({ NextKeyMarker: KeyMarker, NextUploadIdMarker: UploadIdMarker } = res);
        if (!res.IsTruncated) break;
      } while (KeyMarker);
      return found;
    });
  }

  /** S3 has no temp files of its own: incomplete multipart assemblies are what listMultipartUploads finds. */
  async removeStaleTemporaries(): Promise<number> {
    return 0;
  }

  completeMultipart(Key: string, UploadId: string, parts: CompletedPart[]) {
    const { client, bucket: Bucket } = this;
    return call('upload', async () => {
      const Parts = [...parts].sort((a, b) => a.partNumber - b.partNumber).map((p) => ({ PartNumber: p.partNumber, ETag: p.etag }));
      try {
        await client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));
      } catch (err) {
        // Ceph 16 answers 500 "completion already in progress" for an aborted or unknown upload;
        // asking ListParts tells that apart from a real outage (NoSuchUpload becomes NOT_FOUND).
        if (toStorageError(err, 'upload').code !== 'STORAGE_UNAVAILABLE') throw err;
        await client.send(new ListPartsCommand({ Bucket, Key, UploadId, MaxParts: 1 })).catch((probe: unknown) => {
          throw toStorageError(probe, 'upload').code === 'NOT_FOUND' ? probe : err;
        });
        throw err;
      }
    });
  }

  abortMultipart(Key: string, UploadId: string) {
    return call('upload', async () => {
      try {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }));
      } catch (err) {
        if (toStorageError(err, 'upload').code !== 'NOT_FOUND') throw err;
      }
    });
  }

  /** `bucket/key`, each key segment percent-encoded, as x-amz-copy-source wants it. */
  private copySource(key: string): string {
    return `${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  async health() {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      // Any failure here, a missing bucket included, leaves the backend unusable.
      throw storageUnavailable(err);
    }
  }

  /** The bucket's lifecycle rules; none when it has no configuration. PRECONDITION where the server has no lifecycle API. */
  async lifecycleRules(): Promise<LifecycleRule[]> {
    return bucketCall('lifecycle configuration', () =>
      this.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: this.bucket })).then(
        (r) => r.Rules ?? [],
        (err: unknown) => ((err as { name?: string }).name === 'NoSuchLifecycleConfiguration' ? [] : Promise.reject(err)),
      ),
    );
  }

  /** Replaces the bucket's whole lifecycle configuration (callers merge with lifecycleRules() first). */
  async putLifecycleRules(Rules: LifecycleRule[]): Promise<void> {
    await bucketCall('lifecycle configuration', () =>
      this.client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: this.bucket, LifecycleConfiguration: { Rules } })),
    );
  }

  /** The bucket's CORS rules; none when it has no configuration. */
  async corsRules(): Promise<CORSRule[]> {
    return bucketCall('CORS configuration', () =>
      this.client.send(new GetBucketCorsCommand({ Bucket: this.bucket })).then(
        (r) => r.CORSRules ?? [],
        (err: unknown) => ((err as { name?: string }).name === 'NoSuchCORSConfiguration' ? [] : Promise.reject(err)),
      ),
    );
  }

  /** Replaces the bucket's whole CORS configuration (callers merge with corsRules() first). */
  async putCorsRules(CORSRules: CORSRule[]): Promise<void> {
    await bucketCall('CORS configuration', () =>
      this.client.send(new PutBucketCorsCommand({ Bucket: this.bucket, CORSConfiguration: { CORSRules } })),
    );
  }
}

async function call<T>(what: 'object' | 'upload', fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toStorageError(err, what);
  }
}

/** s3rver and some gateways answer 501 NotImplemented for bucket configuration calls. */
async function bucketCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if ((err as { name?: string }).name === 'NotImplemented') {
      throw new CofferError('PRECONDITION', `this S3 backend does not support bucket ${what} (NotImplemented)`, { cause: err });
    }
    throw toStorageError(err, 'object');
  }
}
