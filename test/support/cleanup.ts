import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs a cleanup job until it has run. A job's lock is cluster-wide and test files running beside
 * this one run the same jobs on the same database, so one attempt can meet theirs and answer
 * `already_running`. Gives the last answer back after 15 s, for the caller's assertion to show.
 */
export async function untilRan<R extends { status: string }>(run: () => Promise<R>): Promise<R> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const result = await run();
    if (result.status !== 'already_running' || Date.now() > deadline) return result;
    await sleep(50);
  }
}
