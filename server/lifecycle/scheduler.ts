import { CLEANUP_JOBS, type CleanupJob } from '../../shared/schemas/lifecycle.ts';
import type { Deps } from '../deps.ts';
import { runScheduled } from './jobs.ts';

export type Schedule = { hour: number; minute: number };

/** The next moment at or after which `schedule` (UTC, daily) fires, strictly after `now`. */
export function nextRun(now: Date, schedule: Schedule): Date {
  const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), schedule.hour, schedule.minute));
  if (next.getTime() <= now.getTime()) next.setUTCDate(next.getUTCDate() + 1);
  return next;
}

export interface SchedulerHooks {
  onResult?: (job: CleanupJob, result: Awaited<ReturnType<typeof runScheduled>>) => void;
  onError?: (job: CleanupJob, err: unknown) => void;
}

/**
 * Runs every cleanup job once a day at the configured UTC time, one after another (stale uploads
 * first, so the retention and orphan sweeps see their outcome). Every instance runs a timer; the
 * advisory lock and the "already ran today" check make the jobs run once. A plain timer, not a
 * cron library: one daily time is all the setting allows. Returns `stop`.
 */
export function startCleanupScheduler(deps: Deps, hooks: SchedulerHooks = {}): () => void {
  const schedule = deps.config.lifecycle.schedule;
  if (!schedule) return () => {};
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = () => {
    if (stopped) return;
    const wait = nextRun(deps.now(), schedule).getTime() - deps.now().getTime();
    timer = setTimeout(() => void tick().finally(arm), wait);
    timer.unref();
  };
  const tick = async () => {
    for (const job of CLEANUP_JOBS) {
      if (stopped) return;
      await runScheduled(deps, job).then(
        (r) => hooks.onResult?.(job, r),
        (err: unknown) => hooks.onError?.(job, err),
      );
    }
  };
  arm();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
