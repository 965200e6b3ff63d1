import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifacts, events, usageAlerts, versions } from '../../server/db/schema/index.ts';
import { runCleanup } from '../../server/lifecycle/jobs.ts';
import { MiB } from '../../shared/constants.ts';
import { tenantPrefix } from '../../shared/keys.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { DAY, listAll, seedArtifacts, seedDailyVersions, wrapStorage } from '../support/lifecycle-seed.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';
import { putBytes, randomBody, sha256 } from '../support/upload.ts';

/** Premium drops the "recent" rule, so a project keeps exactly latest, pinned, month and year firsts. */
const env = {
  COFFER_RETENTION_POLICY: JSON.stringify({ snapshotsByPlan: { premium: { regularDays: 0 } } }),
  COFFER_MULTIPART_THRESHOLD: String(5 * MiB),
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
  let slowList = false;
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
    other = await startTestServer({ backend, env: { ...env, COFFER_COST_ALERT_USD: '0' } });
  });
  afterAll(async () => {
    await other?.close();
    await server?.close();
  });

  it('keeps exactly the latest, the pinned, the monthly firsts of the last year and the yearly firsts of two years of daily versions', async () => {
    const t = await server.admin.admin.createTenant.mutate({ name: 'daily builds', plan: 'premium' });
    const now = new Date();
    const rows = await seedDailyVersions(server.deps, { tenantId: t.tenant.id, projectId: 'site', days: 730, now });
    await db().update(versions).set({ pinned: true }).where(eq(versions.id, rows[100]!.versionId));

    const result = await server.admin.storage.runCleanup.mutate({ job: 'retention' });
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
      await putBytes(pack.upload, bytes);
      await t.client.artifact.completeUpload.mutate({ id: pack.artifact.id });
      packs.push(pack);
    }
    const packKey = await keyOf(packs[0]!.artifact.id);
    await db().delete(versions).where(eq(versions.id, v[0]!.id)); // what a future version pruning would do
    await runCleanup(server.deps, { job: 'orphan-diff-packs', triggeredBy: 'test' });
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
    await putBytes(inFlight.upload, bytes); // uploaded, never completed

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
    expect(await server.deps.storage.head(await keyOf(inFlight.artifact.id))).not.toBeNull();
    expect(await t.client.artifact.completeUpload.mutate({ id: inFlight.artifact.id })).toMatchObject({ status: 'ready' });
  });

  it('marks stale uploads failed, aborts their multipart uploads and removes partial objects', async () => {
    const t = await server.newTenant('stale');
    offsetMs = -7 * HOUR; // created seven hours ago: their URLs (6 h) are dead
    const small = randomBody(64);
    const big = randomBody(6 * MiB);
    const single = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      sizeBytes: small.length,
      sha256: sha256(small),
      contentType: 'application/octet-stream',
    });
    const multi = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      sizeBytes: big.length,
      sha256: sha256(big),
      contentType: 'application/octet-stream',
    });
    offsetMs = 0;
    const fresh = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      sizeBytes: small.length,
      sha256: sha256(small),
      contentType: 'application/octet-stream',
    });
    await putBytes(single.upload, small);
    if (multi.upload.mode !== 'multipart') throw new Error('expected multipart');
    const parts = await putBytes(multi.upload, big);
    const multiRow = (await db().select().from(artifacts).where(eq(artifacts.id, multi.artifact.id)))[0]!;

    await server.admin.storage.runCleanup.mutate({ job: 'stale-uploads' });
    for (const a of [single, multi]) {
      expect(
        await t.client.artifact.list.query({ status: 'failed' }).then((r) => r.items.find((i) => i.id === a.artifact.id)),
      ).toMatchObject({ failureReason: expect.stringMatching(/not completed/) });
    }
    expect((await t.client.artifact.list.query({ status: 'pending' })).items.map((a) => a.id)).toEqual([fresh.artifact.id]);
    expect(await server.deps.storage.head(await keyOf(single.artifact.id))).toBeNull();
    await expect(server.deps.storage.completeMultipart(multiRow.storageKey, multiRow.uploadId!, parts!)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect((await db().select().from(artifacts).where(eq(artifacts.id, multi.artifact.id)))[0]!.uploadId).toBeNull();
    expect(await db().$count(events, and(eq(events.tenantId, t.tenantId), eq(events.type, 'artifact_failed')))).toBe(2);
    await expectTrpcError(t.client.artifact.completeUpload.mutate({ id: single.artifact.id }), 'PRECONDITION_FAILED', /not completed/);
  });

  it('runs a job once when two instances start it together', async () => {
    const runsOf = async () =>
      (await server.admin.storage.cleanupRuns.query({ limit: 200 })).items.filter((r) => r.job === 'orphan-objects').length;
    const before = await runsOf();
    slowList = true; // the first instance's run holds the lock while it lists
    try {
      const first = runCleanup(server.deps, { job: 'orphan-objects', triggeredBy: 'test' });
      await new Promise((r) => setTimeout(r, 300));
      const second = await other.admin.storage.runCleanup.mutate({ job: 'orphan-objects' });
      expect(second).toEqual({ status: 'already_running', job: 'orphan-objects' });
      expect(await first).toMatchObject({ status: 'ran', run: { status: 'completed' } });
    } finally {
      slowList = false;
    }
    expect(await runsOf()).toBe(before + 1);
    // Once it is done, the other instance may run it.
    expect(await other.admin.storage.runCleanup.mutate({ job: 'orphan-objects', dryRun: true })).toMatchObject({ status: 'ran' });
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
    await putBytes(upload!, bytes);
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

  async function keyOf(artifactId: string): Promise<string> {
    const [row] = await db().select({ key: artifacts.storageKey }).from(artifacts).where(eq(artifacts.id, artifactId));
    return row!.key;
  }
});
