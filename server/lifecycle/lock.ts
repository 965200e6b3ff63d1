import { type Db, poolOf } from '../db/index.ts';
import { ADVISORY_LOCKS } from '../db/locks.ts';

/**
 * Runs `fn` while holding a session-level advisory lock on a dedicated connection, or returns
 * null at once when another session (another instance) holds it: the second caller is told,
 * never queued. A crashed holder's connection closes and Postgres releases its lock, so a job
 * is never stuck "running". A session lock rather than a transaction-scoped one, because a job
 * runs for minutes and must not keep a transaction open for that long.
 */
export async function withJobLock<T>(db: Db, job: string, fn: () => Promise<T>): Promise<T | null> {
  const client = await poolOf(db).connect();
  let locked = false;
  let broken = false;
  try {
    const r = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as locked', [
      ADVISORY_LOCKS.cleanupJobs,
      job,
    ]);
    locked = r.rows[0]?.locked === true;
    return locked ? await fn() : null;
  } finally {
    if (locked)
      await client.query('select pg_advisory_unlock($1, hashtext($2))', [ADVISORY_LOCKS.cleanupJobs, job]).catch(() => (broken = true));
    // A connection that could not unlock is destroyed, not pooled: closing it releases the lock.
    client.release(broken);
  }
}
