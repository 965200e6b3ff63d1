import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, createSystemDb, withSystem, withTenant } from '../../server/db/index.ts';
import { classifyPgError } from '../../server/db/pg-errors.ts';
import { artifacts, tenants, tenantUsage } from '../../server/db/schema/index.ts';
import { MiB } from '../../shared/constants.ts';
import { tenantPrefix } from '../../shared/keys.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { openWs, wsCall } from '../support/raw-wire.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';
import { putBytes, randomBody, sha256 } from '../support/upload.ts';

/**
 * Quotas: over one, puts and uploads of every kind (artifacts, version snapshots, rebuilt
 * snapshots, diff packs) are refused with QUOTA_EXCEEDED before a byte moves, over HTTP, WebSocket
 * and REST alike; pending uploads reserve their size so concurrent callers cannot overshoot; and
 * what counts (tenant_usage, kept by a trigger) always equals the artifacts that hold bytes.
 */
const ROUNDS = Number(process.env.RACE_ROUNDS ?? 6);
// The free plan's quota comes from COFFER_QUOTAS here, merged over the defaults.
const env = { COFFER_PART_SIZE: String(5 * MiB), COFFER_QUOTAS: JSON.stringify({ free: { objects: 500 }, pro: { bytes: 123_456 } }) };
const decl = (bytes: Uint8Array) => ({ sizeBytes: bytes.length, sha256: sha256(bytes), contentType: 'application/zip' });

describe.each(BACKENDS)('quotas on %s', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend, env });
  });
  afterAll(() => server?.close());

  /** A tenant whose quota the admin set to `bytes` and `objects`. */
  async function tenantWith(quota: { bytes?: number | null; objects?: number | null }) {
    const t = await server.newTenant();
    await server.admin.admin.setQuota.mutate({ tenantId: t.tenantId, ...quota });
    return t;
  }

  const rowsOf = (tenantId: string) => server.systemDb.select().from(artifacts).where(eq(artifacts.tenantId, tenantId));

  /** What the trigger counted, next to what the rows say should count. */
  async function expectCountsMatchRows(tenantId: string) {
    const [counted] = await server.systemDb.select().from(tenantUsage).where(eq(tenantUsage.tenantId, tenantId));
    const [actual] = await server.systemDb
      .select({
        bytes: sql<number>`coalesce(sum(${artifacts.sizeBytes}), 0)`.mapWith(Number),
        objects: sql<number>`count(*)`.mapWith(Number),
      })
      .from(artifacts)
      .where(and(eq(artifacts.tenantId, tenantId), inArray(artifacts.status, ['pending', 'verifying', 'ready'])));
    expect({ bytes: counted?.bytes ?? 0, objects: counted?.objects ?? 0 }).toEqual(actual);
    return actual!;
  }

  const payloadOf = (bytes: number) => ({ pad: 'x'.repeat(bytes - 10) }); // JSON.stringify adds 10 bytes: {"pad":""}

  it('refuses the admin procedure to tenants, and bad quotas with a message that says what to fix', async () => {
    const t = await server.newTenant();
    await expectTrpcError(t.client.admin.setQuota.mutate({ tenantId: t.tenantId, bytes: 1e12 }), 'UNAUTHORIZED');
    await expectTrpcError(server.admin.admin.setQuota.mutate({ tenantId: t.tenantId, bytes: -1 }), 'BAD_REQUEST', /bytes/);
    await expectTrpcError(server.admin.admin.setQuota.mutate({ tenantId: t.tenantId, bytes: 1.5 }), 'BAD_REQUEST', /bytes/);
    await expectTrpcError(server.admin.admin.setQuota.mutate({ tenantId: t.tenantId }), 'BAD_REQUEST', /give bytes, objects or both/);
    await expectTrpcError(
      server.admin.admin.setQuota.mutate({ tenantId: '00000000-0000-4000-8000-000000000000', bytes: 1 }),
      'NOT_FOUND',
      /tenant not found/,
    );
    // Nothing changed for the tenant.
    expect((await t.client.storage.usage.query()).quota).toMatchObject({ plan: 'free', source: { bytes: 'plan', objects: 'plan' } });
  });

  it('refuses a put over the byte quota before storing anything, and names the quota, the use and what is left', async () => {
    const t = await tenantWith({ bytes: 1000 });
    const first = await t.client.artifact.put.mutate({ kind: 'agent_trace', payload: payloadOf(600) });
    const err = await expectTrpcError(
      t.client.artifact.put.mutate({ kind: 'agent_trace', payload: payloadOf(600) }),
      'FORBIDDEN',
      /storage quota exceeded: this needs 600 B, and the tenant stores 600 B .* of its 1000 B quota set for this tenant, so 400 B are left/,
    );
    expect(err.data.cofferCode).toBe('QUOTA_EXCEEDED');
    const rows = await rowsOf(t.tenantId);
    expect(rows.map((r) => r.id)).toEqual([first.id]);
    expect((await server.deps.storage.list(tenantPrefix(t.tenantId))).items.map((o) => o.key)).toEqual([rows[0]!.storageKey]);
    // What fits still goes in: exactly up to the quota.
    await t.client.artifact.put.mutate({ kind: 'agent_trace', payload: payloadOf(400) });
    await expectTrpcError(t.client.artifact.put.mutate({ kind: 'agent_trace', payload: payloadOf(11) }), 'FORBIDDEN', /quota/);
    const usage = await t.client.storage.usage.query();
    expect(usage.quota).toMatchObject({ bytes: 1000, used: { bytes: 1000, objects: 2 }, remaining: { bytes: 0 } });
    await expectCountsMatchRows(t.tenantId);
  });

  it('refuses over the object quota', async () => {
    const t = await tenantWith({ objects: 2 });
    await t.client.artifact.put.mutate({ kind: 'agent_trace', payload: { a: 1 } });
    await t.client.artifact.put.mutate({ kind: 'agent_trace', payload: { a: 2 } });
    const err = await expectTrpcError(
      t.client.artifact.put.mutate({ kind: 'agent_trace', payload: { a: 3 } }),
      'FORBIDDEN',
      /object quota exceeded: the tenant stores 2 objects .* of its 2-object quota set for this tenant/,
    );
    expect(err.data.cofferCode).toBe('QUOTA_EXCEEDED');
    expect(await rowsOf(t.tenantId)).toHaveLength(2);
  });

  it('refuses uploads, version snapshots, rebuilt snapshots and diff packs over the quota before any part is signed', async () => {
    const t = await tenantWith({ bytes: 5000 });
    const big = randomBody(5001);
    await expectTrpcError(
      t.client.artifact.createUpload.mutate({ kind: 'attachment', ...decl(big) }),
      'FORBIDDEN',
      /storage quota exceeded: this needs 4\.9 KiB/,
    );
    // A version asked with a snapshot is not created either, nor its project: one transaction.
    await expectTrpcError(
      t.client.version.create.mutate({ projectId: 'site', source: 'build', prompt: 'p', snapshot: decl(big) }),
      'FORBIDDEN',
      /quota/,
    );
    await expectTrpcError(t.client.version.list.query({ projectId: 'site' }), 'NOT_FOUND', /project not found/);
    const { version: bare } = await t.client.version.create.mutate({ projectId: 'site', source: 'manual', message: 'no snapshot' });
    await expectTrpcError(t.client.version.uploadSnapshot.mutate({ versionId: bare.id, snapshot: decl(big) }), 'FORBIDDEN', /quota/);
    const { version: other } = await t.client.version.create.mutate({ projectId: 'site', source: 'manual', message: 'other' });
    await expectTrpcError(
      t.client.version.putDiffPack.mutate({ fromVersionId: bare.id, toVersionId: other.id, sizeBytes: big.length, sha256: sha256(big) }),
      'FORBIDDEN',
      /quota/,
    );
    expect(await rowsOf(t.tenantId)).toHaveLength(0);
    expect((await server.deps.storage.list(`uploads/${t.tenantId}`)).items).toHaveLength(0);
    await expectCountsMatchRows(t.tenantId);
  });

  it('counts a pending upload at its declared size until it is aborted, fails or is deleted', async () => {
    const t = await tenantWith({ bytes: 10_000 });
    const a = randomBody(6000);
    const up = await t.client.artifact.createUpload.mutate({ kind: 'attachment', ...decl(a) });
    await expectTrpcError(t.client.artifact.createUpload.mutate({ kind: 'attachment', ...decl(a) }), 'FORBIDDEN', /stores 5\.9 KiB/);
    expect((await t.client.storage.usage.query()).quota.used).toEqual({ bytes: 6000, objects: 1 });
    await t.client.artifact.abortUpload.mutate({ id: up.artifact.id });
    expect((await t.client.storage.usage.query()).quota.used).toEqual({ bytes: 0, objects: 0 });

    // Failed verification (bytes that do not match the declared sha256) gives the space back.
    const b = await t.client.artifact.createUpload.mutate({ kind: 'attachment', ...decl(a) });
    await putBytes(t.client, b.artifact.id, b.upload, randomBody(6000));
    await expectTrpcError(t.client.artifact.completeUpload.mutate({ id: b.artifact.id }), 'PRECONDITION_FAILED', /sha256/);
    expect((await t.client.storage.usage.query()).quota.used).toEqual({ bytes: 0, objects: 0 });

    // Ready counts; deleted does not.
    const c = await t.client.artifact.createUpload.mutate({ kind: 'attachment', ...decl(a) });
    await putBytes(t.client, c.artifact.id, c.upload, a);
    await t.client.artifact.completeUpload.mutate({ id: c.artifact.id });
    expect((await t.client.storage.usage.query()).quota).toMatchObject({ used: { bytes: 6000, objects: 1 }, remaining: { bytes: 4000 } });
    await t.client.artifact.delete.mutate({ id: c.artifact.id });
    expect((await t.client.storage.usage.query()).quota.used).toEqual({ bytes: 0, objects: 0 });
    await expectCountsMatchRows(t.tenantId);
  });

  it(`never lets concurrent puts and uploads overshoot the quota (${ROUNDS} rounds)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const t = await tenantWith({ bytes: 10 * 500 });
      const size = 500;
      const calls = Array.from({ length: 24 }, (_, i) =>
        i % 2
          ? t.client.artifact.put.mutate({ kind: 'agent_trace', payload: payloadOf(size) })
          : t.client.artifact.createUpload.mutate({ kind: 'attachment', ...decl(randomBody(size)) }),
      );
      const results = await Promise.allSettled(calls);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      expect(won).toHaveLength(10);
      for (const r of lost) expect((r as PromiseRejectedResult).reason.data.cofferCode).toBe('QUOTA_EXCEEDED');
      expect(await expectCountsMatchRows(t.tenantId)).toEqual({ bytes: 5000, objects: 10 });
    }
  });

  it('holds over WebSocket and REST as over HTTP', async () => {
    const t = await tenantWith({ objects: 0 });
    const ws = await openWs(server.url, { token: t.apiKey });
    ws.send(wsCall(1, 'artifact.put', { kind: 'agent_trace', payload: { a: 1 } }, 'mutation'));
    await ws.answers(1);
    expect(ws.received[0]?.error?.json).toMatchObject({
      message: expect.stringMatching(/object quota exceeded/),
      data: { code: 'FORBIDDEN' },
    });
    ws.ws.close();
    const res = await fetch(`${server.url}/api/v1/artifacts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'agent_trace', payload: { a: 1 } }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'FORBIDDEN', cofferCode: 'QUOTA_EXCEEDED', message: expect.stringMatching(/quota/) });
    expect(await rowsOf(t.tenantId)).toHaveLength(0);
  });

  it("applies the plan's quota from COFFER_QUOTAS until the admin overrides it, and back", async () => {
    const t = await server.newTenant();
    const plan = (await t.client.storage.usage.query()).quota;
    // free: bytes from the defaults (10 GB), objects from COFFER_QUOTAS.
    expect(plan).toMatchObject({ plan: 'free', bytes: 10e9, objects: 500, source: { bytes: 'plan', objects: 'plan' } });
    const none = await server.admin.admin.setQuota.mutate({ tenantId: t.tenantId, bytes: null });
    expect(none).toMatchObject({ bytes: null, objects: 500, source: { bytes: 'tenant', objects: 'plan' }, remaining: { bytes: null } });
    const back = await server.admin.admin.setQuota.mutate({ tenantId: t.tenantId, bytes: 'plan', objects: 7 });
    expect(back).toMatchObject({ bytes: 10e9, objects: 7, source: { bytes: 'plan', objects: 'tenant' } });
    // Another plan's tenant has its own plan quota, and one tenant's override is not another's.
    const { tenant } = await server.admin.admin.createTenant.mutate({ name: 'pro tenant', plan: 'pro' });
    const usage = await server.admin.storage.adminUsage.query({ tenantId: tenant.id });
    expect(usage.tenants[0]).toMatchObject({ plan: 'pro', quotaBytes: 123_456, quotaObjects: 10_000_000 });
  });

  it('keeps the count equal to the rows through deletes by entity and a deleted tenant', async () => {
    const t = await tenantWith({ bytes: 1e6 });
    for (let i = 0; i < 5; i++)
      await t.client.artifact.put.mutate({ kind: 'agent_trace', entityType: 'chat', entityId: 'c1', payload: { i } });
    await t.client.artifact.put.mutate({ kind: 'agent_trace', entityType: 'chat', entityId: 'c2', payload: { i: 9 } });
    await t.client.artifact.deleteByEntity.mutate({ entityType: 'chat', entityId: 'c1' });
    expect((await expectCountsMatchRows(t.tenantId)).objects).toBe(1);
    await t.client.artifact.createUpload.mutate({ kind: 'attachment', ...decl(randomBody(100)) });
    expect(await expectCountsMatchRows(t.tenantId)).toEqual({
      bytes: 100 + (await rowsOf(t.tenantId)).find((r) => r.entityId === 'c2')!.sizeBytes,
      objects: 2,
    });
    // Deleting the tenant cascades through its artifacts without recreating its count.
    await server.systemDb.execute(sql`delete from tenants where id = ${t.tenantId}`);
    expect(await server.systemDb.select().from(tenantUsage).where(eq(tenantUsage.tenantId, t.tenantId))).toHaveLength(0);
  });
});

describe('coffer-admin quota', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'fs' });
  });
  afterAll(() => server?.close());

  const adminCli = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['scripts/node-ts.js', 'server/cli.ts', ...args, '--url', server.url], {
      env: { ...process.env, COFFER_ADMIN_TOKEN: server.adminToken },
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('sets, clears and refuses quotas from the command line', async () => {
    const t = await server.newTenant();
    expect(await adminCli('quota', t.tenantId, '--bytes', '5 gigs')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/'5 gigs' is not a quota/),
    });
    expect(await adminCli('quota')).toMatchObject({ code: 1, stderr: expect.stringMatching(/quota needs a tenant id/) });
    const set = await adminCli('quota', t.tenantId, '--bytes', '1.5GiB', '--objects', 'none');
    expect(set).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/bytes: +0\.00 MB of 1610\.61 MB \(set for this tenant\)\nobjects: 0 of no limit/),
    });
    expect((await t.client.storage.usage.query()).quota).toMatchObject({ bytes: 1.5 * 2 ** 30, objects: null });
    expect(await adminCli('quota', t.tenantId, '--bytes', 'plan', '--objects', 'plan')).toMatchObject({ code: 0 });
    expect((await t.client.storage.usage.query()).quota).toMatchObject({ bytes: 10e9, objects: 1_000_000, source: { bytes: 'plan' } });
  });
});

describe('quota settings', () => {
  it('refuses a COFFER_QUOTAS that is not JSON or not quotas, naming the variable', async () => {
    const { loadConfig } = await import('../../server/config/index.ts');
    expect(() => loadConfig({ COFFER_QUOTAS: '{free' })).toThrow(/COFFER_QUOTAS: must be JSON/);
    expect(() => loadConfig({ COFFER_QUOTAS: '{"free":{"bytes":-1}}' })).toThrow(/COFFER_QUOTAS/);
    expect(() => loadConfig({ COFFER_QUOTAS: '{"free":{"byte":1}}' })).toThrow(/COFFER_QUOTAS/);
    expect(loadConfig({ COFFER_QUOTAS: '{"free":{"bytes":null}}' }).quotas.free).toEqual({ bytes: null, objects: 1_000_000 });
  });
});

describe('the quota count (migration 0010)', () => {
  /** A tenant with a 2-object quota, and the service's own pool (coffer_app). */
  async function setUp() {
    const { db, pool } = createDb(inject('databaseRoles').app, { max: 3 });
    const { db: systemDb, pool: systemPool } = createSystemDb(inject('databaseRoles').system);
    const [t] = await withSystem(systemDb, (tx) =>
      tx
        .insert(tenants)
        .values({ name: 'quota lock', quota: { objects: 2 } })
        .returning({ id: tenants.id }),
    );
    const row = () => ({
      id: randomUUID(),
      tenantId: t!.id,
      kind: 'agent_trace',
      storageKey: `tenants/${t!.id}/q/${randomUUID()}`,
      contentType: 'application/json',
      sizeBytes: 1,
      sha256: '0'.repeat(64),
      status: 'ready' as const,
    });
    /** Inserts one artifact and commits, after `afterInsert` (if any) has finished. */
    const insert = (afterInsert?: () => Promise<unknown>) =>
      withTenant(
        db,
        t!.id,
        async (tx) => {
          await tx.insert(artifacts).values(row());
          await afterInsert?.();
        },
        { 'coffer.plan_quotas': '{}' },
      );
    const count = async () => (await withSystem(systemDb, (tx) => tx.select().from(tenantUsage).where(eq(tenantUsage.tenantId, t!.id))))[0];
    const close = async () => {
      await withSystem(systemDb, (tx) => tx.delete(tenants).where(eq(tenants.id, t!.id)));
      await Promise.all([pool.end(), systemPool.end()]);
    };
    return { insert, count, close };
  }

  it("takes the tenant's usage row at COMMIT: an open transaction of a tenant does not hold up the tenant's other writes", async () => {
    const { insert, count, close } = await setUp();
    try {
      let release!: () => void;
      let inserted!: () => void;
      const hasInserted = new Promise<void>((r) => (inserted = r));
      const open = insert(() => {
        inserted();
        return new Promise<void>((r) => (release = r));
      });
      await hasInserted; // its insert has run; it has not committed
      // Counted at the insert, the open transaction's row lock would hold this one until release.
      const next = insert();
      const outcome = await Promise.race([next.then(() => 'committed'), new Promise((r) => setTimeout(r, 3000, 'waited'))]);
      release();
      await open;
      expect(outcome).toBe('committed');
      expect(await count()).toMatchObject({ objects: 2 });
    } finally {
      await close();
    }
  });

  it('refuses at COMMIT over the quota and rolls the whole transaction back', async () => {
    const { insert, count, close } = await setUp();
    try {
      await insert();
      await insert();
      // Raised by the COMMIT, not by a drizzle statement: the classifier still finds it.
      const refused = await insert().then(
        () => null,
        (err: unknown) => err,
      );
      expect(classifyPgError(refused)?.code).toBe('QUOTA_EXCEEDED');
      expect(await count()).toMatchObject({ objects: 2 });
    } finally {
      await close();
    }
  });
});
