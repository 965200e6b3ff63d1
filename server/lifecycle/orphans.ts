import { TENANTS_PREFIX, tenantOfKey } from '../../shared/keys.ts';
import { expireArtifacts } from './expire.ts';
import type { JobContext } from './job-context.ts';
import { orphanPackPage, ownedKeys } from './queries.ts';

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
 * Objects under `tenants/` that no pending or ready artifact owns, older than the grace period.
 * The grace keeps this away from uploads in flight (their row is written before any byte, but a
 * clock skew or an operator's manual copy should not cost data). Objects of `failed` rows count
 * as orphans: failing an upload removes its bytes, and this finishes that if a crash cut it short.
 * The walk is stateless, so a crash just means the next run lists again.
 */
export async function runOrphanObjects(job: JobContext): Promise<void> {
  const { storage, systemDb, config } = job.deps;
  const olderThan = job.now.getTime() - config.lifecycle.orphanGraceHours * 60 * 60 * 1000;
  let continuationToken: string | undefined;
  do {
    const page = await storage.list(TENANTS_PREFIX, { continuationToken, limit: job.batchSize });
    continuationToken = page.nextToken;
    const old = page.items.filter((o) => o.lastModified.getTime() <= olderThan);
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

/** Keys outside the layout are tallied under a placeholder that is never a tenant (no event). */
function tenantOf(key: string): string {
  return tenantOfKey(key) ?? '00000000-0000-0000-0000-000000000000';
}
