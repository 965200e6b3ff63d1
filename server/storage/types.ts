import type { Readable } from 'node:stream';

/** Facts about a stored object. */
export interface ObjectInfo {
  sizeBytes: number;
  lastModified?: Date;
}

export interface ListedObject {
  key: string;
  sizeBytes: number;
  lastModified: Date;
}

export interface PresignGetOptions {
  /** Seconds the URL stays valid. */
  expiresIn: number;
  /** Sent back as `Content-Disposition: attachment; filename=...`. */
  filename?: string;
  contentType?: string;
}

export interface PresignPutOptions {
  expiresIn: number;
  contentType: string;
  /** The exact body length the URL accepts. */
  contentLength: number;
  /** Hex sha256 of the body; where the backend supports it, it is bound into the signature. */
  sha256?: string;
}

export interface PresignedPut {
  url: string;
  headers: Record<string, string>;
}

export interface CompletedPart {
  partNumber: number;
  etag: string;
}

/**
 * Where artifact bytes live. Both backends (S3-compatible and local disk) pass the same
 * contract suite in test/integration/storage-contract.test.ts.
 *
 * Errors: a missing object is a CofferError NOT_FOUND; an unreachable or failing backend is
 * CofferError STORAGE_UNAVAILABLE with a message free of endpoints and credentials.
 */
export interface Storage {
  readonly backend: 's3' | 'fs';
  /**
   * Whether a PUT signed with a sha256 (PresignPutOptions.sha256) is refused by the backend
   * when the body does not match it: then the bytes need not be read back to be verified.
   */
  readonly verifiesSha256OnPut: boolean;
  put(key: string, body: Readable | Buffer, opts: { contentType: string; contentLength?: number }): Promise<void>;
  /**
   * Streams the object, or the inclusive byte range [start, end] (end is clamped to the last byte).
   * `sizeBytes` is the size of the whole object, so callers can build a Content-Range.
   * A range that starts at or past the end is BAD_INPUT.
   */
  get(key: string, range?: { start: number; end?: number }): Promise<{ body: Readable; sizeBytes: number }>;
  /** null when the object does not exist. */
  head(key: string): Promise<ObjectInfo | null>;
  /** Idempotent: deleting a missing object succeeds. */
  delete(key: string): Promise<void>;
  /** Batched delete (S3 DeleteObjects, up to 1,000 keys a call). Idempotent. */
  deleteMany(keys: string[]): Promise<void>;
  list(prefix: string, opts?: { continuationToken?: string; limit?: number }): Promise<{ items: ListedObject[]; nextToken?: string }>;
  presignGet(key: string, opts: PresignGetOptions): Promise<string>;
  /**
   * `headers` must be sent with the upload exactly as given (the signature covers them).
   * Content-Length is bound too but left out: HTTP clients set it from the body.
   */
  presignPut(key: string, opts: PresignPutOptions): Promise<PresignedPut>;
  createMultipart(key: string, opts: { contentType: string }): Promise<{ uploadId: string }>;
  presignPart(key: string, uploadId: string, partNumber: number, opts: { expiresIn: number; contentLength: number }): Promise<string>;
  completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<void>;
  /** Idempotent: aborting an unknown upload succeeds. */
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /** Throws STORAGE_UNAVAILABLE when the bucket or directory cannot be reached. */
  health(): Promise<void>;
}
