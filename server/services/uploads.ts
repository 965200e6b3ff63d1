import { createHash, randomUUID } from 'node:crypto';
import { GiB, MiB } from '../../shared/constants.ts';
import { artifactKey } from '../../shared/keys.ts';
import type { CompleteUploadInput, CreateUploadInput, UploadInstructions } from '../../shared/schemas/upload.ts';
import type { Tx } from '../db/index.ts';
import * as q from '../db/queries/artifacts.ts';
import type { Deps } from '../deps.ts';
import { CofferError } from '../errors.ts';
import { appendEvent } from '../events/append.ts';
import type { TenantScope } from '../tenant-scope.ts';
import { assertKind, getRow, markFailed, markReady, toArtifact } from './artifacts.ts';
import { assertMetadataLimits } from './metadata.ts';

/**
 * What artifacts.sha256 (NOT NULL) holds while the checksum is still to be declared at
 * completeUpload: no hex digest equals it, so it can never pass for a valid hash.
 */
export const PENDING_SHA256 = '';

/** S3 allows at most 10,000 parts, each at least 5 MiB (but the last). */
const MAX_PARTS = 10_000;

export interface UploadTarget extends CreateUploadInput {
  /** Snapshots and diff packs have their own key layout; other artifacts use the dated default. */
  storageKey?: string;
  projectId?: string;
  versionId?: string;
}

function partPlan(sizeBytes: number, preferred: number): { partSize: number; count: number } {
  const partSize = Math.max(preferred, Math.ceil(sizeBytes / MAX_PARTS / MiB) * MiB);
  return { partSize, count: Math.max(1, Math.ceil(sizeBytes / partSize)) };
}

function humanSize(n: number): string {
  return n >= GiB ? `${(n / GiB).toFixed(2)} GiB` : `${(n / MiB).toFixed(1)} MiB`;
}

/**
 * Starts a direct-to-storage upload: refuses oversized ones before a byte moves, prepares the
 * backend (multipart above the threshold), then records a `pending` artifact. `withinTx` lets a
 * caller (versions, diff packs) write its own rows in the same transaction as the artifact row.
 */
export async function createUpload<T = undefined>(
  deps: Deps,
  tenant: TenantScope,
  target: UploadTarget,
  withinTx?: (tx: Tx, row: q.ArtifactRow) => Promise<T>,
) {
  assertKind(deps, target.kind);
  assertMetadataLimits(deps.config.limits.metadata, target.metadata);
  const { limits } = deps.config;
  if (target.sizeBytes > limits.maxUploadBytes) {
    throw new CofferError(
      'TOO_LARGE',
      `upload of ${target.sizeBytes} bytes exceeds the ${limits.maxUploadBytes}-byte maximum (COFFER_MAX_UPLOAD_BYTES)`,
    );
  }
  const id = randomUUID();
  const now = deps.now();
  const storageKey =
    target.storageKey ?? artifactKey({ tenantId: tenant.id, kind: target.kind, id, contentType: target.contentType, at: now });
  const expiresAt = new Date(now.getTime() + limits.uploadUrlExpiry * 1000);
  const { upload, uploadId } = await prepareBackend(deps, storageKey, target, limits.uploadUrlExpiry, expiresAt);

  const warnings: string[] = [];
  const oversize = target.sizeBytes >= limits.warnUploadBytes;
  if (oversize)
    warnings.push(`artifact is ${humanSize(target.sizeBytes)}, at or above the ${humanSize(limits.warnUploadBytes)} warning size`);
  try {
    const { row, extra } = await tenant.run(async (tx) => {
      const row = await q.insertArtifact(tx, {
        id,
        tenantId: tenant.id,
        kind: target.kind,
        entityType: target.entityType ?? null,
        entityId: target.entityId ?? null,
        projectId: target.projectId ?? null,
        versionId: target.versionId ?? null,
        storageKey,
        contentType: target.contentType,
        filename: target.filename ?? null,
        sizeBytes: target.sizeBytes,
        sha256: target.sha256 ?? PENDING_SHA256,
        status: 'pending',
        uploadId,
        metadata: target.metadata ?? {},
        createdAt: now,
        updatedAt: now,
      });
      // Rows before events, here and in callers: appendEvent takes the tenant's event lock, and a
      // transaction holding it while its row waits on another's (two first versions upserting one
      // new project, a duplicate idempotency key) deadlocks with that one's own appendEvent.
      const extra = withinTx ? await withinTx(tx, row) : (undefined as T);
      if (oversize) {
        await appendEvent(tx, tenant.id, {
          type: 'artifact_size_warning',
          artifactId: id,
          projectId: row.projectId,
          versionId: row.versionId,
          data: {
            kind: row.kind,
            sizeBytes: row.sizeBytes,
            limitBytes: limits.warnUploadBytes,
            suggestion: 'compress the artifact, split it, or exclude build caches and dependencies from snapshots',
          },
        });
      }
      return { row, extra };
    });
    return { artifact: toArtifact(row), upload, warnings, extra };
  } catch (err) {
    if (uploadId) await deps.storage.abortMultipart(storageKey, uploadId).catch(() => {});
    throw err;
  }
}

async function prepareBackend(deps: Deps, key: string, target: UploadTarget, expiresIn: number, expiresAt: Date) {
  if (target.sizeBytes < deps.config.limits.multipartThreshold) {
    return { upload: await presignUpload(deps, key, target, null, expiresIn, expiresAt), uploadId: null };
  }
  const { uploadId } = await deps.storage.createMultipart(key, { contentType: target.contentType });
  try {
    return { upload: await presignUpload(deps, key, target, uploadId, expiresIn, expiresAt), uploadId };
  } catch (err) {
    await deps.storage.abortMultipart(key, uploadId).catch(() => {});
    throw err;
  }
}

type Declared = Pick<UploadTarget, 'sizeBytes' | 'contentType' | 'sha256'>;

/** Signed URLs for one PUT, or for every part of the existing multipart upload `uploadId`. */
async function presignUpload(
  deps: Deps,
  key: string,
  target: Declared,
  uploadId: string | null,
  expiresIn: number,
  expiresAt: Date,
): Promise<UploadInstructions> {
  const { storage, config } = deps;
  if (!uploadId) {
    // Without a declared sha256 nothing is bound; completeUpload then verifies by reading back.
    const sha256 = target.sha256 || undefined;
    const { url, headers } = await storage.presignPut(key, {
      expiresIn,
      contentType: target.contentType,
      contentLength: target.sizeBytes,
      sha256,
    });
    return { mode: 'single', method: 'PUT', url, headers, expiresAt };
  }
  const { partSize, count } = partPlan(target.sizeBytes, config.limits.partSize);
  const parts = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const sizeBytes = i === count - 1 ? target.sizeBytes - partSize * (count - 1) : partSize;
      const url = await storage.presignPart(key, uploadId, i + 1, { expiresIn, contentLength: sizeBytes });
      return { partNumber: i + 1, url, sizeBytes };
    }),
  );
  return { mode: 'multipart', partSize, parts, expiresAt };
}

/**
 * Fresh signed URLs for a still-pending upload (an idempotent retry of `version.create`): same key
 * and, for multipart, the same stored upload id, so parts already sent stay valid.
 */
export async function renewUpload(deps: Deps, row: Declared & Pick<q.ArtifactRow, 'storageKey' | 'uploadId'>): Promise<UploadInstructions> {
  const expiresIn = deps.config.limits.uploadUrlExpiry;
  const expiresAt = new Date(deps.now().getTime() + expiresIn * 1000);
  return presignUpload(deps, row.storageKey, row, row.uploadId, expiresIn, expiresAt);
}

/**
 * Finishes an upload and checks it: the stored size must equal the declared size and the bytes
 * must hash to the sha256, declared exactly once (at createUpload or here). Only then is the
 * artifact `ready`; a mismatch marks it `failed` and removes the object. Completing a `ready`
 * artifact again returns it unchanged.
 */
export async function completeUpload(deps: Deps, tenant: TenantScope, input: CompleteUploadInput) {
  const row = await getRow(tenant, input.id);
  if (row.status === 'ready') return completedAgain(row, input.sha256);
  if (row.status !== 'pending')
    throw new CofferError('PRECONDITION', `upload is ${row.status}${row.failureReason ? `: ${row.failureReason}` : ''}; start a new one`);
  const expected = await expectedSha256(deps, tenant, row, input.sha256);
  if (row.uploadId) {
    if (!input.parts?.length) throw new CofferError('BAD_INPUT', 'multipart upload: pass the parts with the ETag each part PUT returned');
    await deps.storage.completeMultipart(row.storageKey, row.uploadId, input.parts).catch(async (err: unknown) => {
      if (err instanceof CofferError && err.code === 'STORAGE_UNAVAILABLE') throw err; // retryable: stay pending
      throw await fail(deps, tenant, row, 'PRECONDITION', `multipart completion rejected: ${(err as Error).message}`);
    });
  }
  const info = await deps.storage.head(row.storageKey);
  if (!info) throw new CofferError('PRECONDITION', 'nothing was uploaded yet: PUT the bytes to the upload URL, then complete');
  if (info.sizeBytes !== row.sizeBytes) {
    throw await fail(deps, tenant, row, 'SIZE_MISMATCH', `size check failed: ${info.sizeBytes} bytes stored, ${row.sizeBytes} declared`);
  }
  if (!trustsBackendChecksum(deps, row)) {
    const actual = await hashObject(deps, row.storageKey);
    if (actual !== expected)
      throw await fail(deps, tenant, row, 'CHECKSUM_MISMATCH', `sha256 check failed: stored bytes hash to ${actual}, ${expected} declared`);
  }
  try {
    return toArtifact(await markReady(deps, tenant, row.id, row.sha256 === PENDING_SHA256 ? expected : undefined));
  } catch (err) {
    // A concurrent completion won the race: report its result.
    const now = await getRow(tenant, row.id);
    if (now.status === 'ready') return completedAgain(now, input.sha256);
    throw err;
  }
}

/**
 * The one checksum to verify against. Declared at neither call: BAD_INPUT, and the upload stays
 * pending so the client can complete again with it. Declared at both, differently: the client
 * cannot say which bytes it meant, so the upload fails like a mismatch.
 */
async function expectedSha256(deps: Deps, tenant: TenantScope, row: q.ArtifactRow, atComplete: string | undefined): Promise<string> {
  const atCreate = row.sha256 === PENDING_SHA256 ? undefined : row.sha256;
  if (atCreate && atComplete && atCreate !== atComplete) {
    throw await fail(
      deps,
      tenant,
      row,
      'PRECONDITION',
      `sha256 declared twice and differently: ${atCreate} at createUpload, ${atComplete} at completeUpload; declare it once`,
    );
  }
  const expected = atCreate ?? atComplete;
  if (!expected)
    throw new CofferError(
      'BAD_INPUT',
      'no sha256 declared: pass it to completeUpload({ id, parts, sha256 }) (or declare it at createUpload)',
    );
  return expected;
}

/** A retried completion of a ready artifact; one declaring another checksum than the verified one is a client bug, not a retry. */
function completedAgain(row: q.ArtifactRow, sha256: string | undefined) {
  if (sha256 && sha256 !== row.sha256) {
    throw new CofferError('PRECONDITION', `upload is already ready with sha256 ${row.sha256}; ${sha256} declared now`);
  }
  return toArtifact(row);
}

/** Only when the backend checks a signed sha256 (Storage.verifiesSha256OnPut) and it was bound at creation: a single PUT with a declared sha256. */
function trustsBackendChecksum(deps: Deps, row: q.ArtifactRow): boolean {
  return deps.storage.verifiesSha256OnPut && !row.uploadId && row.sha256 !== PENDING_SHA256;
}

async function hashObject(deps: Deps, key: string): Promise<string> {
  const { body } = await deps.storage.get(key);
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Marks the upload failed, removes what was written, and returns the error to throw. */
async function fail(deps: Deps, tenant: TenantScope, row: q.ArtifactRow, code: CofferError['code'], reason: string): Promise<CofferError> {
  await markFailed(deps, tenant, row.id, reason);
  await removeObjects(deps, row);
  return new CofferError(code, reason);
}

async function removeObjects(deps: Deps, row: q.ArtifactRow): Promise<void> {
  if (row.uploadId) await deps.storage.abortMultipart(row.storageKey, row.uploadId).catch(() => {});
  await deps.storage.delete(row.storageKey).catch(() => {}); // what this misses, the orphan sweep finds
}

/** Aborts a pending upload: multipart parts and any written object are removed, the artifact is `failed`. */
export async function abortUpload(deps: Deps, tenant: TenantScope, id: string) {
  const row = await getRow(tenant, id);
  if (row.status !== 'pending') throw new CofferError('PRECONDITION', `upload is ${row.status}, only a pending upload can be aborted`);
  await markFailed(deps, tenant, id, 'aborted by the client');
  await removeObjects(deps, row);
  return toArtifact(await getRow(tenant, id));
}
