import type { Tx } from '../db/index.ts';
import * as q from '../db/queries/versions.ts';
import type { Deps } from '../deps.ts';
import { CofferError, notFound } from '../errors.ts';
import { appendEvent } from '../events/append.ts';
import type { TenantScope } from '../tenant-scope.ts';
import { createUpload } from './uploads.ts';
import { present, snapshotUpload, versionStatus } from './versions.ts';

/**
 * Rebuilds: a version without a usable snapshot (none, expired, or failed) can be built again
 * from its prompt. `requestRebuild` records the wish and tells the tenant's subscribers
 * (`rebuild_requested`); a build worker answers with `uploadSnapshot`, and the version turns
 * ready (`version_ready`) when that upload completes, like any snapshot.
 *
 * Both run with the version's row locked, so concurrent requests make one request and one
 * event, and concurrent answers attach one snapshot.
 */

function refuseUnlessRebuildable(view: q.VersionView, doing: string): void {
  const status = versionStatus(view);
  if (status === 'ready') {
    throw new CofferError('PRECONDITION', `cannot ${doing}: version ${view.version.id} is ready; download it instead`);
  }
  if (status === 'uploading') {
    throw new CofferError('CONFLICT', `cannot ${doing}: a snapshot of version ${view.version.id} is being uploaded; wait for it`);
  }
}

async function lockOwn(tx: Tx, tenantId: string, versionId: string): Promise<q.VersionView> {
  const view = await q.lockVersion(tx, { tenantId, id: versionId });
  if (!view) throw notFound('version');
  return view;
}

/** Idempotent: while a request is open, asking again changes nothing and emits nothing. */
export function requestRebuild(deps: Deps, tenant: TenantScope, input: { versionId: string }) {
  return tenant.run(async (tx) => {
    const view = await lockOwn(tx, tenant.id, input.versionId);
    refuseUnlessRebuildable(view, 'request a rebuild');
    const v = view.version;
    if (v.rebuildRequestedAt) return { version: await present(tx, tenant.id, view), requested: false };
    await q.setRebuildRequested(tx, { tenantId: tenant.id, id: v.id, at: deps.now() });
    await appendEvent(tx, tenant.id, {
      type: 'rebuild_requested',
      projectId: v.projectId,
      versionId: v.id,
      data: { source: v.source, prompt: v.prompt },
    });
    return { version: await present(tx, tenant.id, (await q.findVersion(tx, { tenantId: tenant.id, id: v.id }))!), requested: true };
  });
}

/**
 * A new snapshot for a version that has none or a failed one, uploaded like any other
 * (artifact.signParts, PUTs, artifact.completeUpload). Also without a request: a worker may
 * rebuild on its own. The old snapshot row, if any, stays as it was (failed or gone).
 */
export async function uploadSnapshot(
  deps: Deps,
  tenant: TenantScope,
  input: { versionId: string; snapshot: { sizeBytes: number; sha256?: string; contentType: string } },
) {
  // Checked before the upload is set up too, so a wrong call costs nothing; the locked check below decides.
  const before = await tenant.run(async (tx) => (await q.findVersion(tx, { tenantId: tenant.id, id: input.versionId })) ?? null);
  if (!before) throw notFound('version');
  refuseUnlessRebuildable(before, 'upload a snapshot');
  const { projectId, id: versionId } = before.version;
  const created = await createUpload(deps, tenant, snapshotUpload(tenant, { projectId, versionId }, input.snapshot), async (tx, row) => {
    refuseUnlessRebuildable(await lockOwn(tx, tenant.id, versionId), 'upload a snapshot');
    await q.attachSnapshot(tx, { tenantId: tenant.id, id: versionId, artifactId: row.id });
    return present(tx, tenant.id, (await q.findVersion(tx, { tenantId: tenant.id, id: versionId }))!);
  });
  return { version: created.extra, upload: created.upload, warnings: created.warnings };
}
