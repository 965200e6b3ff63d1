import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { TRPCClient } from '@trpc/client';
import type { AppRouter } from '../../server/routers/_app.ts';
import type { CreateUploadInput, UploadInstructions } from '../../shared/schemas/upload.ts';
import type { CreateVersionInput } from '../../shared/schemas/version.ts';
import { type ByteSource, type SendOptions, sendToInstructions } from './transfer.ts';

/** Runtime-safe in browsers: no Node imports here (see node.ts for paths and streams). */

export interface UploadOptions extends SendOptions, Pick<CreateUploadInput, 'kind' | 'filename' | 'entityType' | 'entityId' | 'metadata'> {
  /** Defaults to the Blob's type, else application/octet-stream. */
  contentType?: string;
}

/**
 * Bytes ready to send. The sha256 is declared exactly once: `sha256` when it is known up front
 * (declared at createUpload, where a backend may bind it into the signed PUT), else `hash`,
 * one ordered pass over the bytes run while the parts are sent, declared at completeUpload.
 */
export interface PreparedSource extends HashedSource {
  sha256?: string;
  contentType?: string;
  /** Removes whatever preparing left behind (a spooled temp file). */
  dispose(): Promise<void>;
}

/** A source whose checksum may still have to be computed while it is sent. */
export interface HashedSource extends ByteSource {
  /** Hashes the whole source once, in order; its result is passed to completeUpload. */
  hash?: (signal: AbortSignal) => Promise<string>;
}

/** Uploads a project snapshot as a new version: version.create declares it, then the same transfer. */
export interface VersionUploadOptions extends SendOptions {
  version: Omit<CreateVersionInput, 'snapshot'>;
  /** Defaults to the Blob's type, else application/zip. */
  contentType?: string;
}

type Trpc = TRPCClient<AppRouter>;
type Artifact = Awaited<ReturnType<Trpc['artifact']['completeUpload']['mutate']>>;
type Version = Awaited<ReturnType<Trpc['version']['get']['query']>>;

/** The upload helper's one signature: an artifact, or a version whose snapshot these bytes are. */
export interface UploadFn<S> {
  (source: S, opts: UploadOptions): Promise<Artifact>;
  (source: S, opts: VersionUploadOptions): Promise<{ version: Version; artifact: Artifact }>;
}

export function uploadWith<S>(trpc: Trpc, prepare: (source: S, signal?: AbortSignal) => Promise<PreparedSource>): UploadFn<S> {
  return (async (source: S, opts: UploadOptions | VersionUploadOptions) => {
    const prepared = await prepare(source, opts.signal);
    try {
      return 'version' in opts ? await uploadVersion(trpc, prepared, opts) : await uploadPrepared(trpc, prepared, opts);
    } finally {
      await prepared.dispose();
    }
  }) as UploadFn<S>;
}

/** createUpload → send the bytes → completeUpload; any failure after createUpload aborts the upload. */
export async function uploadPrepared(trpc: Trpc, source: PreparedSource, opts: UploadOptions) {
  opts.signal?.throwIfAborted();
  const { upload, artifact } = await trpc.artifact.createUpload.mutate({
    kind: opts.kind,
    contentType: opts.contentType ?? source.contentType ?? 'application/octet-stream',
    sizeBytes: source.sizeBytes,
    sha256: source.sha256,
    filename: opts.filename,
    entityType: opts.entityType,
    entityId: opts.entityId,
    metadata: opts.metadata,
  });
  return completeTransfer(trpc, artifact.id, upload, source, opts);
}

/**
 * The seam for uploads whose instructions come from elsewhere (version.create returns the same
 * shape for a project snapshot): sends, completes, and on any failure aborts the pending upload
 * (best effort) and rethrows. Nothing is resumed silently: a failed upload is `failed` for good.
 */
export async function completeTransfer(
  trpc: Trpc,
  artifactId: string,
  instructions: UploadInstructions,
  source: HashedSource,
  opts: SendOptions,
) {
  // One signal for both the PUTs and the hashing pass: either failing stops the other.
  const ctl = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, ctl.signal]) : ctl.signal;
  const hashing = source.hash?.(signal);
  hashing?.catch((err: unknown) => ctl.abort(err));
  try {
    const parts = await sendToInstructions(instructions, source, { ...opts, signal });
    const sha256 = await hashing;
    return await trpc.artifact.completeUpload.mutate({ id: artifactId, parts, sha256 });
  } catch (err) {
    ctl.abort(err);
    await hashing?.catch(() => {}); // no file handle outlives the upload
    // Not tied to opts.signal: after a user abort this call must still go out.
    await trpc.artifact.abortUpload.mutate({ id: artifactId }).catch(() => {});
    throw err;
  }
}

/**
 * version.create answers with the same upload instructions as createUpload; on an idempotent
 * retry whose snapshot already landed it has none, and nothing is sent again.
 */
export async function uploadVersion(trpc: Trpc, source: PreparedSource, opts: VersionUploadOptions) {
  opts.signal?.throwIfAborted();
  const contentType = opts.contentType ?? source.contentType ?? 'application/zip';
  const created = await trpc.version.create.mutate({
    ...opts.version,
    snapshot: { sizeBytes: source.sizeBytes, sha256: source.sha256, contentType },
  });
  const artifactId = created.version.snapshotArtifactId;
  if (!artifactId) throw new Error('version.create returned no snapshot artifact for a snapshot upload');
  const artifact = created.upload
    ? await completeTransfer(trpc, artifactId, created.upload, source, opts)
    : await trpc.artifact.getInfo.query({ id: artifactId });
  return { version: await trpc.version.get.query({ versionId: created.version.id }), artifact };
}

/**
 * Hashes with @noble/hashes, which runs everywhere; crypto.subtle would be faster but is one-shot
 * (the whole Blob in memory) and missing outside secure contexts. Node uses node:crypto instead.
 */
export async function prepareBytes(source: Blob | Uint8Array): Promise<PreparedSource> {
  const dispose = async () => {};
  if (source instanceof Uint8Array) {
    return { sizeBytes: source.length, sha256: bytesToHex(sha256(source)), read: (s, e) => source.subarray(s, e), dispose };
  }
  const hash = sha256.create();
  const reader = source.stream().getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) hash.update(r.value);
  return {
    sizeBytes: source.size,
    sha256: bytesToHex(hash.digest()),
    contentType: source.type || undefined,
    read: (s, e) => source.slice(s, e),
    dispose,
  };
}
