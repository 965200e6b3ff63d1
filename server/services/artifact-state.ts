import type { NewCofferEvent } from '../../shared/schemas/events.ts';
import * as q from '../db/queries/artifacts.ts';
import { appendEvents } from '../events/append.ts';
import { failureClass, uploadBytes, uploadFailures } from '../metrics.ts';
import type { TenantScope } from '../tenant-scope.ts';

export type Move = Omit<q.TransitionParams, 'tenantId'>;

/**
 * How long a completion may verify an upload without renewing its claim. Past it, a retried
 * completion (or a delete, or the stale-uploads job) may take the upload over: the first
 * verifier presumably died.
 */
export const VERIFY_LEASE_MS = 30_000;

/**
 * Moves an artifact from one state to another (q.transitionArtifact: one conditional update) and,
 * in the same transaction, records what subscribers hear about it. Returns the row only to the
 * caller whose move happened; undefined means someone else moved it first, and the caller must
 * not touch the artifact's storage.
 */
export function moveArtifact(tenant: TenantScope, move: Move): Promise<q.ArtifactRow | undefined> {
  return tenant.run(async (tx) => {
    const row = await q.transitionArtifact(tx, { ...move, tenantId: tenant.id });
    if (row) await appendEvents(tx, tenant.id, eventsOf(row));
    if (row?.status === 'ready' && row.partSize !== null) uploadBytes.inc(row.sizeBytes);
    if (row?.status === 'failed') uploadFailures.inc({ reason: failureClass(row.failureReason) });
    return row;
  });
}

/** What a move to the row's new state tells subscribers. */
function eventsOf(row: q.ArtifactRow): NewCofferEvent[] {
  const links = { artifactId: row.id, projectId: row.projectId, versionId: row.versionId };
  switch (row.status) {
    case 'ready': {
      const uploaded: NewCofferEvent = {
        type: 'artifact_uploaded',
        ...links,
        data: { kind: row.kind, sizeBytes: row.sizeBytes, sha256: row.sha256, filename: row.filename, downloadReady: true },
      };
      // The one rule that ties versions to artifacts: a version is ready when its snapshot is.
      if (row.kind !== 'build_snapshot' || !row.versionId) return [uploaded];
      return [uploaded, { type: 'version_ready', ...links, data: { sizeBytes: row.sizeBytes, sha256: row.sha256 } }];
    }
    case 'failed':
      return [{ type: 'artifact_failed', ...links, data: { kind: row.kind, reason: row.failureReason ?? 'failed' } }];
    case 'deleted':
      return [{ type: 'artifact_deleted', ...links, data: { kind: row.kind } }];
    default:
      // pending and verifying are internal steps of an upload: nothing to announce.
      return [];
  }
}
