import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifacts, events, usageAlerts, versions } from '../../server/db/schema/index.ts';
import { runCleanup } from '../../server/lifecycle/jobs.ts';
import type { S3Storage } from '../../server/storage/s3.ts';
import { MiB } from '../../shared/constants.ts';
import { stagingPrefix, tenantPrefix } from '../../shared/keys.ts';
import { SEPARATE_BUCKETS } from '../support/bucket.ts';
import { untilRan } from '../support/cleanup.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { DAY, listAll, seedArtifacts, seedDailyVersions, wrapStorage } from '../support/lifecycle-seed.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';
import { putBytes, randomBody, sha256 } from '../support/upload.ts';

/** Premium drops the "recent" rule, so a project keeps exactly latest, pinned, month and year firsts. */
const env = {
  COFFER_RETENTION_POLICY: JSON.stringify({ snapshotsByPlan: { premium: { regularDays: 0 } } }),
  COFFER_PART_SIZE: String(5 * MiB),
};
const HOUR = 60 * 60 * 1000;

/** What the retention rules keep of daily snapshots, worked out apart from policy.ts. */
function expectedKept(dates: Date[], now: Date, pinned: number): Set<number> {
  const kept = new Set([dates.length - 1, pinned]);
  const seen = new Set<string>();
  dates.forEach((d, i) => {
    const year = `${d.getUTCFullYear()}`;
    const month = `${year}-${d.getUTCMonth()}`;
    if (!seen.has(year)) kept.add(i);
    if (!seen.has(month) && now.getTime() - d.getTime() < 365 * DAY) kept.add(i);
    seen.add(year).add(month);
  });
  return kept;
}

describe.each(BACKENDS)('lifecycle on %s', (backend) => {
  let server: TestServer;
  let other: TestServer;
  let offsetMs = 0;
  /** Armed by the crash test: deleteMany of this tenant's keys fails after its first call. */
  let crashTenant: string | null = null;
  const slowList = false;
  const db = () => server.systemDb;
  const cleanupEvents = (tenantId: string) =>
    db()
      .select()
      .from(events)
      .where(and(eq(events.tenantId, tenantId), eq(events.type, 'cleanup_completed')));

  beforeAll(async () => {
    let calls = 0;
    server = await startTestServer({
      backend,
      // Its sweeps run with the clock 25 h ahead: on the shared bucket they would take other files' uploads for orphans.
      bucket: SEPARATE_BUCKETS.lifecycle,
      env,
      now: () => new Date(Date.now() + offsetMs),
      storage: (real) =>
        wrapStorage(real, {
          list: async (prefix, opts) => {
            if (slowList) await new Promise((r) => setTimeout(r, 1500));
            return real.list(prefix, opts);
          },
          deleteMany: async (keys) => {
            const mine = crashTenant && keys.some((k) => k.startsWith(tenantPrefix(crashTenant!)));
            if (mine && ++calls > 1) {
              await real.deleteMany(keys.slice(0, keys.length / 2)); // half the batch goes, then the "crash"
              throw new Error('simulated crash in the middle of a batch');
            }
            return real.deleteMany(keys);
          },
        }),
    });
    // A second instance on the same database (its own disk root on fs: only the lock matters here).
    other = await startTestServer({ backend, bucket: SEPARATE_BUCKETS.lifecycle, env: { ...env, COFFER_COST_ALERT_USD: '0' } });
  });
  afterAll(async () => {
    await other?.close();
    await server?.close();
  });

  it('keeps exactly the latest, the pinned, the monthly firsts of the last year and the yearly firsts of two years of daily versions', async () => {
    const t = await server.admin.admin.createTenant.mutate({ name: 'daily builds', plan: 'premium' });
    // A fixed date: how many month and year firsts two years of daily versions hold depends on
    // the day (one fewer on the 1st and 2nd of every month, around New Year, or when the pinned
    // one is a year first), and the count below is written out by hand.
    const now = new Date('2025-06-15T12:00:00Z');
    const rows = await seedDailyVersions(server.deps, { tenantId: t.tenant.id, projectId: 'site', days: 730, now });
    await db().update(versions).set({ pinned: true }).where(eq(versions.id, rows[100]!.versionId));

    offsetMs = now.getTime() - Date.now(); // the run's clock reads that date too
    const result = await server.admin.storage.runCleanup.mutate({ job: 'retention' }).finally(() => (offsetMs = 0));
    if (result.status !== 'ran') throw new Error('expected a run');
    expect(result.run).toMatchObject({ status: 'completed', dryRun: false, errors: 0, triggeredBy: 'admin' });

    const kept = expectedKept(
      rows.map((r) => r.createdAt),
      now,
      100,
    );
    expect(kept.size).toBe(1 + 1 + 3 + 11); // latest, pinned, three year firsts, eleven other month firsts
    const remaining = await db().select({ id: artifacts.id }).from(artifacts).where(eq(artifacts.tenantId, t.tenant.id));
    expect(new Set(remaining.map((r) => r.id))).toEqual(new Set(rows.filter((r) => kept.has(r.i)).map((r) => r.artifactId)));
    const objects = await listAll(server.deps.storage, `${tenantPrefix(t.tenant.id)}projects/site/`);
    expect(new Set(objects.map((o) => o.key))).toEqual(new Set(rows.filter((r) => kept.has(r.i)).map((r) => r.storageKey)));

    // The version rows stay: an expired one answers "no snapshot, rebuild it".
    expect(await db().$count(versions, eq(versions.tenantId, t.tenant.id))).toBe(730);
    const client = server.client(t.apiKey.key);
    expect(await client.version.download.query({ versionId: rows[5]!.versionId })).toMatchObject({
      available: false,
      reason: 'no_snapshot',
      canRebuild: true,
    });
    expect(await cleanupEvents(t.tenant.id)).toMatchObject([
      { data: { job: 'retention', dryRun: false, deleted: 730 - kept.size, examined: 730 } },
    ]);
    expect(await db().$count(events, and(eq(events.tenantId, t.tenant.id), eq(events.type, 'artifact_deleted')))).toBe(730 - kept.size);
  });

  it('expires tenant artifacts by their plan TTL, and a dry run only reports', async () => {
    const t = await server.newTenant('ttl');
    const now = new Date();
    const old = await seedArtifacts(server.deps, { tenantId: t.tenantId, kind: 'chat_transcript', count: 3, ageDays: 91, now });
    const young = await seedArtifacts(server.deps, { tenantId: t.tenantId, kind: 'chat_transcript', count: 2, ageDays: 89, now });

    const dry = await runCleanup(server.deps, { job: 'retention', dryRun: true, triggeredBy: 'test' });
    if (dry.status !== 'ran') throw new Error('expected a run');
    expect(dry.run).toMatchObject({ dryRun: true, status: 'completed' });
    expect(dry.run.deleted).toBeGreaterThanOrEqual(3);
    expect(await cleanupEvents(t.tenantId)).toMatchObject([
      { data: { dryRun: true, deleted: 3, bytesFreed: old.reduce((s, r) => s + r.bytes.length, 0) } },
    ]);
    expect(await listAll(server.deps.storage, tenantPrefix(t.tenantId))).toHaveLength(5);
    expect((await t.client.artifact.list.query({})).items).toHaveLength(5);

    await runCleanup(server.deps, { job: 'retention', triggeredBy: 'test' });
    const left = await t.client.artifact.list.query({});
    expect(new Set(left.items.map((a) => a.id))).toEqual(new Set(young.map((r) => r.id)));
    expect((await listAll(server.deps.storage, tenantPrefix(t.tenantId))).map((o) => o.key).sort()).toEqual(
      young.map((r) => r.storageKey).sort(),
    );
  });

  it('finishes after a crash in the middle of a batch: no row is left pointing at a missing object', async () => {
    const t = await server.newTenant('crash');
    const now = new Date();
    await seedArtifacts(server.deps, { tenantId: t.tenantId, kind: 'agent_trace', count: 25, ageDays: 120, now });
    const young = await seedArtifacts(server.deps, { tenantId: t.tenantId, kind: 'agent_trace', count: 5, ageDays: 1, now });
    crashTenant = t.tenantId;
    const crashed = await runCleanup(server.deps, { job: 'retention', triggeredBy: 'test', batchSize: 10 });
    crashTenant = null;
    if (crashed.status !== 'ran') throw new Error('expected a run');
    expect(crashed.run).toMatchObject({ status: 'failed', errors: 1, errorMessages: ['simulated crash in the middle of a batch'] });
    const half = await db()
      .select()
      .from(artifacts)
      .where(and(eq(artifacts.tenantId, t.tenantId), eq(artifacts.status, 'deleted')));
    expect(half).toHaveLength(10); // marked, objects half gone: invisible to the tenant, finished by the next run
    expect((await t.client.artifact.list.query({ limit: 100 })).items).toHaveLength(10); // 5 old of the third batch, 5 young

    const next = await runCleanup(server.deps, { job: 'retention', triggeredBy: 'test', batchSize: 10 });
    expect(next).toMatchObject({ status: 'ran', run: { status: 'completed', errors: 0 } });
    const rows = await db().select().from(artifacts).where(eq(artifacts.tenantId, t.tenantId));
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(young.map((r) => r.id)));
    const objects = new Set((await listAll(server.deps.storage, tenantPrefix(t.tenantId))).map((o) => o.key));
    expect(objects).toEqual(new Set(rows.map((r) => r.storageKey)));
  });

  it('removes diff packs of vanished versions and old objects without a row, but never uploads in flight', async () => {
    const t = await server.newTenant('orphans');
    const v = [];
    for (let i = 0; i < 3; i++)
      v.push((await t.client.version.create.mutate({ projectId: 'p', source: 'manual', message: `v${i}` })).version);
    const packs = [];
    for (const [from, to] of [
      [0, 1],
      [1, 2],
    ] as const) {
      const bytes = randomBody(300);
      const pack = await t.client.version.putDiffPack.mutate({
        fromVersionId: v[from]!.id,
        toVersionId: v[to]!.id,
        sizeBytes: bytes.length,
        sha256: sha256(bytes),
      });
      await putBytes(t.client, pack.artifact.id, pack.upload, bytes);
      await t.client.artifact.completeUpload.mutate({ id: pack.artifact.id });
      packs.push(pack);
    }
    const packKey = await keyOf(packs[0]!.artifact.id);
    await db().delete(versions).where(eq(versions.id, v[0]!.id)); // what a future version pruning would do
    await untilRan(() => runCleanup(server.deps, { job: 'orphan-diff-packs', triggeredBy: 'test' }));
    await expectTrpcError(t.client.version.getDiffPack.query({ fromVersionId: v[0]!.id, toVersionId: v[1]!.id }), 'NOT_FOUND');
    expect(await server.deps.storage.head(packKey)).toBeNull();
    expect(await db().$count(artifacts, eq(artifacts.id, packs[0]!.artifact.id))).toBe(0);
    expect((await t.client.version.getDiffPack.query({ fromVersionId: v[1]!.id, toVersionId: v[2]!.id })).sizeBytes).toBe(300);

    const orphanKey = `${tenantPrefix(t.tenantId)}chat_transcript/2024/01/01/${randomUUID()}.json`;
    await server.deps.storage.put(orphanKey, Buffer.from('{}'), { contentType: 'application/json' });
    const bytes = randomBody(100);
    const inFlight = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      sizeBytes: bytes.length,
      sha256: sha256(bytes),
      contentType: 'application/octet-stream',
    });
    await putBytes(t.client, inFlight.artifact.id, inFlight.upload, bytes); // uploaded, never completed

    await runCleanup(server.deps, { job: 'orphan-objects', triggeredBy: 'test' });
    expect(await server.deps.storage.head(orphanKey)).not.toBeNull(); // younger than the 24 h grace
    offsetMs = 25 * HOUR;
    try {
      const run = await runCleanup(server.deps, { job: 'orphan-objects', triggeredBy: 'test' });
      expect(run).toMatchObject({ status: 'ran', run: { status: 'completed' } });
    } finally {
      offsetMs = 0;
    }
    expect(await server.deps.storage.head(orphanKey)).toBeNull();
    expect((await t.client.artifact.getUpload.query({ id: inFlight.artifact.id })).parts).toHaveLength(1); // its part was kept
    expect(await t.client.artifact.completeUpload.mutate({ id: inFlight.artifact.id })).toMatchObject({ status: 'ready' });
  });

  it('sweeps what no upload owns any more: stray parts, unrecorded assemblies, temp files of crashed writes', async () => {
    const t = await server.newTenant('leaks');
    const bytes = randomBody(100);
    const ready = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      sizeBytes: 100,
      sha256: sha256(bytes),
      contentType: 'application/octet-stream',
    });
    await putBytes(t.client, ready.artifact.id, ready.upload, bytes);
    await t.client.artifact.completeUpload.mutate({ id: ready.artifact.id });
    // A part that came back after completion (a reused S3 URL, or a crash before the parts were removed).
    const stray = `${stagingPrefix({ tenantId: t.tenantId, artifactId: ready.artifact.id })}1`;
    await server.deps.storage.openStaging(stagingPrefix({ tenantId: t.tenantId, artifactId: ready.artifact.id }));
    await server.deps.storage.put(stray, Buffer.from(bytes), { contentType: 'application/octet-stream' });
    // An assembly a verifier started and never recorded (it crashed in between).
    const unrecordedKey = `${tenantPrefix(t.tenantId)}attachment/2026/01/01/${randomUUID()}.bin`;
    const { uploadId } = await server.deps.storage.createMultipart(unrecordedKey, { contentType: 'application/octet-stream' });
    // An upload still in flight: its part stays.
    const inFlight = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      sizeBytes: 100,
      sha256: sha256(bytes),
      contentType: 'application/octet-stream',
    });
    await putBytes(t.client, inFlight.artifact.id, inFlight.upload, bytes);
    // A temp file a crashed write left on disk.
    const storage = server.deps.config.storage;
    const temp = storage.kind === 'fs' ? join(storage.root, '.tmp', 'crashed-write') : undefined;
    if (temp) {
      await mkdir(dirname(temp), { recursive: true });
      await writeFile(temp, 'partial');
      await utimes(temp, new Date(Date.now() - 2 * DAY), new Date(Date.now() - 2 * DAY));
    }

    offsetMs = 25 * HOUR; // past the 24 h grace
    try {
      await runCleanup(server.deps, { job: 'orphan-objects', triggeredBy: 'test' });
    } finally {
      offsetMs = 0;
    }
    expect(await server.deps.storage.head(stray)).toBeNull();
    expect((await server.deps.storage.listMultipartUploads(tenantPrefix(t.tenantId))).map((u) => u.uploadId)).not.toContain(uploadId);
    if (temp) expect(existsSync(temp)).toBe(false);
    expect((await t.client.artifact.getUpload.query({ id: inFlight.artifact.id })).parts).toHaveLength(1);
    await expect(t.client.artifact.completeUpload.mutate({ id: inFlight.artifact.id })).resolves.toMatchObject({ status: 'ready' });
    const dl = await t.client.artifact.getDownloadUrl.query({ id: ready.artifact.id });
    expect(sha256(new Uint8Array(await (await fetch(dl.url)).arrayBuffer()))).toBe(sha256(bytes));
  });

  it('marks uploads idle past their lifetime failed, and removes their parts and unfinished assembly', async () => {
    const t = await server.newTenant('stale');
    offsetMs = -25 * HOUR; // last active 25 hours ago: past the 24 h idle lifetime
    const small = randomBody(64);
    const big = randomBody(6 * MiB);
    const start = (bytes: Uint8Array) =>
      t.client.artifact.createUpload.mutate({
        kind: 'attachment',
        sizeBytes: bytes.length,
        sha256: sha256(bytes),
        contentType: 'application/octet-stream',
      });
    const single = await start(small);
    const multi = await start(big);
    await putBytes(t.client, single.artifact.id, single.upload, small);
    await putBytes(t.client, multi.artifact.id, multi.upload, big);
    const slow = await start(small); // created long ago, but signs a part now: still alive
    offsetMs = 0;
    await putBytes(t.client, slow.artifact.id, slow.upload, small);
    const fresh = await start(small);
    // The verifier assembles hashed parts as they land: the multi-part upload has an assembly on record.
    await expect
      .poll(async () => (await db().select().from(artifacts).where(eq(artifacts.id, multi.artifact.id)))[0]!.uploadId, {
        timeout: 15_000,
      })
      .toBeTruthy();
    const multiRow = (await db().select().from(artifacts).where(eq(artifacts.id, multi.artifact.id)))[0]!;

    await untilRan(() => server.admin.storage.runCleanup.mutate({ job: 'stale-uploads' }));
    for (const a of [single, multi]) {
      expect(
        await t.client.artifact.list.query({ status: 'failed' }).then((r) => r.items.find((i) => i.id === a.artifact.id)),
      ).toMatchObject({ failureReason: expect.stringMatching(/idle for more than 86400 seconds/) });
      expect((await server.deps.storage.list(stagingPrefix({ tenantId: t.tenantId, artifactId: a.artifact.id }))).items).toEqual([]);
    }
    expect((await t.client.artifact.list.query({ status: 'pending' })).items.map((a) => a.id).sort()).toEqual(
      [slow.artifact.id, fresh.artifact.id].sort(),
    );
    expect((await server.deps.storage.listMultipartUploads('tenants/')).map((u) => u.uploadId)).not.toContain(multiRow.uploadId);
    expect((await db().select().from(artifacts).where(eq(artifacts.id, multi.artifact.id)))[0]!.uploadId).toBeNull();
    expect(await db().$count(events, and(eq(events.tenantId, t.tenantId), eq(events.type, 'artifact_failed')))).toBe(2);
    await expectTrpcError(t.client.artifact.completeUpload.mutate({ id: single.artifact.id }), 'PRECONDITION_FAILED', /idle/);
    await expect(t.client.artifact.completeUpload.mutate({ id: slow.artifact.id })).resolves.toMatchObject({ status: 'ready' });
  });

  it('reports usage equal to what is stored, with a cost estimate and a once-a-day alert', async () => {
    const t = await server.newTenant('usage');
    await t.client.artifact.put.mutate({ kind: 'chat_transcript', payload: { m: 'hello' } });
    await t.client.artifact.put.mutate({ kind: 'agent_trace', payload: { steps: [1, 2, 3] } });
    const bytes = randomBody(5000);
    const { version, upload } = await t.client.version.create.mutate({
      projectId: 'web',
      source: 'build',
      snapshot: { sizeBytes: bytes.length, sha256: sha256(bytes), contentType: 'application/zip' },
    });
    await putBytes(t.client, version.snapshotArtifactId!, upload!, bytes);
    await t.client.artifact.completeUpload.mutate({ id: version.snapshotArtifactId! });
    await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      sizeBytes: 10,
      sha256: sha256(randomBody(10)),
      contentType: 'text/plain',
    }); // pending: not counted

    const usage = await t.client.storage.usage.query();
    const stored = await listAll(server.deps.storage, tenantPrefix(t.tenantId));
    expect(usage.total).toEqual({ bytes: stored.reduce((s, o) => s + o.sizeBytes, 0), objects: stored.length });
    expect(usage.byProject).toEqual([{ projectId: 'web', bytes: 5000, objects: 1 }]);
    expect(usage.byKind.map((k) => k.kind).sort()).toEqual(['agent_trace', 'build_snapshot', 'chat_transcript']);
    expect(usage.operations).toMatchObject({ classA: 4, classB: 6 });
    expect(usage.estimate.storageUsd).toBeCloseTo((usage.total.bytes / 1e9) * 0.015, 4);
    expect(usage.alert).toEqual({ thresholdUsd: 100, exceeded: false });

    // The other instance alerts above $0: logged once per day, however often usage is asked.
    const viaOther = other.client(t.apiKey);
    expect((await viaOther.storage.usage.query()).alert.exceeded).toBe(true);
    await viaOther.storage.usage.query();
    expect(await db().$count(usageAlerts, eq(usageAlerts.tenantId, t.tenantId))).toBe(1);
    const admin = await server.admin.storage.adminUsage.query({ tenantId: t.tenantId });
    expect(admin.tenants).toMatchObject([{ tenantId: t.tenantId, bytes: usage.total.bytes, objects: usage.total.objects }]);
  });

  it('shows the rules of the caller’s plan, and keeps cleanup and bucket rules for the admin', async () => {
    const free = await server.newTenant('free');
    expect(await free.client.storage.lifecycle.query()).toMatchObject({
      plan: 'free',
      snapshots: { regularDays: 30, firstOfMonthDays: 365, firstOfYearDays: null },
      artifactTtlDays: { '*': 90 },
    });
    const premium = await server.admin.admin.createTenant.mutate({ name: 'p', plan: 'premium' });
    expect(await server.client(premium.apiKey.key).storage.lifecycle.query()).toMatchObject({
      plan: 'premium',
      snapshots: { regularDays: 0 },
      artifactTtlDays: { '*': null },
    });

    await expectTrpcError(free.client.storage.runCleanup.mutate({ job: 'retention' }), 'UNAUTHORIZED');
    await expectTrpcError(free.client.storage.cleanupRuns.query({}), 'UNAUTHORIZED');
    await expectTrpcError(free.client.storage.bucketLifecycle.query(), 'UNAUTHORIZED');

    const rules = await server.admin.storage.bucketLifecycle.query();
    expect(rules.configuration.Rules).toEqual([
      {
        ID: 'coffer-abort-incomplete-uploads',
        Status: 'Enabled',
        Filter: { Prefix: 'tenants/' },
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      },
    ]);
    if (backend === 'fs') await expectTrpcError(server.admin.storage.applyBucketLifecycle.mutate(), 'PRECONDITION_FAILED', /S3/);
    else {
      // Ceph and MinIO (S3_ENDPOINT) apply it; s3rver answers NotImplemented, which must say so plainly.
      const applied = await server.admin.storage.applyBucketLifecycle.mutate().catch((err: unknown) => err);
      if (applied instanceof Error) expect(applied.message).toMatch(/does not support bucket lifecycle/);
      else expect((applied as { rules: string[] }).rules).toContain('coffer-abort-incomplete-uploads');
    }
  });

  it('prints and applies the CORS rule browser uploads need, keeping the bucket’s other rules', async () => {
    const t = await server.newTenant('cors');
    await expectTrpcError(t.client.storage.bucketCors.query({}), 'UNAUTHORIZED');
    await expectTrpcError(server.admin.storage.bucketCors.query({ origins: ['https://app.example/path'] }), 'BAD_REQUEST', /origin/);
    const shown = await server.admin.storage.bucketCors.query({ origins: ['https://app.example'] });
    expect(shown.configuration.CORSRules).toEqual([
      expect.objectContaining({
        ID: 'coffer-browser-uploads',
        AllowedOrigins: ['https://app.example'],
        AllowedMethods: ['PUT', 'GET', 'HEAD'],
        AllowedHeaders: expect.arrayContaining(['content-md5', 'if-none-match']),
        ExposeHeaders: expect.arrayContaining(['ETag']),
      }),
    ]);
    if (backend === 'fs') {
      await expectTrpcError(server.admin.storage.applyBucketCors.mutate({ origins: ['https://app.example'] }), 'PRECONDITION_FAILED', /S3/);
      return;
    }
    const storage = server.deps.storage as S3Storage;
    await storage.putCorsRules([{ ID: 'someone-else', AllowedOrigins: ['https://other.example'], AllowedMethods: ['GET'] }]);
    const applied = await server.admin.storage.applyBucketCors.mutate({ origins: ['https://app.example'] });
    expect(applied.rules).toEqual(['someone-else', 'coffer-browser-uploads']);
    const rules = await storage.corsRules();
    expect(rules.find((r) => r.ID === 'coffer-browser-uploads')?.AllowedOrigins).toEqual(['https://app.example']);
    // Applying again replaces our rule, not the others.
    await server.admin.storage.applyBucketCors.mutate({ origins: ['https://app.example', 'http://localhost:5173'] });
    expect((await storage.corsRules()).map((r) => r.ID)).toEqual(['someone-else', 'coffer-browser-uploads']);
    await storage.putCorsRules([]).catch(() => {});
  });

  async function keyOf(artifactId: string): Promise<string> {
    const [row] = await db().select({ key: artifacts.storageKey }).from(artifacts).where(eq(artifacts.id, artifactId));
    return row!.key;
  }
});
