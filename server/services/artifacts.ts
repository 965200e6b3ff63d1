import { createHash, randomUUID } from 'node:crypto';
import { artifactKey, extensionFor } from '../../shared/keys.ts';
import type { ListArtifactsInput, PutArtifactInput } from '../../shared/schemas/artifact.ts';
import { commitWithoutFlush } from '../db/index.ts';
import * as q from '../db/queries/artifacts.ts';
import type { Deps } from '../deps.ts';
import { CofferError, notFound } from '../errors.ts';
import type { ReadBudget } from '../limits/read-budget.ts';
import type { TenantScope } from '../tenant-scope.ts';
import { removeArtifactBytes } from './artifact-bytes.ts';
import { moveArtifact, VERIFY_LEASE_MS } from './artifact-state.ts';
import { assertMetadataLimits } from './metadata.ts';
import { byCreation, toPage } from './paging.ts';
import { quotaSettings } from './quota.ts';

/** Drops server-only columns before an artifact leaves the service. */
export function toArtifact(row: q.ArtifactRow) {
  const { tenantId: _t, storageKey: _k, uploadId: _u, partSize: _p, ...rest } = row;
  return rest;
}

export function assertKind(deps: Deps, kind: string): void {
  if (!deps.config.allowedKinds.includes(kind)) {
    throw new CofferError('BAD_INPUT', `unknown kind '${kind.slice(0, 64)}'; allowed kinds: ${deps.config.allowedKinds.join(', ')}`);
  }
}

export async function getRow(tenant: TenantScope, id: string): Promise<q.ArtifactRow> {
  const row = await tenant.read((tx) => q.findArtifact(tx, { tenantId: tenant.id, id }));
  if (!row) throw notFound('artifact');
  return row;
}

function requireReady(row: q.ArtifactRow): void {
  if (row.status !== 'ready') {
    throw new CofferError('PRECONDITION', `artifact is ${row.status}${row.failureReason ? ` (${row.failureReason})` : ''}, not ready`);
  }
}

const sha256Hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Stores a small JSON payload. The row is written `pending` (within the quota) before the object, and turned
 * `ready` only after the object is stored, so a crash or a storage failure can never leave a
 * `ready` row without bytes; a `pending` row left by a crash points the cleanup at the object.
 */
export async function putArtifact(deps: Deps, tenant: TenantScope, input: PutArtifactInput) {
  assertKind(deps, input.kind);
  assertMetadataLimits(deps.config.limits.metadata, input.metadata);
  const body = Buffer.from(JSON.stringify(input.payload), 'utf8');
  const limit = deps.config.limits.maxInlineBytes;
  if (body.length > limit) {
    throw new CofferError(
      'TOO_LARGE',
      `payload is ${body.length} bytes; the inline limit is ${limit} bytes. Use artifact.createUpload for larger artifacts`,
    );
  }
  const id = randomUUID();
  const now = deps.now();
  const contentType = input.contentType ?? 'application/json';
  const storageKey = artifactKey({ tenantId: tenant.id, kind: input.kind, id, contentType, at: now });
  await tenant.run(async (tx) => {
    await q.insertArtifact(tx, {
      id,
      tenantId: tenant.id,
      kind: input.kind,
      entityType: input.entityType ?? null,
      entityId: input.entityId ?? null,
      storageKey,
      contentType,
      sizeBytes: body.length,
      sha256: sha256Hex(body),
      status: 'pending',
      metadata: input.metadata ?? {},
      createdAt: now,
      updatedAt: now,
    });
    // Safe to lose in a database crash: the caller is answered only after the synchronous move to
    // ready below, which makes this durable too (the WAL is flushed in order).
    commitWithoutFlush(tx);
  }, quotaSettings(deps.config));
  try {
    await deps.storage.put(storageKey, body, { contentType, contentLength: body.length });
  } catch (err) {
    const reason = err instanceof CofferError ? err.message : 'storage write failed';
    const failed = await moveArtifact(tenant, { id, from: ['pending'], to: 'failed', failureReason: reason, now: deps.now() });
    if (failed) await deps.storage.delete(storageKey).catch(() => {}); // a partial object, if any; the orphan sweep catches what this misses
    throw err;
  }
  const ready = await moveArtifact(tenant, { id, from: ['pending'], to: 'ready', now: deps.now() });
  if (!ready) throw new CofferError('CONFLICT', 'the artifact was deleted while it was being stored');
  return toArtifact(ready);
}

/**
 * Reads a JSON artifact back and checks its bytes against the recorded sha256 before serving
 * them. `budget` (network calls) bounds what one caller's reads hold at once.
 */
export async function getArtifact(deps: Deps, tenant: TenantScope, id: string, budget?: ReadBudget) {
  const row = await getRow(tenant, id);
  requireReady(row);
  if (!row.contentType.startsWith('application/json') || row.sizeBytes > deps.config.limits.maxInlineBytes) {
    throw new CofferError('PRECONDITION', `artifact is ${row.contentType}, ${row.sizeBytes} bytes: fetch it with artifact.getDownloadUrl`);
  }
  const release = budget?.take(row.sizeBytes);
  try {
    const { body } = await deps.storage.get(row.storageKey);
    const bytes = Buffer.concat(await body.toArray());
    if (bytes.length !== row.sizeBytes || sha256Hex(bytes) !== row.sha256) {
      throw new CofferError('CHECKSUM_MISMATCH', 'stored bytes do not match the recorded sha256; the artifact is corrupted');
    }
    return { artifact: toArtifact(row), payload: JSON.parse(bytes.toString('utf8')) };
  } finally {
    release?.();
  }
}

export async function listArtifactsPage(deps: Deps, tenant: TenantScope, input: ListArtifactsInput) {
  if (input.kind) assertKind(deps, input.kind);
  const after = byCreation.after(input.cursor);
  const rows = await tenant.run((tx) => q.listArtifacts(tx, { ...input, tenantId: tenant.id, limit: input.limit + 1, after }));
  return toPage(rows, input.limit, (row) => row, byCreation.key);
}

/**
 * Marks the row `deleted` first (with its event), then removes the bytes, then the row. If storage
 * fails in between, the row stays `deleted` (invisible to callers) and the retention job finishes
 * the work. An upload being verified is not deleted under its verifier's feet: CONFLICT, retry.
 */
export async function deleteArtifact(deps: Deps, tenant: TenantScope, id: string) {
  let row = await getRow(tenant, id);
  for (let attempt = 0; ; attempt++) {
    const now = deps.now();
    const staleBefore = new Date(now.getTime() - VERIFY_LEASE_MS);
    if (row.status === 'verifying' && row.updatedAt >= staleBefore) {
      throw new CofferError('CONFLICT', 'the upload is being verified right now; delete it again in a few seconds');
    }
    const from = row.status === 'verifying' ? (['verifying'] as const) : (['pending', 'ready', 'failed'] as const);
    const moved = await moveArtifact(tenant, { id, from, to: 'deleted', now, ...(row.status === 'verifying' && { staleBefore }) });
    if (moved) {
      await removeArtifactBytes(deps.storage, moved);
      await tenant.run((tx) => q.deleteArtifactRow(tx, { tenantId: tenant.id, id }));
      return { id, deleted: true as const };
    }
    if (attempt === 2) throw new CofferError('CONFLICT', 'the artifact changed while it was being deleted; retry');
    row = await getRow(tenant, id); // someone else moved it: look again (NOT_FOUND once it is gone)
  }
}

/** Artifacts one deleteByEntity call deletes at once (each is its own guarded delete). */
const ENTITY_DELETE_CONCURRENCY = 4;
const ENTITY_PAGE = 100;

/**
 * Deletes all of an entity's artifacts, page by page, each through deleteArtifact (its guarded
 * transition, bytes, row and event), so it is idempotent and safe beside other calls: an artifact
 * deleted meanwhile by someone else is skipped, and an upload being verified right now is left
 * alone and reported, as deleteArtifact would refuse it.
 */
export async function deleteByEntity(deps: Deps, tenant: TenantScope, input: { entityType: string; entityId: string }) {
  let deleted = 0;
  const inProgress: string[] = [];
  let afterId: string | undefined;
  for (;;) {
    const ids = await tenant.run((tx) => q.entityArtifactIds(tx, { tenantId: tenant.id, ...input, afterId, limit: ENTITY_PAGE }));
    if (ids.length === 0) break;
    afterId = ids[ids.length - 1];
    for (let i = 0; i < ids.length; i += ENTITY_DELETE_CONCURRENCY) {
      await Promise.all(
        ids.slice(i, i + ENTITY_DELETE_CONCURRENCY).map(async (id) => {
          try {
            await deleteArtifact(deps, tenant, id);
            deleted++;
          } catch (err) {
            if (err instanceof CofferError && err.code === 'NOT_FOUND') return; // gone meanwhile: someone else deleted it
            if (err instanceof CofferError && err.code === 'CONFLICT') return void inProgress.push(id);
            throw err;
          }
        }),
      );
    }
  }
  return { deleted, inProgress };
}

export function downloadFilename(row: q.ArtifactRow): string {
  return row.filename ?? `${row.kind}-${row.id}.${extensionFor(row.contentType)}`;
}

export async function getDownloadUrl(deps: Deps, tenant: TenantScope, input: { id: string; expiresIn?: number }) {
  const row = await getRow(tenant, input.id);
  requireReady(row);
  const filename = downloadFilename(row);
  return { ...(await presignDownload(deps, row, filename, input.expiresIn)), filename, sizeBytes: row.sizeBytes };
}

/**
 * A signed GET for a stored object, served as an attachment named `filename`. The 7-day presign
 * limit is enforced where expiries enter: COFFER_*_URL_EXPIRY in config, `expiresIn` in the input schema.
 */
export async function presignDownload(deps: Deps, obj: { storageKey: string; contentType: string }, filename: string, expiresIn?: number) {
  const secs = expiresIn ?? deps.config.limits.downloadUrlExpiry;
  const url = await deps.storage.presignGet(obj.storageKey, { expiresIn: secs, filename, contentType: obj.contentType });
  return { url, expiresAt: new Date(deps.now().getTime() + secs * 1000) };
}
