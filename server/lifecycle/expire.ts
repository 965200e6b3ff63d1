import { eq } from 'drizzle-orm';
import { artifacts } from '../db/schema/index.ts';
import { removeArtifactBytes } from '../services/artifact-bytes.ts';
import { byTenant, type JobContext } from './job-context.ts';
import { artifactPage, type Doomed, markDeleted, removeDeletedRows } from './queries.ts';

type Status = Doomed['status'];

/**
 * Removes artifacts in three steps: rows marked `deleted` with their events (one transaction per
 * tenant), then the objects (one DeleteObjects call per batch), then the rows. A crash after the
 * first step leaves `deleted` rows, which `finishDeleted` completes at the start of every
 * retention run; no step leaves a visible row without its object. Dry: only counts.
 */
export async function expireArtifacts(job: JobContext, rows: Doomed[], from: Status[], opts: { skipPinned?: boolean } = {}): Promise<void> {
  if (rows.length === 0) return;
  if (job.dryRun) {
    for (const r of rows) job.stats.removed(r.tenantId, r.sizeBytes);
    return;
  }
  const { db, storage } = job.deps;
  const marked: Doomed[] = [];
  for (const [tenantId, group] of byTenant(rows)) {
    marked.push(...(await markDeleted(db, { tenantId, ids: group.map((r) => r.id), from, now: job.now, skipPinned: opts.skipPinned })));
  }
  const movedIds = new Set(marked.map((r) => r.id));
  for (const r of rows) {
    // A pending diff pack of a vanished version may still have parts and an unfinished assembly.
    if (movedIds.has(r.id) && r.status === 'pending') await removeArtifactBytes(storage, r);
  }
  await removeObjects(job, marked);
}

/** Objects first, rows after: the reverse order could leave bytes nobody can find. */
async function removeObjects(job: JobContext, rows: Doomed[]): Promise<void> {
  if (rows.length === 0) return;
  const { db, storage } = job.deps;
  await storage.deleteMany(rows.map((r) => r.storageKey));
  for (const [tenantId, group] of byTenant(rows)) {
    await removeDeletedRows(db, { tenantId, ids: group.map((r) => r.id) });
    for (const r of group) job.stats.removed(tenantId, r.sizeBytes);
  }
}

/**
 * Finishes what a crash (of a job or of `artifact.delete`) left: rows already `deleted` have had
 * their event; their objects and rows still go. Examined first by every retention run.
 */
export async function finishDeleted(job: JobContext): Promise<void> {
  let afterId: string | null = null;
  for (;;) {
    const rows = await artifactPage(job.deps.systemDb, { where: eq(artifacts.status, 'deleted'), afterId, limit: job.batchSize });
    if (rows.length === 0) return;
    afterId = rows.at(-1)!.id;
    for (const r of rows) job.stats.examine(r.tenantId);
    if (!job.dryRun) await removeObjects(job, rows);
    else for (const r of rows) job.stats.removed(r.tenantId, r.sizeBytes);
  }
}
