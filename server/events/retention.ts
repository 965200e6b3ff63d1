import { sql } from 'drizzle-orm';
import { type Db, withSystem } from '../db/index.ts';
import { pruneEvents } from '../db/queries/events.ts';

/** Arbitrary constant: the advisory lock that lets one instance at a time prune the event log. */
const RETENTION_LOCK = 0x0c0fe7e;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Prunes events older than `retentionDays`, unless another instance is already doing it
 * (`pg_try_advisory_xact_lock`: skip, don't queue). Returns the rows deleted, or null when
 * skipped. The lifecycle issue's job scheduler can call this directly. Prunes every tenant's
 * events, so it runs past row-level security (withSystem).
 */
export async function pruneEventLog(db: Db, retentionDays: number, now: Date): Promise<number | null> {
  return withSystem(db, async (tx) => {
    const r = await tx.execute<{ locked: boolean }>(sql`select pg_try_advisory_xact_lock(${RETENTION_LOCK}) as locked`);
    if (!r.rows[0]?.locked) return null;
    return pruneEvents(tx, new Date(now.getTime() - retentionDays * DAY_MS));
  });
}

/**
 * Runs `pruneEventLog` every `everyMs` (hourly) until stopped. A stop-gap until the lifecycle
 * issue's scheduled jobs arrive; failures are reported and retried on the next tick.
 */
export function scheduleEventRetention(
  db: Db,
  opts: { retentionDays: number; now: () => Date; everyMs?: number; onResult?: (deleted: number | null, err?: unknown) => void },
): () => void {
  const tick = () =>
    pruneEventLog(db, opts.retentionDays, opts.now()).then(
      (n) => opts.onResult?.(n),
      (err: unknown) => opts.onResult?.(null, err),
    );
  const timer = setInterval(tick, opts.everyMs ?? 60 * 60 * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
