import { parseStagingKey, stagingPrefix, TENANTS_PREFIX, tenantOfKey, UPLOADS_PREFIX } from '../../shared/keys.ts';
import { expireArtifacts } from './expire.ts';
import type { JobContext } from './job-context.ts';
import { assembliesInFlight, orphanPackPage, ownedKeys, uploadsInFlight } from './queries.ts';

/** Diff packs whose from- or to-version no longer exists: removed like any expired artifact. */
export async function runOrphanDiffPacks(job: JobContext): Promise<void> {
  let afterId: string | null = null;
  for (;;) {
    const rows = await orphanPackPage(job.deps.systemDb, { afterId, limit: job.batchSize });
    if (rows.length === 0) return;
    afterId = rows.at(-1)!.id;
    for (const r of rows) job.stats.examine(r.tenantId);
    await expireArtifacts(job, rows, ['pending', 'ready', 'failed']);
  }
}

/**
 * What no artifact owns any more, older than the grace period (COFFER_ORPHAN_GRACE_HOURS, which
 * also keeps this away from anything a clock skew or an operator's manual copy put there):
 * - objects under `tenants/` that no pending, verifying or ready artifact has as its key (objects
 *   of failed rows count: failing an upload removes its bytes, and this finishes that if a crash
 *   cut it short);
 * - parts under `uploads/` of artifacts whose upload is no longer in flight (a crash between
 *   `ready` and removing the parts; a reused S3 part URL writing after the end);
 * - unfinished assemblies (S3 multipart uploads) that no upload in flight has on record;
 * - temp files of writes a crash cut short (disk).
 * Every walk is stateless, so a crash just means the next run lists again.
 */
export async function runOrphanObjects(job: JobContext): Promise<void> {
  const olderThan = new Date(job.now.getTime() - job.deps.config.lifecycle.orphanGraceHours * 60 * 60 * 1000);
  await sweepArtifactObjects(job, olderThan);
  await sweepParts(job, olderThan);
  await sweepAssemblies(job, olderThan);
  if (!job.dryRun) job.stats.pruned(await job.deps.storage.removeStaleTemporaries(olderThan));
}

async function sweepArtifactObjects(job: JobContext, olderThan: Date): Promise<void> {
  const { storage, systemDb } = job.deps;
  let continuationToken: string | undefined;
  do {
    const page = await storage.list(TENANTS_PREFIX, { continuationToken, limit: job.batchSize });
    continuationToken = page.nextToken;
    const old = page.items.filter((o) => o.lastModified <= olderThan);
    const owned = await ownedKeys(
      systemDb,
      old.map((o) => o.key),
    );
    const orphans = old.filter((o) => !owned.has(o.key));
    for (const o of page.items) job.stats.examine(tenantOf(o.key));
    if (orphans.length && !job.dryRun) await storage.deleteMany(orphans.map((o) => o.key));
    for (const o of orphans) job.stats.removed(tenantOf(o.key), o.sizeBytes);
  } while (continuationToken);
}

/** Parts are removed per upload (discardStaging), which on disk also closes the upload's folder. */
async function sweepParts(job: JobContext, olderThan: Date): Promise<void> {
  const { storage, systemDb } = job.deps;
  let continuationToken: string | undefined;
  do {
    const page = await storage.list(UPLOADS_PREFIX, { continuationToken, limit: job.batchSize });
    continuationToken = page.nextToken;
    const parts = page.items.map((o) => ({ ...o, ...parseStagingKey(o.key) })).filter((o) => o.artifactId && o.lastModified <= olderThan);
    const live = await uploadsInFlight(systemDb, [...new Set(parts.map((p) => p.artifactId!))]);
    const orphans = parts.filter((p) => !live.has(p.artifactId!));
    for (const p of parts) job.stats.examine(p.tenantId!);
    if (!job.dryRun) {
      const uploads = new Map(orphans.map((p) => [p.artifactId!, p.tenantId!]));
      for (const [artifactId, tenantId] of uploads) await storage.discardStaging(stagingPrefix({ tenantId, artifactId }));
    }
    for (const p of orphans) job.stats.removed(p.tenantId!, p.sizeBytes);
  } while (continuationToken);
}

async function sweepAssemblies(job: JobContext, olderThan: Date): Promise<void> {
  const { storage, systemDb } = job.deps;
  const old = (await storage.listMultipartUploads(TENANTS_PREFIX)).filter((u) => u.initiated <= olderThan);
  const recorded = await assembliesInFlight(
    systemDb,
    old.map((u) => u.uploadId),
  );
  for (const u of old.filter((u) => !recorded.has(u.uploadId))) {
    job.stats.examine(tenantOf(u.key));
    if (!job.dryRun) await storage.abortMultipart(u.key, u.uploadId);
    job.stats.removed(tenantOf(u.key), 0);
  }
}

/** Keys outside the layout are tallied under a placeholder that is never a tenant (no event). */
function tenantOf(key: string): string {
  return tenantOfKey(key) ?? '00000000-0000-0000-0000-000000000000';
}
