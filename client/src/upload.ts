import { md5 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { TRPCClient } from '@trpc/client';
import type { ByteSource, Digests, PartPlan, SendOptions } from './transfer.ts';
import { sendParts } from './transfer.ts';
import type { AppRouter, CreateUploadInput, CreateVersionInput } from './wire.ts';

/** Runtime-safe in browsers: no Node imports here (see node.ts for paths and streams). */

export interface ResumeOptions {
  /**
   * Resume an interrupted upload of the same source (a file path in Node, a File in browsers),
   * sending only the parts that did not land, and keep this upload resumable if it fails (it is
   * aborted only when `signal` aborts). `true` uses the platform's store: a folder under
   * ~/.cache/coffer in Node, localStorage in browsers.
   */
  resume?: boolean | ResumeStore;
}

export interface UploadOptions
  extends SendOptions,
    ResumeOptions,
    Pick<CreateUploadInput, 'kind' | 'filename' | 'entityType' | 'entityId' | 'metadata'> {
  /** Defaults to the Blob's type, else application/octet-stream. */
  contentType?: string;
}

/** Uploads a project snapshot as a new version: version.create declares it, then the same transfer. */
export interface VersionUploadOptions extends SendOptions, ResumeOptions {
  /** A new version of a project, or `{ versionId }`: a new snapshot for a version without one (answering a rebuild request). */
  version: Omit<CreateVersionInput, 'snapshot'> | { versionId: string };
  /** Defaults to the Blob's type, else application/zip. */
  contentType?: string;
}

/** Where an upload in progress is remembered, so that it can be resumed after a crash or a reload. */
export interface ResumeStore {
  get(key: string): Promise<ResumeRecord | null>;
  set(key: string, record: ResumeRecord): Promise<void>;
  delete(key: string): Promise<void>;
}

export interface ResumeRecord {
  artifactId: string;
  /** The version whose snapshot the upload is. */
  versionId?: string;
  sizeBytes: number;
  savedAt: string;
}

/** Bytes ready to send. `sha256` when known up front (declared at creation), else computed while sending. */
export interface PreparedSource extends ByteSource {
  sha256?: string;
  contentType?: string;
  /** Names the same bytes across runs (a path with its size and mtime, a File's name, size and date); none: not resumable. */
  resumeKey?: string;
  /** Removes whatever preparing left behind (a spooled temp file) and closes what it opened. */
  dispose(): Promise<void>;
}

type Trpc = TRPCClient<AppRouter>;
type Artifact = Awaited<ReturnType<Trpc['artifact']['completeUpload']['mutate']>>;
type Version = Awaited<ReturnType<Trpc['version']['get']['query']>>;

/** The upload helper's one signature: an artifact, or a version whose snapshot these bytes are. */
export interface UploadFn<S> {
  (source: S, opts: UploadOptions): Promise<Artifact>;
  (source: S, opts: VersionUploadOptions): Promise<{ version: Version; artifact: Artifact }>;
}

/** What differs between browsers and Node: digests, where resume records live, and which server this client talks to. */
export interface UploadPlatform {
  digests: Digests;
  resumeStore?: () => ResumeStore;
  /** The server's URL: resume records of one server never apply to another. */
  scope: string;
}

/** What an upload is sending to: the artifact, its part plan, and what has landed already. */
interface Target {
  artifactId: string;
  versionId?: string;
  plan: PartPlan;
  stored?: ReadonlySet<number>;
}

export function uploadWith<S>(
  trpc: Trpc,
  prepare: (source: S, signal?: AbortSignal) => Promise<PreparedSource>,
  platform: UploadPlatform,
): UploadFn<S> {
  return (async (input: S, opts: UploadOptions | VersionUploadOptions) => {
    opts.signal?.throwIfAborted();
    const source = await prepare(input, opts.signal);
    try {
      if (!('version' in opts))
        return await transfer(trpc, source, opts, platform, `artifact:${opts.kind}`, () => startArtifact(trpc, source, opts));
      const v = opts.version;
      const artifact =
        'versionId' in v
          ? await transfer(trpc, source, opts, platform, `rebuild:${v.versionId}`, () => startSnapshot(trpc, source, opts, v.versionId))
          : await transfer(trpc, source, opts, platform, `version:${v.projectId}`, () => startVersion(trpc, source, opts, v));
      return { version: await trpc.version.get.query({ versionId: artifact.versionId! }), artifact };
    } finally {
      await source.dispose();
    }
  }) as UploadFn<S>;
}

async function startArtifact(trpc: Trpc, source: PreparedSource, opts: UploadOptions): Promise<Target | Artifact> {
  const { artifact, upload } = await trpc.artifact.createUpload.mutate({
    kind: opts.kind,
    contentType: opts.contentType ?? source.contentType ?? 'application/octet-stream',
    sizeBytes: source.sizeBytes,
    sha256: source.sha256,
    filename: opts.filename,
    entityType: opts.entityType,
    entityId: opts.entityId,
    metadata: opts.metadata,
  });
  return { artifactId: artifact.id, plan: upload };
}

/** version.create answers with the snapshot's plan; on an idempotent retry whose snapshot already landed it has none. */
async function startVersion(
  trpc: Trpc,
  source: PreparedSource,
  opts: VersionUploadOptions,
  version: Omit<CreateVersionInput, 'snapshot'>,
): Promise<Target | Artifact> {
  const contentType = opts.contentType ?? source.contentType ?? 'application/zip';
  const created = await trpc.version.create.mutate({
    ...version,
    snapshot: { sizeBytes: source.sizeBytes, sha256: source.sha256, contentType },
  });
  const artifactId = created.version.snapshotArtifactId;
  if (!artifactId) throw new Error('version.create returned no snapshot artifact for a snapshot upload');
  if (!created.upload) return trpc.artifact.getInfo.query({ id: artifactId });
  return { artifactId, versionId: created.version.id, plan: created.upload };
}

/** A new snapshot for an existing version (version.uploadSnapshot). */
async function startSnapshot(trpc: Trpc, source: PreparedSource, opts: VersionUploadOptions, versionId: string): Promise<Target> {
  const contentType = opts.contentType ?? source.contentType ?? 'application/zip';
  const { version, upload } = await trpc.version.uploadSnapshot.mutate({
    versionId,
    snapshot: { sizeBytes: source.sizeBytes, sha256: source.sha256, contentType },
  });
  return { artifactId: version.snapshotArtifactId!, versionId, plan: upload };
}

/**
 * Resumes or starts the upload, sends the parts, completes it. On failure a resumable upload is
 * left pending for the next attempt; any other is aborted (best effort), as is any upload the
 * caller's signal aborted.
 */
async function transfer(
  trpc: Trpc,
  source: PreparedSource,
  opts: SendOptions & ResumeOptions,
  platform: UploadPlatform,
  what: string,
  start: () => Promise<Target | Artifact>,
): Promise<Artifact> {
  const store = opts.resume === true ? platform.resumeStore?.() : opts.resume || undefined;
  const key = store && source.resumeKey ? `${platform.scope} ${what} ${source.resumeKey}` : undefined;
  const resumed = key ? await resumeFrom(trpc, store!, key, source) : null;
  const target = resumed ?? (await start());
  if (!('plan' in target)) return target;
  if (key && !resumed) {
    await store!.set(key, {
      artifactId: target.artifactId,
      versionId: target.versionId,
      sizeBytes: source.sizeBytes,
      savedAt: new Date().toISOString(),
    });
  }
  try {
    const hashed = await sendParts(
      trpc,
      { id: target.artifactId, plan: target.plan, stored: target.stored },
      source,
      platform.digests,
      opts,
    );
    const artifact = await complete(trpc, target.artifactId, source.sha256 ? undefined : hashed);
    if (key) await store!.delete(key);
    return artifact;
  } catch (err) {
    if (!key || opts.signal?.aborted) {
      // Not tied to opts.signal: after a user abort this call must still go out.
      await trpc.artifact.abortUpload.mutate({ id: target.artifactId }).catch(() => {});
      if (key) await store!.delete(key).catch(() => {});
    }
    throw err;
  }
}

/** The upload a record names, if it can still be finished: pending (or being verified) with the same size. */
async function resumeFrom(trpc: Trpc, store: ResumeStore, key: string, source: PreparedSource): Promise<Target | Artifact | null> {
  const record = await store.get(key);
  if (!record || record.sizeBytes !== source.sizeBytes) return null;
  const state = await trpc.artifact.getUpload.query({ id: record.artifactId }).catch(() => null);
  if (state?.artifact.status === 'ready') {
    await store.delete(key);
    return state.artifact;
  }
  if (!state || (state.artifact.status !== 'pending' && state.artifact.status !== 'verifying')) {
    await store.delete(key);
    return null;
  }
  const stored = new Set(state.parts.map((p) => p.partNumber));
  return { artifactId: record.artifactId, versionId: record.versionId, plan: state, stored };
}

/**
 * completeUpload is safe to repeat (an identical retry never fails a correct upload), so a
 * completion whose answer was lost in the network is simply asked again.
 */
async function complete(trpc: Trpc, id: string, sha256: string | undefined): Promise<Artifact> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await trpc.artifact.completeUpload.mutate({ id, sha256 });
    } catch (err) {
      const answered = (err as { data?: { code?: string } }).data?.code !== undefined;
      if (answered || attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
  }
}

/** Digests in plain JavaScript (@noble/hashes): everywhere, also outside secure contexts where crypto.subtle is missing. */
export const portableDigests: Digests = {
  md5: (bytes) => toBase64(md5(bytes)),
  sha256: () => {
    const h = sha256.create();
    return { update: (b) => h.update(b), digest: () => bytesToHex(h.digest()) };
  },
};

function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** Browser sources: bytes, or a Blob/File (resumable by name, size and date when it is a File). */
export async function prepareBytes(source: Blob | Uint8Array): Promise<PreparedSource> {
  const dispose = async () => {};
  if (source instanceof Uint8Array) {
    return { sizeBytes: source.length, read: async (s, e) => source.subarray(s, e), dispose };
  }
  const file = source as Blob & { name?: string; lastModified?: number };
  const resumeKey = file.name ? `${file.name} ${file.size} ${file.lastModified ?? 0}` : undefined;
  return {
    sizeBytes: source.size,
    contentType: source.type || undefined,
    resumeKey,
    read: async (s, e) => new Uint8Array(await source.slice(s, e).arrayBuffer()),
    dispose,
  };
}

/** Browser resume records, in localStorage (survive a reload); a no-op store where there is none. */
export function localStorageResume(): ResumeStore {
  const ls = (globalThis as { localStorage?: Storage }).localStorage;
  const name = (key: string) => `coffer-upload:${key}`;
  return {
    get: async (key) => {
      const raw = ls?.getItem(name(key));
      return raw ? (JSON.parse(raw) as ResumeRecord) : null;
    },
    set: async (key, record) => ls?.setItem(name(key), JSON.stringify(record)),
    delete: async (key) => ls?.removeItem(name(key)),
  };
}
