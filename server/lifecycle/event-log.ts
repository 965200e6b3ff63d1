import { withSystem } from '../db/index.ts';
import { pruneEvents } from '../db/queries/events.ts';
import type { JobContext } from './job-context.ts';
import { countEventsBefore, cutoff } from './queries.ts';

/**
 * Prunes the event log past COFFER_EVENT_RETENTION_DAYS, in batches (every tenant's rows, so past
 * row-level security). A client resuming from a pruned id misses what was pruned. Nothing is
 * announced: the tenants' own data did not change.
 */
export async function runEventLog(job: JobContext): Promise<void> {
  const olderThan = cutoff(job.now, job.deps.config.lifecycle.eventRetentionDays);
  if (job.dryRun) return job.stats.pruned(await countEventsBefore(job.deps.systemDb, olderThan));
  for (;;) {
    const n = await withSystem(job.deps.systemDb, (tx) => pruneEvents(tx, { olderThan, limit: job.batchSize }));
    job.stats.pruned(n);
    if (n < job.batchSize) return;
  }
}
