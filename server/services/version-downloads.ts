import type { VersionDownload, VersionDownloadReady, VersionStatus } from '../../shared/schemas/version.ts';
import { lockProject, setCurrentVersion } from '../db/queries/projects.ts';
import type { VersionView } from '../db/queries/versions.ts';
import type { Deps } from '../deps.ts';
import { CofferError } from '../errors.ts';
import { appendEvent } from '../events/append.ts';
import type { TenantScope } from '../tenant-scope.ts';
import { presignDownload } from './artifacts.ts';
import { latestReady, loadVersion, present, requireProject, versionStatus } from './versions.ts';

async function readyDownload(deps: Deps, view: VersionView, filename: string, expiresIn?: number): Promise<VersionDownloadReady> {
  const s = view.snapshot!; // callers checked the version is ready
  const { url, expiresAt } = await presignDownload(deps, s, filename, expiresIn);
  const { id, prompt, createdAt } = view.version;
  return {
    available: true,
    downloadUrl: url,
    expiresAt,
    filename,
    sizeBytes: s.sizeBytes,
    sha256: s.sha256,
    version: { id, prompt, createdAt },
  };
}

const UNAVAILABLE = {
  no_snapshot: () => 'this version has no snapshot',
  uploading: () => 'the snapshot upload has not been completed yet',
  failed: (why: string | null) => `the snapshot upload failed${why ? `: ${why}` : ''}`,
} as const;

/** Not-ready is an answer, not an error: the caller can still rebuild from the prompt. */
function unavailable(view: VersionView, status: Exclude<VersionStatus, 'ready'>): VersionDownload {
  return {
    available: false,
    reason: status,
    message: UNAVAILABLE[status](view.snapshot?.failureReason ?? null),
    canRebuild: true,
    rebuildRequestedAt: view.version.rebuildRequestedAt,
  };
}

const snapshotFilename = (v: VersionView['version']) => `${v.projectId}-${v.id}.zip`;

export async function downloadVersion(
  deps: Deps,
  tenant: TenantScope,
  input: { versionId: string; expiresIn?: number },
): Promise<VersionDownload> {
  const view = await tenant.read((tx) => loadVersion(tx, tenant.id, input.versionId));
  const status = versionStatus(view);
  if (status !== 'ready') return unavailable(view, status);
  return readyDownload(deps, view, snapshotFilename(view.version), input.expiresIn);
}

/** The newest ready version; a newer one still uploading (or failed) is skipped. */
export async function exportLatest(
  deps: Deps,
  tenant: TenantScope,
  input: { projectId: string; expiresIn?: number },
): Promise<VersionDownload> {
  const view = await tenant.run(async (tx) => {
    await requireProject(tx, tenant.id, input.projectId);
    return latestReady(tx, tenant.id, input.projectId);
  });
  if (!view)
    return {
      available: false,
      reason: 'no_ready_version',
      message: `project '${input.projectId}' has no version with a ready snapshot yet`,
      canRebuild: true,
      rebuildRequestedAt: null,
    };
  return readyDownload(deps, view, `${input.projectId}-latest.zip`, input.expiresIn);
}

/**
 * Makes a version the project's current one and returns its download for the deploy worker.
 * The project row is locked so concurrent rollbacks each report the right previous version.
 */
export async function rollbackVersion(deps: Deps, tenant: TenantScope, input: { versionId: string }) {
  const { view, version } = await tenant.run(async (tx) => {
    const target = await loadVersion(tx, tenant.id, input.versionId);
    const { projectId } = target.version;
    const project = await lockProject(tx, { tenantId: tenant.id, projectId });
    const status = versionStatus(target);
    if (status !== 'ready') {
      throw new CofferError(
        'PRECONDITION',
        `cannot roll back to version ${input.versionId}: it has no ready snapshot (status '${status}'); pick a ready version or rebuild this one`,
      );
    }
    await setCurrentVersion(tx, { tenantId: tenant.id, projectId, versionId: input.versionId });
    await appendEvent(tx, tenant.id, {
      type: 'version_rolled_back',
      projectId,
      versionId: input.versionId,
      artifactId: target.snapshot!.id,
      data: { previousVersionId: project?.currentVersionId ?? null },
    });
    const view = await loadVersion(tx, tenant.id, input.versionId);
    return { view, version: await present(tx, tenant.id, view) };
  });
  return { version, download: await readyDownload(deps, view, snapshotFilename(view.version)) };
}
