import { randomUUID } from 'node:crypto';
import { snapshotKey } from '../../shared/keys.ts';
import type { CreateVersionInput, ListVersionsInput, Version, VersionStatus } from '../../shared/schemas/version.ts';
import type { Tx } from '../db/index.ts';
import * as projectsQ from '../db/queries/projects.ts';
import * as q from '../db/queries/versions.ts';
import { isUniqueViolation } from '../db/unique-violation.ts';
import type { Deps } from '../deps.ts';
import { CofferError, notFound } from '../errors.ts';
import { appendEvent } from '../events/append.ts';
import type { TenantScope } from '../tenant-scope.ts';
import { byCreation, toPage } from './paging.ts';
import { createUpload, PENDING_SHA256, resumePlan, type UploadTarget } from './uploads.ts';

/** A `deleted` snapshot is on its way out (its row is removed next), so it counts as none. */
const STATUS_BY_ARTIFACT = {
  pending: 'uploading',
  verifying: 'uploading',
  ready: 'ready',
  failed: 'failed',
  deleted: 'no_snapshot',
} as const;

export function versionStatus(view: q.VersionView): VersionStatus {
  return view.snapshot ? STATUS_BY_ARTIFACT[view.snapshot.status] : 'no_snapshot';
}

export function toVersion(view: q.VersionView, latestReadyId: string | null): Version {
  const { version: v } = view;
  const s = view.snapshot && view.snapshot.status !== 'deleted' ? view.snapshot : null;
  return {
    id: v.id,
    projectId: v.projectId,
    prompt: v.prompt,
    message: v.message,
    source: v.source,
    status: versionStatus(view),
    pinned: v.pinned,
    isCurrent: view.currentVersionId === v.id,
    isLatest: v.id === latestReadyId,
    snapshotArtifactId: s?.id ?? null,
    snapshot: s ? { artifactId: s.id, sizeBytes: s.sizeBytes, sha256: s.sha256 } : null,
    rebuildRequestedAt: v.rebuildRequestedAt,
    createdAt: v.createdAt,
  };
}

/** The newest version with a ready snapshot: what `exportLatest` serves. */
export async function latestReady(tx: Tx, tenantId: string, projectId: string): Promise<q.VersionView | undefined> {
  const [view] = await q.listVersions(tx, { tenantId, projectId, limit: 1, readyOnly: true });
  return view;
}

/** Another tenant's version answers NOT_FOUND, exactly like a missing one. */
export async function loadVersion(tx: Tx, tenantId: string, versionId: string): Promise<q.VersionView> {
  const view = await q.findVersion(tx, { tenantId, id: versionId });
  if (!view) throw notFound('version');
  return view;
}

export async function requireProject(tx: Tx, tenantId: string, projectId: string) {
  const project = await projectsQ.findProject(tx, { tenantId, projectId });
  if (!project) throw notFound('project');
  return project;
}

export async function present(tx: Tx, tenantId: string, view: q.VersionView): Promise<Version> {
  return toVersion(view, (await latestReady(tx, tenantId, view.version.projectId))?.version.id ?? null);
}

/**
 * Creates a version; with a snapshot declared, its artifact and upload URLs too. The project
 * upsert, the version row and `version_created` commit in the artifact's transaction.
 */
export async function createVersion(deps: Deps, tenant: TenantScope, input: CreateVersionInput) {
  const key = input.idempotencyKey;
  if (key) {
    const existing = await findByKey(tenant, input.projectId, key);
    if (existing) return replay(deps, tenant, existing, input);
  }
  try {
    return await insertNew(deps, tenant, input);
  } catch (err) {
    if (!key || !isUniqueViolation(err, 'versions_idempotency_key_uq')) throw err;
    // A concurrent call with the same key committed first: answer as a retry of it.
    const existing = await findByKey(tenant, input.projectId, key);
    if (!existing) throw err;
    return replay(deps, tenant, existing, input);
  }
}

async function insertNew(deps: Deps, tenant: TenantScope, input: CreateVersionInput) {
  const versionId = randomUUID();
  if (!input.snapshot) {
    const version = await tenant.run((tx) => insertRows(deps, tx, tenant.id, { ...input, versionId, snapshotArtifactId: null }));
    return { version, warnings: [] };
  }
  const { projectId } = input;
  const created = await createUpload(deps, tenant, snapshotUpload(tenant, { projectId, versionId }, input.snapshot), (tx, row) =>
    insertRows(deps, tx, tenant.id, { ...input, versionId, snapshotArtifactId: row.id }),
  );
  return { version: created.extra, upload: created.upload, warnings: created.warnings };
}

/** What a version's snapshot is uploaded as: its own artifact, key and download name. */
export function snapshotUpload(
  tenant: TenantScope,
  { projectId, versionId }: { projectId: string; versionId: string },
  snapshot: { sizeBytes: number; sha256?: string; contentType: string },
): UploadTarget {
  return {
    kind: 'build_snapshot',
    ...snapshot,
    filename: `${projectId}-${versionId}.zip`,
    storageKey: (artifactId) => snapshotKey({ tenantId: tenant.id, projectId, versionId, artifactId }),
    projectId,
    versionId,
  };
}

type NewVersion = CreateVersionInput & { versionId: string; snapshotArtifactId: string | null };

/** Rows first, event last, as in uploads.createUpload. */
async function insertRows(deps: Deps, tx: Tx, tenantId: string, v: NewVersion): Promise<Version> {
  const now = deps.now();
  await projectsQ.upsertProject(tx, { tenantId, projectId: v.projectId, now });
  await q.insertVersion(tx, {
    id: v.versionId,
    tenantId,
    projectId: v.projectId,
    prompt: v.prompt ?? null,
    message: v.message ?? null,
    source: v.source,
    snapshotArtifactId: v.snapshotArtifactId,
    idempotencyKey: v.idempotencyKey ?? null,
    createdAt: now,
  });
  await appendEvent(tx, tenantId, {
    type: 'version_created',
    projectId: v.projectId,
    versionId: v.versionId,
    artifactId: v.snapshotArtifactId,
    data: { source: v.source, hasSnapshot: v.snapshotArtifactId !== null },
  });
  return present(tx, tenantId, await loadVersion(tx, tenantId, v.versionId));
}

function findByKey(tenant: TenantScope, projectId: string, idempotencyKey: string) {
  return tenant.run(async (tx) => {
    const view = await q.findVersionByKey(tx, { tenantId: tenant.id, projectId, idempotencyKey });
    return view && { view, version: await present(tx, tenant.id, view) };
  });
}

/**
 * A retry returns the first call's version. While its snapshot is still pending, the retry gets
 * the same upload's plan (the first response may never have arrived), and counts as activity:
 * the upload's life is extended as if it had signed a part.
 */
async function replay(deps: Deps, tenant: TenantScope, existing: { view: q.VersionView; version: Version }, input: CreateVersionInput) {
  assertSameRequest(existing.view, input);
  const s = existing.view.snapshot;
  const upload = s?.status === 'pending' ? await resumePlan(deps, tenant, s.id) : undefined;
  return { version: existing.version, upload, warnings: [] };
}

/** Reusing a key for a different request is a client bug; answering with the old version would hide it. */
function assertSameRequest({ version: v, snapshot: s }: q.VersionView, input: CreateVersionInput): void {
  const differs =
    v.source !== input.source ||
    v.prompt !== (input.prompt ?? null) ||
    v.message !== (input.message ?? null) ||
    (s && input.snapshot && (s.sizeBytes !== input.snapshot.sizeBytes || shaDiffers(s, input.snapshot.sha256)));
  if (differs) {
    throw new CofferError(
      'CONFLICT',
      `idempotency key '${input.idempotencyKey}' was already used for a different request (version ${v.id}); use a new key`,
    );
  }
}

/**
 * Checksums compare only when both are declared: a retry may leave it to completeUpload, while
 * the first call declared it (or it was verified since). A retry declaring one that a still
 * pending first call left to completion differs too: it would be silently dropped otherwise.
 */
function shaDiffers(s: NonNullable<q.VersionView['snapshot']>, declared: string | undefined): boolean {
  if (!declared) return false;
  if (s.sha256 === PENDING_SHA256) return s.status === 'pending';
  return s.sha256 !== declared;
}

export async function listVersionsPage(tenant: TenantScope, input: ListVersionsInput) {
  const after = byCreation.after(input.cursor);
  return tenant.run(async (tx) => {
    await requireProject(tx, tenant.id, input.projectId);
    const rows = await q.listVersions(tx, { tenantId: tenant.id, projectId: input.projectId, limit: input.limit + 1, after });
    const latestId = (await latestReady(tx, tenant.id, input.projectId))?.version.id ?? null;
    return toPage(
      rows,
      input.limit,
      (view) => toVersion(view, latestId),
      (view) => byCreation.key(view.version),
    );
  });
}

export function getVersion(tenant: TenantScope, versionId: string): Promise<Version> {
  return tenant.read(async (tx) => present(tx, tenant.id, await loadVersion(tx, tenant.id, versionId)));
}

/** Only flags the row; whatever prunes old versions must skip pinned ones. */
export function pinVersion(tenant: TenantScope, input: { versionId: string; pinned: boolean }): Promise<Version> {
  return tenant.run(async (tx) => {
    if (!(await q.setPinned(tx, { tenantId: tenant.id, id: input.versionId, pinned: input.pinned }))) throw notFound('version');
    return present(tx, tenant.id, await loadVersion(tx, tenant.id, input.versionId));
  });
}
