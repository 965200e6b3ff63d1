import { and, eq, isNotNull, lte } from 'drizzle-orm';
import { artifacts } from '../db/schema/index.ts';
import { byTenant, type JobContext } from './job-context.ts';
import { artifactPage, clearUploadIds, type Doomed, markUploadsFailed } from './queries.ts';

/**
 * Pending uploads not completed within the upload URL expiry can never complete (their URLs are
 * dead), so they are marked `failed` with an event, their multipart upload aborted and any partial
 * object deleted. `updated_at` is the age: a pending row is not updated until it completes.
 *
 * Resumable: a crash after marking leaves `failed` rows with an upload id, which the second pass
 * aborts (and any run's orphan-objects sweep removes their bytes, since failed rows own none).
 */
export async function runStaleUploads(job: JobContext): Promise<void> {
  const expiry = job.deps.config.limits.uploadUrlExpiry;
  const stale = and(eq(artifacts.status, 'pending'), lte(artifacts.updatedAt, new Date(job.now.getTime() - expiry * 1000)));
  await eachPage(job, stale, async (rows) => {
    if (job.dryRun) {
      for (const r of rows) job.stats.removed(r.tenantId, 0);
      return;
    }
    const reason = `upload not completed within ${expiry} seconds of its creation; start a new upload`;
    const failed: Doomed[] = [];
    for (const [tenantId, group] of byTenant(rows)) {
      failed.push(...(await markUploadsFailed(job.deps.db, { tenantId, ids: group.map((r) => r.id), reason, now: job.now })));
    }
    await abortAll(job, failed);
    // Single-PUT uploads may have written their object without ever being completed.
    await job.deps.storage.deleteMany(failed.map((r) => r.storageKey));
    // Bytes of a partial upload are unknown without a HEAD per object; counted as 0.
    for (const r of failed) job.stats.removed(r.tenantId, 0);
  });
  if (!job.dryRun) {
    await eachPage(job, and(eq(artifacts.status, 'failed'), isNotNull(artifacts.uploadId)), (rows) => abortAll(job, rows));
  }
}

/** Aborts the multipart uploads of failed rows and then forgets their ids. */
async function abortAll(job: JobContext, rows: Doomed[]): Promise<void> {
  const multipart = rows.filter((r) => r.uploadId);
  for (const r of multipart) await job.deps.storage.abortMultipart(r.storageKey, r.uploadId!);
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
