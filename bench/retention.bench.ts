/**
 * Retention sweep over 100,000 expired artifacts: `npm run bench -- retention`.
 *
 * Rows are bulk-inserted with one INSERT ... SELECT (10 free-plan tenants x 10,000 chat
 * transcripts, 100 days old, past the 90-day TTL). No objects are written: the disk backend's
 * deletes of missing files are no-ops (an unlink answering ENOENT), so the figures are the
 * database side of the sweep (select, mark deleted + one artifact_deleted event per row, remove
 * rows) plus one unlink per key. Database: DATABASE_URL, else an embedded PostgreSQL in a temp dir.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { count, eq, inArray, sql } from 'drizzle-orm';
import { createCredentials } from '../server/auth/credentials.ts';
import { loadConfig } from '../server/config/index.ts';
import { createDb, createSystemDb } from '../server/db/index.ts';
import { prepareDatabase } from '../server/db/roles.ts';
import { artifacts, events, tenants } from '../server/db/schema/index.ts';
import type { Deps } from '../server/deps.ts';
import type { EventHub } from '../server/events/hub.ts';
import { runCleanup } from '../server/lifecycle/jobs.ts';
import { createStorage } from '../server/storage/index.ts';
import { startDatabase } from './support/services.ts';

const TENANTS = 10;
const PER_TENANT = 10_000;
const DAY = 24 * 60 * 60 * 1000;

async function main(): Promise<void> {
  const database = await startDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'coffer-bench-retention-'));
  const roles = await prepareDatabase(database.value);
  const { db, pool } = createDb(roles.app, { max: 4 });
  const { db: systemDb, pool: systemPool } = createSystemDb(roles.system);
  try {
    const config = { ...loadConfig({ COFFER_DATA_DIR: dataDir, LOG_LEVEL: 'silent' }), databaseUrl: database.value };
    const storage = createStorage(config.storage, {
      signingSecret: 'bench-signing-secret-0123456789abcdef',
      publicUrl: () => 'http://127.0.0.1',
    });
    // No hub: the jobs' events are written, and announced to nobody (other instances would poll them).
    const deps: Deps = {
      config,
      db,
      systemDb,
      storage,
      events: null as unknown as EventHub,
      credentials: createCredentials(null),
      now: () => new Date(),
    };

    const ids = await seed(deps);
    const dry = await timed(() => runCleanup(deps, { job: 'retention', dryRun: true, triggeredBy: 'bench' }));
    const real = await timed(() => runCleanup(deps, { job: 'retention', triggeredBy: 'bench' }));
    const [left] = await systemDb.select({ n: count() }).from(artifacts).where(inArray(artifacts.tenantId, ids));
    const [evs] = await systemDb.select({ n: count() }).from(events).where(inArray(events.tenantId, ids));

    console.log(`database: ${database.label}; storage: disk (objects not written, deletes are no-ops)`);
    report('retention dry run (scan + classify)', dry);
    report('retention sweep (mark + event, delete objects, remove rows)', real);
    console.log(`rows left for the bench tenants: ${left!.n}; events written: ${evs!.n}`);
  } finally {
    await Promise.all([pool.end(), systemPool.end()]);
    await database.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Ten tenants of 10,000 expired transcripts each, inserted by Postgres itself (as the system role: any tenant). */
async function seed(deps: Deps): Promise<string[]> {
  const db = deps.systemDb;
  const rows = await db
    .insert(tenants)
    .values(Array.from({ length: TENANTS }, (_, i) => ({ name: `bench ${i}`, plan: 'free' })))
    .returning({ id: tenants.id });
  const ids = rows.map((r) => r.id);
  const old = new Date(Date.now() - 100 * DAY);
  const start = performance.now();
  await db.execute(sql`
    insert into artifacts (id, tenant_id, kind, storage_key, content_type, size_bytes, sha256, status, created_at, updated_at)
    select gen_random_uuid(), ${tenants.id}, 'chat_transcript', 'tenants/' || ${tenants.id} || '/chat_transcript/bench/' || g || '.json',
           'application/json', 100, repeat('0', 64), 'ready', ${old.toISOString()}::timestamptz, ${old.toISOString()}::timestamptz
    from ${tenants} cross join generate_series(1, ${PER_TENANT}::int) g
    where ${inArray(tenants.id, ids)}`);
  await db.execute(sql`analyze artifacts`);
  const [n] = await db.select({ n: count() }).from(artifacts).where(eq(artifacts.status, 'ready'));
  console.log(
    `seeded ${TENANTS * PER_TENANT} artifacts (${n!.n} ready in the database) in ${((performance.now() - start) / 1000).toFixed(1)} s`,
  );
  return ids;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const start = performance.now();
  const result = await fn();
  return { result, seconds: (performance.now() - start) / 1000 };
}

function report(label: string, { result, seconds }: Awaited<ReturnType<typeof timed<Awaited<ReturnType<typeof runCleanup>>>>>): void {
  if (result.status !== 'ran') return void console.log(`${label}: ${result.status}`);
  const { examined, deleted, status, errors } = result.run;
  console.log(
    `${label}: ${seconds.toFixed(2)} s, examined ${examined}, ${result.run.dryRun ? 'would delete' : 'deleted'} ${deleted} ` +
      `(${Math.round(deleted / seconds).toLocaleString('en-US')} rows/s), status ${status}, errors ${errors}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
