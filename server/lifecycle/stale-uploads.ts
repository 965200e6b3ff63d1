import { and, eq, inArray, isNotNull, lte } from 'drizzle-orm';
import { artifacts } from '../db/schema/index.ts';
import { removeArtifactBytes } from '../services/artifact-bytes.ts';
import { VERIFY_LEASE_MS } from '../services/artifact-state.ts';
import { byTenant, type JobContext } from './job-context.ts';
import { artifactPage, clearUploadIds, type Doomed, markUploadsFailed } from './queries.ts';

/**
 * Uploads idle for COFFER_UPLOAD_IDLE_TIMEOUT (no part signed, no completion tried) are marked
 * `failed` with an event, and their parts and unfinished assembly removed: `updated_at` is the
 * last activity, so a slow upload that keeps signing parts lives on. A verification stuck that
 * long (its verifier died and nobody completed again) is failed the same way.
 *
 * Only rows this run moved are cleaned, by this run. Resumable: a crash after marking leaves
 * `failed` rows with an upload id, which the second pass aborts, and parts, which the
 * orphan-objects sweep removes since failed rows own none.
 */
export async function runStaleUploads(job: JobContext): Promise<void> {
  const idle = job.deps.config.limits.uploadIdleTimeout;
  const idleSince = new Date(job.now.getTime() - Math.max(idle * 1000, VERIFY_LEASE_MS));
  const stale = and(inArray(artifacts.status, ['pending', 'verifying']), lte(artifacts.updatedAt, idleSince));
  await eachPage(job, stale, async (rows) => {
    if (job.dryRun) {
      for (const r of rows) job.stats.removed(r.tenantId, 0);
      return;
    }
    const reason = `upload idle for more than ${idle} seconds; start a new upload`;
    const failed: Doomed[] = [];
    for (const [tenantId, group] of byTenant(rows)) {
      const ids = group.map((r) => r.id);
      failed.push(
        ...(await markUploadsFailed(job.deps.db, { tenantId, ids, from: ['pending', 'verifying'], idleSince, reason, now: job.now })),
      );
    }
    for (const r of failed) await removeArtifactBytes(job.deps.storage, r);
    await forgetUploadIds(job, failed);
    // Bytes of a partial upload are unknown without listing its parts; counted as 0.
    for (const r of failed) job.stats.removed(r.tenantId, 0);
  });
  if (!job.dryRun) {
    await eachPage(job, and(eq(artifacts.status, 'failed'), isNotNull(artifacts.uploadId)), async (rows) => {
      for (const r of rows) await job.deps.storage.abortMultipart(r.storageKey, r.uploadId!);
      await forgetUploadIds(job, rows);
    });
  }
}

/** Failed rows' assemblies are aborted: forget their ids, so the abort is not retried forever. */
async function forgetUploadIds(job: JobContext, rows: Doomed[]): Promise<void> {
  const multipart = rows.filter((r) => r.uploadId);
  for (const [tenantId, group] of byTenant(multipart)) await clearUploadIds(job.deps.db, { tenantId, ids: group.map((r) => r.id) });
}

async function eachPage(job: JobContext, where: ReturnType<typeof and>, fn: (rows: Doomed[]) => Promise<void>): Promise<void> {
  let afterId: string | null = null;
  for (;;) {
    const rows = await artifactPage(job.deps.systemDb, { where, afterId, limit: job.batchSize });
    if (rows.length === 0) return;
    afterId = rows.at(-1)!.id;
    for (const r of rows) job.stats.examine(r.tenantId);
    await fn(rows);
  }
}
