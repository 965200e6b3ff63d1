import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_PARTS, MiB } from '../../shared/constants.ts';
import { artifactKey, partKey, stagingPrefix } from '../../shared/keys.ts';
import type { CompleteUploadInput, CreateUploadInput, UploadPlan } from '../../shared/schemas/upload.ts';
import { formatBytes } from '../../shared/sizes.ts';
import { commitWithoutFlush, type Tx, withTenant } from '../db/index.ts';
import * as q from '../db/queries/artifacts.ts';
import type { Deps } from '../deps.ts';
import { CofferError, notFound } from '../errors.ts';
import { appendEvent } from '../events/append.ts';
import { uploadVerifySeconds } from '../metrics.ts';
import type { Storage } from '../storage/types.ts';
import type { TenantScope } from '../tenant-scope.ts';
import { removeArtifactBytes } from './artifact-bytes.ts';
import { moveArtifact, VERIFY_LEASE_MS } from './artifact-state.ts';
import { assertKind, getRow, toArtifact } from './artifacts.ts';
import { assertMetadataLimits } from './metadata.ts';
import { quotaSettings } from './quota.ts';
import { MissingParts, partCount, partSizeOf, type UploadRef, UploadVerifier } from './upload-verifier.ts';

/**
 * What artifacts.sha256 (NOT NULL) holds while the checksum is still to be declared at
 * completeUpload: no hex digest equals it, so it can never pass for a valid hash.
 */
export const PENDING_SHA256 = '';

const ABORTED = 'aborted by the client';

export interface UploadTarget extends CreateUploadInput {
  /** Snapshots and diff packs have their own key layout (given the artifact id); other artifacts use the dated default. */
  storageKey?: (artifactId: string) => string;
  projectId?: string;
  versionId?: string;
}

/** Parts of `preferred` bytes, larger when a file would need more than S3's 10,000 parts. */
function partPlan(sizeBytes: number, preferred: number): { partSize: number; partCount: number } {
  const partSize = Math.max(preferred, Math.ceil(sizeBytes / MAX_PARTS / MiB) * MiB);
  return { partSize, partCount: partCount({ sizeBytes, partSize }) };
}

/** One verifier per storage backend, per instance (see UploadVerifier). */
const verifiers = new WeakMap<Storage, UploadVerifier>();

function verifierOf(deps: Deps): UploadVerifier {
  let v = verifiers.get(deps.storage);
  if (!v) {
    v = new UploadVerifier(deps.storage, (u, uploadId) => recordAssembly(deps, u, uploadId));
    verifiers.set(deps.storage, v);
  }
  return v;
}

/** On shutdown: lets the background verification of this storage's uploads stop writing. */
export async function closeUploadVerifier(storage: Storage): Promise<void> {
  await verifiers.get(storage)?.close();
  verifiers.delete(storage);
}

/** The assembly on record for `u` after trying to record `uploadId`: ours, or one another instance recorded first. */
async function recordAssembly(deps: Deps, u: UploadRef, uploadId: string): Promise<string> {
  return withTenant(deps.db, u.tenantId, async (tx) => {
    if (await q.recordAssembly(tx, { tenantId: u.tenantId, id: u.id, uploadId })) return uploadId;
    const row = await q.findArtifact(tx, { tenantId: u.tenantId, id: u.id });
    if (row?.uploadId && (row.status === 'pending' || row.status === 'verifying')) return row.uploadId;
    throw new CofferError('CONFLICT', 'the upload was completed, aborted or deleted meanwhile');
  });
}

const planOf = (deps: Deps, row: q.ArtifactRow): UploadPlan => ({
  partSize: row.partSize!,
  partCount: partCount({ sizeBytes: row.sizeBytes, partSize: row.partSize! }),
  expiresAt: new Date(row.updatedAt.getTime() + deps.config.limits.uploadIdleTimeout * 1000),
});

const refOf = (row: q.ArtifactRow): UploadRef => ({ ...row, partSize: row.partSize! });

/**
 * Starts a direct-to-storage upload: refuses oversized ones before a byte moves, opens the
 * upload's staging area, then records a `pending` artifact with its part plan, which reserves
 * its size against the tenant's quota (refused over it, and the staging area discarded). `withinTx` lets a
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
    target.storageKey?.(id) ?? artifactKey({ tenantId: tenant.id, kind: target.kind, id, contentType: target.contentType, at: now });
  const { partSize } = partPlan(target.sizeBytes, limits.partSize);
  const staging = stagingPrefix({ tenantId: tenant.id, artifactId: id });
  await deps.storage.openStaging(staging);

  const warnings: string[] = [];
  const oversize = target.sizeBytes >= limits.warnUploadBytes;
  if (oversize) {
    warnings.push(`artifact is ${formatBytes(target.sizeBytes)}, at or above the ${formatBytes(limits.warnUploadBytes)} warning size`);
  }
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
        partSize,
        metadata: target.metadata ?? {},
        createdAt: now,
        updatedAt: now,
      });
      // A plain upload lost in a database crash costs its client a restart (its next call answers
      // NOT_FOUND), as an expired one does. Callers' own rows (versions, diff packs) keep the flush.
      if (!withinTx) commitWithoutFlush(tx);
      // Rows before events, here and in callers: see server/events/append.ts.
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
    }, quotaSettings(deps.config));
    return { artifact: toArtifact(row), upload: planOf(deps, row), warnings, extra };
  } catch (err) {
    await deps.storage.discardStaging(staging).catch(() => {});
    throw err;
  }
}

/** Why a call that needs a pending upload cannot go on, in words the client can act on. */
function notPending(row: q.ArtifactRow): CofferError {
  switch (row.status) {
    case 'ready':
      return new CofferError('PRECONDITION', 'upload is already complete: the artifact is ready');
    case 'verifying':
      return new CofferError('CONFLICT', 'upload is being completed right now; wait for its outcome (artifact.getInfo)');
    default:
      return new CofferError(
        'PRECONDITION',
        `upload is ${row.status}${row.failureReason ? `: ${row.failureReason}` : ''}; start a new one`,
      );
  }
}

/** Uploads begun before parts were signed one by one cannot be completed with this protocol. */
function requirePlan(row: q.ArtifactRow): void {
  if (row.partSize === null)
    throw new CofferError('PRECONDITION', 'this upload was started by an older Coffer and cannot be completed; start a new one');
}

/**
 * Marks a pending upload active now (its life counts from its last activity) and returns it;
 * anything else is the error the caller should see.
 */
export async function touchPending(deps: Deps, tenant: TenantScope, id: string): Promise<q.ArtifactRow> {
  const row = await moveArtifact(tenant, { id, from: ['pending'], to: 'pending', now: deps.now() });
  if (row) return row;
  throw notPending(await getRow(tenant, id));
}

/**
 * Signs the parts a client is about to send, each URL bound to the part's length and MD5 and able
 * to create its part once. URLs live COFFER_UPLOAD_URL_EXPIRY seconds: a slow upload signs as it
 * goes and never outlives them. Signing is activity: it moves the upload's expiry on.
 */
export async function signParts(deps: Deps, tenant: TenantScope, input: { id: string; parts: Array<{ partNumber: number; md5: string }> }) {
  const row = await touchPending(deps, tenant, input.id);
  requirePlan(row);
  const count = partCount(refOf(row));
  const beyond = input.parts.find((p) => p.partNumber > count);
  if (beyond)
    throw new CofferError('BAD_INPUT', `part ${beyond.partNumber} does not exist: this upload has ${count} part${count === 1 ? '' : 's'}`);
  const expiresIn = deps.config.limits.uploadUrlExpiry;
  const staging = stagingPrefix({ tenantId: tenant.id, artifactId: row.id });
  const parts = await Promise.all(
    input.parts.map(async ({ partNumber, md5 }) => {
      const sizeBytes = partSizeOf(refOf(row), partNumber);
      const { url, headers } = await deps.storage.presignCreate(partKey(staging, partNumber), { expiresIn, contentLength: sizeBytes, md5 });
      return { partNumber, method: 'PUT' as const, url, headers, sizeBytes };
    }),
  );
  verifierOf(deps).nudge(refOf(row));
  return { parts, expiresAt: new Date(deps.now().getTime() + expiresIn * 1000) };
}

/** The parts that have landed: what a client resuming an upload does not send again. */
export async function getUploadState(deps: Deps, tenant: TenantScope, id: string) {
  const row = await getRow(tenant, id);
  requirePlan(row);
  const staging = stagingPrefix({ tenantId: tenant.id, artifactId: row.id });
  const parts: Array<{ partNumber: number; sizeBytes: number; etag: string }> = [];
  if (row.status === 'pending' || row.status === 'verifying') {
    let token: string | undefined;
    do {
      const page = await deps.storage.list(staging, { continuationToken: token });
      for (const o of page.items)
        parts.push({ partNumber: Number(o.key.slice(staging.length)), sizeBytes: o.sizeBytes, etag: o.etag ?? '' });
      token = page.nextToken;
    } while (token);
    parts.sort((a, b) => a.partNumber - b.partNumber);
  }
  const plan = planOf(deps, row);
  return {
    artifact: toArtifact(row),
    partSize: plan.partSize,
    partCount: plan.partCount,
    parts,
    expiresAt: row.status === 'pending' ? plan.expiresAt : null,
  };
}

/**
 * Finishes an upload and checks it: the stored size must equal the declared size and the bytes
 * must hash to the sha256, declared exactly once (at createUpload or here). Only then is the
 * artifact `ready`; a mismatch marks it `failed` and removes its bytes.
 *
 * Concurrent and repeated calls agree: one call moves the upload to `verifying` and does the work;
 * the others wait for its outcome and report it. Completing a `ready` artifact again returns it.
 */
export async function completeUpload(deps: Deps, tenant: TenantScope, input: CompleteUploadInput) {
  for (;;) {
    const row = await getRow(tenant, input.id);
    if (row.status === 'ready') return completedAgain(row, input.sha256);
    if (row.status === 'failed' || row.status === 'deleted') throw notPending(row);
    requirePlan(row);
    if (row.status === 'verifying') {
      const lease = await awaitVerifier(deps, tenant, row);
      if (lease) return verify(deps, tenant, lease, expectedSha256(row, input.sha256));
      continue; // the verifier finished (or gave the upload back): look again
    }
    const expected = await declaredOnce(deps, tenant, row, input.sha256);
    const lease = await moveArtifact(tenant, {
      id: row.id,
      from: ['pending'],
      to: 'verifying',
      now: deps.now(),
      sha256: row.sha256 === PENDING_SHA256 ? expected : undefined,
    });
    if (lease) return verify(deps, tenant, lease, expected);
  }
}

/**
 * The one checksum to verify against. Declared at neither call: BAD_INPUT, and the upload stays
 * pending so the client can complete again with it. Declared at both, differently: the client
 * cannot say which bytes it meant, so the upload fails like a mismatch.
 */
async function declaredOnce(deps: Deps, tenant: TenantScope, row: q.ArtifactRow, atComplete: string | undefined): Promise<string> {
  const atCreate = row.sha256 === PENDING_SHA256 ? undefined : row.sha256;
  if (atCreate && atComplete && atCreate !== atComplete) {
    const reason = `sha256 declared twice and differently: ${atCreate} at createUpload, ${atComplete} at completeUpload; declare it once`;
    await fail(deps, tenant, { id: row.id, from: ['pending'] }, reason);
    throw new CofferError('PRECONDITION', reason);
  }
  const expected = atCreate ?? atComplete;
  if (!expected) {
    throw new CofferError('BAD_INPUT', 'no sha256 declared: pass it to completeUpload({ id, sha256 }) (or declare it at createUpload)');
  }
  return expected;
}

const expectedSha256 = (row: q.ArtifactRow, atComplete: string | undefined) =>
  (row.sha256 === PENDING_SHA256 ? atComplete : row.sha256) ?? '';

/** A retried completion of a ready artifact; one declaring another checksum than the verified one is a client bug, not a retry. */
function completedAgain(row: q.ArtifactRow, sha256: string | undefined) {
  if (sha256 && sha256 !== row.sha256) {
    throw new CofferError('PRECONDITION', `upload is already ready with sha256 ${row.sha256}; ${sha256} declared now`);
  }
  return toArtifact(row);
}

/**
 * Waits while another call verifies the upload. Returns null once it is no longer verifying, or
 * the upload itself (with a fresh lease) when the verifier stopped renewing its lease: it died,
 * and this call takes over.
 */
async function awaitVerifier(deps: Deps, tenant: TenantScope, seen: q.ArtifactRow): Promise<q.ArtifactRow | null> {
  let row = seen;
  for (;;) {
    const now = deps.now();
    if (row.updatedAt.getTime() < now.getTime() - VERIFY_LEASE_MS) {
      return (await moveArtifact(tenant, { id: row.id, from: ['verifying'], to: 'verifying', leaseAt: row.updatedAt, now })) ?? null;
    }
    await sleep(150);
    row = await getRow(tenant, row.id);
    if (row.status !== 'verifying') return null;
  }
}

/**
 * The work of the call that holds the upload's verifying lease: hash what is left, compare,
 * assemble the artifact's object, and move it to ready. Every move is fenced by the lease, so a
 * verifier that lost it (it stalled past VERIFY_LEASE_MS and another took over) changes nothing.
 */
async function verify(deps: Deps, tenant: TenantScope, leased: q.ArtifactRow, expected: string) {
  const lease = new Lease(deps, tenant, leased);
  const verifier = verifierOf(deps);
  let u = refOf(leased);
  try {
    for (let attempt = 0; ; attempt++) {
      const verified = await verifier.verify(u);
      if (verified.sha256 !== expected) {
        const reason = `sha256 check failed: stored bytes hash to ${verified.sha256}, ${expected} declared`;
        await lease.fail(reason);
        throw new CofferError('CHECKSUM_MISMATCH', reason);
      }
      const assembled = await verified.assemble().then(
        () => true,
        async (err: unknown) => {
          // The recorded assembly is gone: a verifier that lost its lease completed (or aborted)
          // it. Its bytes were verified too, but start a new assembly rather than assume so.
          if (!(err instanceof CofferError && err.code === 'NOT_FOUND' && u.uploadId && attempt === 0)) throw err;
          const gone = u.uploadId;
          await tenant.run((tx) => q.forgetAssembly(tx, { tenantId: tenant.id, id: u.id, uploadId: gone }));
          verifier.forget(u.id);
          u = { ...u, uploadId: null };
          return false;
        },
      );
      if (assembled) break;
    }
    const ready = await lease.finish('ready', { sha256: expected });
    verifier.forget(u.id);
    if (!ready) return completedAgain(await getRow(tenant, u.id), expected);
    await deps.storage.discardStaging(stagingPrefix({ tenantId: tenant.id, artifactId: u.id })).catch(() => {});
    return toArtifact(ready);
  } catch (err) {
    if (err instanceof MissingParts) {
      await lease.finish('pending');
      throw new CofferError('PRECONDITION', `${err.message}; PUT them, then complete again`);
    }
    verifier.forget(u.id);
    if (err instanceof CofferError && (err.code === 'SIZE_MISMATCH' || err.code === 'CHECKSUM_MISMATCH')) {
      await lease.fail(err.message);
      throw err;
    }
    // Storage or database trouble: the upload goes back to pending and can be completed again.
    await lease.finish('pending').catch(() => {});
    throw err;
  } finally {
    lease.stop();
  }
}

/**
 * A verifier's claim on an upload: the row's updated_at, renewed while the work goes on. Every
 * move out of `verifying` names it, so only the current holder's moves happen.
 */
class Lease {
  private at: Date;
  private readonly started = performance.now();
  private readonly timer: NodeJS.Timeout;
  private readonly deps: Deps;
  private readonly tenant: TenantScope;
  private readonly row: q.ArtifactRow;

  constructor(deps: Deps, tenant: TenantScope, row: q.ArtifactRow) {
    this.deps = deps;
    this.tenant = tenant;
    this.row = row;
    this.at = row.updatedAt;
    this.timer = setInterval(() => void this.renew(), VERIFY_LEASE_MS / 3);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const moved = await this.finish('verifying').catch(() => undefined);
    if (moved) this.at = moved.updatedAt;
  }

  async finish(to: 'ready' | 'pending' | 'verifying', extra: { sha256?: string } = {}) {
    const moved = await moveArtifact(this.tenant, {
      id: this.row.id,
      from: ['verifying'],
      to,
      leaseAt: this.at,
      now: this.deps.now(),
      ...extra,
    });
    if (moved && to === 'ready') uploadVerifySeconds.observe((performance.now() - this.started) / 1000);
    return moved;
  }

  /** verifying → failed; the bytes go with it, removed by this holder only. */
  async fail(reason: string): Promise<void> {
    const failed = await moveArtifact(this.tenant, {
      id: this.row.id,
      from: ['verifying'],
      to: 'failed',
      leaseAt: this.at,
      now: this.deps.now(),
      failureReason: reason,
    });
    if (failed) await removeArtifactBytes(this.deps.storage, failed);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Moves the upload to failed and, if this call moved it, removes its bytes. */
async function fail(deps: Deps, tenant: TenantScope, move: { id: string; from: readonly ('pending' | 'verifying')[] }, reason: string) {
  const failed = await moveArtifact(tenant, { ...move, to: 'failed', failureReason: reason, now: deps.now() });
  if (failed) {
    verifierOf(deps).forget(failed.id);
    await removeArtifactBytes(deps.storage, failed);
  }
  return failed;
}

/**
 * Aborts a pending upload: it becomes `failed` and its parts are removed. Aborting an aborted
 * upload again answers the same; an upload being verified or already ready is not aborted.
 */
export async function abortUpload(deps: Deps, tenant: TenantScope, id: string) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await getRow(tenant, id);
    if (row.status === 'failed' && row.failureReason === ABORTED) return toArtifact(row);
    if (row.status !== 'pending') throw notPending(row);
    const aborted = await fail(deps, tenant, { id, from: ['pending'] }, ABORTED);
    if (aborted) return toArtifact(aborted);
  }
  throw notFound('pending upload');
}

/** The plan of a pending upload, touched as activity: what an idempotent retry of version.create answers with. */
export async function resumePlan(deps: Deps, tenant: TenantScope, id: string): Promise<UploadPlan | undefined> {
  const row = await moveArtifact(tenant, { id, from: ['pending'], to: 'pending', now: deps.now() });
  return row?.partSize ? planOf(deps, row) : undefined;
}
