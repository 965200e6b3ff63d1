import type { Readable } from 'node:stream';

/** Facts about a stored object. */
export interface ObjectInfo {
  sizeBytes: number;
  lastModified?: Date;
  /** The quoted MD5 hex for objects written in one request (every part object). */
  etag?: string;
}

export interface ListedObject {
  key: string;
  sizeBytes: number;
  lastModified: Date;
  etag?: string;
}

export interface PresignGetOptions {
  /** Seconds the URL stays valid. */
  expiresIn: number;
  /** Sent back as `Content-Disposition: attachment; filename=...`. */
  filename?: string;
  contentType?: string;
}

export interface PresignCreateOptions {
  expiresIn: number;
  /** The exact body length the URL accepts. */
  contentLength: number;
  /** Content-MD5 (base64): the backend refuses a body with any other digest. */
  md5: string;
}

export interface PresignedRequest {
  url: string;
  /** Must be sent exactly as given: the signature covers them. */
  headers: Record<string, string>;
}

export interface CompletedPart {
  partNumber: number;
  etag: string;
}

export interface MultipartUpload {
  key: string;
  uploadId: string;
  initiated: Date;
}

/**
 * Where artifact bytes live. Both backends (S3-compatible and local disk) pass the same
 * contract suite in test/integration/storage-contract.test.ts.
 *
 * Two kinds of writes exist. Clients only ever write part objects of an upload in flight
 * (presignCreate: create-only, bound to their length and MD5, under uploads/). Everything else,
 * an artifact's own object included, is written by the server: put for inline artifacts, and
 * for uploads an assembly (createMultipart / copyPart / completeMultipart, or copyObject for a
 * single part) of parts it has verified. No URL a client holds can reach an artifact's object.
 *
 * Errors: a missing object is a CofferError NOT_FOUND; an unreachable or failing backend is
 * CofferError STORAGE_UNAVAILABLE with a message free of endpoints and credentials.
 */
export interface Storage {
  readonly backend: 's3' | 'fs';
  put(key: string, body: Readable | Buffer, opts: { contentType: string; contentLength?: number }): Promise<void>;
  /**
   * Streams the object, or the inclusive byte range [start, end] (end is clamped to the last byte).
   * `sizeBytes` is the size of the whole object, so callers can build a Content-Range.
   * A range that starts at or past the end is BAD_INPUT.
   */
  get(key: string, range?: { start: number; end?: number }): Promise<{ body: Readable; sizeBytes: number; etag?: string }>;
  /** null when the object does not exist. */
  head(key: string): Promise<ObjectInfo | null>;
  /** Idempotent: deleting a missing object succeeds. */
  delete(key: string): Promise<void>;
  /** Batched delete (S3 DeleteObjects, up to 1,000 keys a call). Idempotent. */
  deleteMany(keys: string[]): Promise<void>;
  list(prefix: string, opts?: { continuationToken?: string; limit?: number }): Promise<{ items: ListedObject[]; nextToken?: string }>;
  presignGet(key: string, opts: PresignGetOptions): Promise<string>;

  /**
   * Opens the staging area `prefix` (uploads/<tenant>/<artifact>/) for part URLs. On disk it is
   * a folder, and a part URL writes only while it exists: discardStaging closes it, so a reused
   * URL is refused. S3 has no folders: there a reused URL can only recreate a part object, which
   * no row owns and the orphan sweep removes; it still cannot reach an artifact's object.
   */
  openStaging(prefix: string): Promise<void>;
  /** Removes every part under `prefix` and closes it. Idempotent. */
  discardStaging(prefix: string): Promise<void>;
  /**
   * A URL that creates `key` once, with exactly `contentLength` bytes whose MD5 is `md5`: the
   * backend refuses other bytes (400 BadDigest), other lengths, and, where it supports
   * conditional writes, a second write (412; If-None-Match: *).
   */
  presignCreate(key: string, opts: PresignCreateOptions): Promise<PresignedRequest>;

  /** Starts the server's own assembly of an object from parts; nothing exists at `key` until completeMultipart. */
  createMultipart(key: string, opts: { contentType: string }): Promise<{ uploadId: string }>;
  /**
   * Copies the object `sourceKey` in as part `partNumber`, at byte `offset` of the result (the
   * disk backend writes there; S3 copies server-side). Copying a part again replaces it.
   * Returns the part's etag (its MD5), which equals the source's etag when the bytes are the same.
   */
  copyPart(key: string, uploadId: string, part: { partNumber: number; sourceKey: string; offset: number }): Promise<{ etag: string }>;
  completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<void>;
  /** Idempotent: aborting an unknown upload succeeds. */
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /** Multipart assemblies started under `prefix` and not yet completed or aborted (the orphan sweep's). */
  listMultipartUploads(prefix: string): Promise<MultipartUpload[]>;
  /**
   * Server-side copy of a whole object (the assembly of a one-part upload). Returns the copy's
   * etag where the backend computed one (S3: its MD5); the disk backend links the same bytes.
   */
  copyObject(sourceKey: string, key: string, opts: { contentType: string }): Promise<{ etag?: string }>;
  /** Removes what writes cut short by a crash left behind, older than `olderThan` (disk: temp files); returns how many. */
  removeStaleTemporaries(olderThan: Date): Promise<number>;

  /** Throws STORAGE_UNAVAILABLE when the bucket or directory cannot be reached. */
  health(): Promise<void>;
}
