import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADVISORY_LOCKS } from '../../../server/db/locks.ts';
import { cleanupRuns } from '../../../server/db/schema/index.ts';
import { untilRan } from '../../support/cleanup.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';

describe('attack: cleanup runs left running by a crash', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  /** What a process killed mid-run leaves behind: a `running` row nobody will finish. */
  const crashedRun = async (job: string) => {
    const id = randomUUID();
    await server.systemDb
      .insert(cleanupRuns)
      .values({ id, job, triggeredBy: 'schedule', dryRun: false, status: 'running', startedAt: new Date(Date.now() - 3_600_000) });
    return id;
  };
  const runOf = async (id: string) => (await server.systemDb.select().from(cleanupRuns).where(eq(cleanupRuns.id, id)))[0]!;

  it('closes them as failed (interrupted) at the next run of their job', async () => {
    const crashed = await crashedRun('event-log');
    // A dry run closes them too, and prunes nothing another test file seeded.
    const result = await untilRan(() => server.admin.storage.runCleanup.mutate({ job: 'event-log', dryRun: true }));
    expect(result.status).toBe('ran');
    const row = await runOf(crashed);
    expect(row.status).toBe('failed');
    expect(row.finishedAt).toBeInstanceOf(Date);
    expect(row.errorMessages.join(' ')).toMatch(/interrupted/);
    const listed = await server.admin.storage.cleanupRuns.query({ limit: 100 });
    expect(listed.items.find((r) => r.id === crashed)?.status).toBe('failed');
  });

  it('leaves alone a run another instance is still running', async () => {
    const job = 'orphan-diff-packs';
    // Another instance holds the job's lock, as a live run does.
    const other = new pg.Client({ connectionString: server.deps.config.databaseUrl! });
    await other.connect();
    try {
      await other.query('select pg_advisory_lock($1, hashtext($2))', [ADVISORY_LOCKS.cleanupJobs, job]);
      const live = await crashedRun(job);
      expect(await server.admin.storage.runCleanup.mutate({ job })).toMatchObject({ status: 'already_running' });
      expect((await runOf(live)).status).toBe('running');
      await server.systemDb.delete(cleanupRuns).where(eq(cleanupRuns.id, live));
    } finally {
      await other.end();
    }
  });
});
