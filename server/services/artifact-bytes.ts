import { stagingPrefix } from '../../shared/keys.ts';
import type { Storage } from '../storage/types.ts';

/**
 * Removes everything an artifact may have in storage: its object, the parts of an upload in
 * flight and the server's unfinished assembly. Only the caller that moved the artifact out of
 * its state (to failed or deleted) calls this. Failures are left to the cleanup jobs, which find
 * what a row no longer owns; the caller's answer does not depend on them.
 */
export async function removeArtifactBytes(
  storage: Storage,
  row: { id: string; tenantId: string; storageKey: string; uploadId: string | null },
): Promise<void> {
  await Promise.allSettled([
    storage.delete(row.storageKey),
    storage.discardStaging(stagingPrefix({ tenantId: row.tenantId, artifactId: row.id })),
    row.uploadId ? storage.abortMultipart(row.storageKey, row.uploadId) : undefined,
  ]);
}
