import type { CleanupJob, CleanupRun } from '../../shared/schemas/lifecycle.ts';
import type { Deps } from '../deps.ts';
import { runEventLog } from './event-log.ts';
import type { JobContext } from './job-context.ts';
import { withJobLock } from './lock.ts';
import { runOrphanDiffPacks, runOrphanObjects } from './orphans.ts';
import { runRetention } from './retention.ts';
import { announce, finishRun, RunStats, ranSince, startRun } from './runs.ts';
import { runStaleUploads } from './stale-uploads.ts';

const JOBS: Record<CleanupJob, (job: JobContext) => Promise<void>> = {
  retention: runRetention,
  'orphan-diff-packs': runOrphanDiffPacks,
  'orphan-objects': runOrphanObjects,
  'stale-uploads': runStaleUploads,
  'event-log': runEventLog,
};

/** S3 DeleteObjects takes at most 1,000 keys. */
export const MAX_BATCH = 1000;

export interface RunOptions {
  job: CleanupJob;
  dryRun?: boolean;
  /** Recorded in cleanup_runs: `admin`, `schedule`, ... */
  triggeredBy: string;
  /** Smaller batches in tests, to exercise batch boundaries without thousands of rows. */
  batchSize?: number;
}

export type RunResult = { status: 'already_running'; job: CleanupJob } | { status: 'ran'; run: CleanupRun };

/** Runs a job now, unless another instance is running it (then says so and does nothing). */
export async function runCleanup(deps: Deps, opts: RunOptions): Promise<RunResult> {
  const run = await withJobLock(deps.db, opts.job, () => execute(deps, opts));
  return run ? { status: 'ran', run } : { status: 'already_running', job: opts.job };
}

/**
 * The schedule's entry: like runCleanup, but skips a job another instance's timer already ran in
 * the last 12 hours (instances' timers fire at slightly different moments, so the lock alone
 * would let each of them run it once, one after another).
 */
export async function runScheduled(deps: Deps, job: CleanupJob): Promise<RunResult | { status: 'not_due'; job: CleanupJob }> {
  const result = await withJobLock(deps.db, job, async () => {
    if (await ranSince(deps.db, job, new Date(deps.now().getTime() - 12 * 60 * 60 * 1000))) return { status: 'not_due' as const, job };
    return { status: 'ran' as const, run: await execute(deps, { job, triggeredBy: 'schedule' }) };
  });
  return result ?? { status: 'already_running', job };
}

/**
 * Records the run, runs the job, announces it to the affected tenants, and finishes the record.
 * A failure stops the job (what it did so far stays done and is counted) and marks the run
 * failed; the next run resumes, since every job starts from what the database says now.
 */
async function execute(deps: Deps, opts: RunOptions): Promise<CleanupRun> {
  const dryRun = opts.dryRun ?? false;
  const now = deps.now();
  const id = await startRun(deps.db, { job: opts.job, triggeredBy: opts.triggeredBy, dryRun, now });
  const stats = new RunStats();
  const ctx: JobContext = { deps, dryRun, batchSize: Math.min(opts.batchSize ?? MAX_BATCH, MAX_BATCH), now, stats };
  let failed = false;
  try {
    await JOBS[opts.job](ctx);
  } catch (err) {
    failed = true;
    stats.error(err);
  }
  await announce(deps, opts.job, dryRun, stats).catch((err: unknown) => stats.error(err));
  return finishRun(deps.db, { id, stats, failed, now: deps.now() });
}
