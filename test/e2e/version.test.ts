import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CofferClient } from '../../client/src/index.ts';
import { MiB } from '../../shared/constants.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';
import { putBytes, randomBody, sha256 } from '../support/upload.ts';

const env = { COFFER_PART_SIZE: String(5 * MiB), COFFER_WARN_UPLOAD_BYTES: String(4 * MiB) };

const decl = (bytes: Uint8Array) => ({ sizeBytes: bytes.length, sha256: sha256(bytes), contentType: 'application/zip' });

/** Creates a version with a snapshot and uploads it the way a build worker would. */
async function readyVersion(client: CofferClient, projectId: string, bytes = randomBody(2048), prompt = 'build it') {
  const { version, upload } = await client.version.create.mutate({ projectId, source: 'build', prompt, snapshot: decl(bytes) });
  await putBytes(client, version.snapshotArtifactId!, upload!, bytes);
  await client.artifact.completeUpload.mutate({ id: version.snapshotArtifactId! });
  return { version, bytes };
}

async function fetchBytes(url: string) {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

describe.each(BACKENDS)('versions on %s', (backend) => {
  let server: TestServer;
  const eventsOf = (versionId: string, type: string) =>
    server.systemDb.query.events.findMany({ where: (e, { and, eq }) => and(eq(e.versionId, versionId), eq(e.type, type)) });

  beforeAll(async () => {
    server = await startTestServer({ backend, env });
  });
  afterAll(() => server?.close());

  it('creates a version, uploads its snapshot and becomes ready through the snapshot', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(10_000);
    const { version, upload } = await t.client.version.create.mutate({
      projectId: 'site-1',
      source: 'build',
      prompt: 'a blog',
      message: 'first',
      snapshot: decl(bytes),
    });
    expect(version).toMatchObject({
      projectId: 'site-1',
      status: 'uploading',
      prompt: 'a blog',
      message: 'first',
      pinned: false,
      isCurrent: false,
      isLatest: false,
    });
    expect(version.snapshot).toEqual({ artifactId: version.snapshotArtifactId, sizeBytes: bytes.length, sha256: sha256(bytes) });
    expect(await eventsOf(version.id, 'version_created')).toHaveLength(1);

    await putBytes(t.client, version.snapshotArtifactId!, upload!, bytes);
    const artifact = await t.client.artifact.completeUpload.mutate({ id: version.snapshotArtifactId! });
    expect(artifact).toMatchObject({
      kind: 'build_snapshot',
      projectId: 'site-1',
      versionId: version.id,
      filename: `site-1-${version.id}.zip`,
    });
    expect(await t.client.version.get.query({ versionId: version.id })).toMatchObject({ status: 'ready', isLatest: true });
    expect(await eventsOf(version.id, 'version_ready')).toHaveLength(1);

    const dl = await t.client.version.download.query({ versionId: version.id });
    if (!dl.available) throw new Error('expected a download');
    expect(dl).toMatchObject({
      filename: `site-1-${version.id}.zip`,
      sizeBytes: bytes.length,
      sha256: sha256(bytes),
      version: { id: version.id, prompt: 'a blog' },
    });
    expect(await fetchBytes(dl.downloadUrl)).toEqual(bytes);
  });

  it('returns the same version for a retried key, with its pending upload plan, as activity', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(6 * MiB);
    const input = { projectId: 'p', source: 'stream' as const, snapshot: decl(bytes), idempotencyKey: 'deploy-42' };
    const first = await t.client.version.create.mutate(input);
    const again = await t.client.version.create.mutate(input);
    expect(again.version.id).toBe(first.version.id);
    expect(again.upload).toMatchObject({ partSize: 5 * MiB, partCount: 2 });
    expect(again.upload!.expiresAt.getTime()).toBeGreaterThan(first.upload!.expiresAt.getTime());
    await putBytes(t.client, again.version.snapshotArtifactId!, again.upload!, bytes);
    await t.client.artifact.completeUpload.mutate({ id: again.version.snapshotArtifactId! });
    const done = await t.client.version.create.mutate(input);
    expect(done).toMatchObject({ version: { id: first.version.id, status: 'ready' } });
    expect(done.upload).toBeUndefined();
    await expectTrpcError(t.client.version.create.mutate({ ...input, prompt: 'something else' }), 'CONFLICT', /idempotency key/);
  });

  it('creates one version for five concurrent calls with one key', async () => {
    const t = await server.newTenant();
    // Above the warning size, so each call also appends a size-warning event: the lock ordering that must not deadlock.
    const snapshot = { sizeBytes: 4 * MiB, sha256: sha256(randomBody(10)), contentType: 'application/zip' };
    const input = { projectId: 'race', source: 'build' as const, snapshot, idempotencyKey: 'k1' };
    const results = await Promise.all(Array.from({ length: 5 }, () => t.client.version.create.mutate(input)));
    expect(new Set(results.map((r) => r.version.id)).size).toBe(1);
    expect(results.every((r) => r.upload?.partCount === 1)).toBe(true);
    expect(results.filter((r) => r.warnings.length > 0)).toHaveLength(1);
    expect((await t.client.version.list.query({ projectId: 'race' })).items).toHaveLength(1);
    expect((await t.client.artifact.list.query({ kind: 'build_snapshot' })).items).toHaveLength(1);
  });

  it('creates versions concurrently in a new project, with and without size warnings, without deadlock', async () => {
    const t = await server.newTenant();
    const create = (projectId: string, i: number) =>
      t.client.version.create.mutate({
        projectId,
        source: 'build',
        snapshot: { sizeBytes: i % 2 ? 4 * MiB : 10, sha256: sha256(randomBody(4)), contentType: 'application/zip' },
      });
    // The deadlock needed an unlucky interleaving, so give it a few rounds.
    for (const projectId of ['fresh-1', 'fresh-2', 'fresh-3', 'fresh-4']) {
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => create(projectId, i)));
      expect(new Set(results.map((r) => r.version.id)).size).toBe(6);
    }
  });

  it('answers available:false for a version without snapshot and for a failed upload', async () => {
    const t = await server.newTenant();
    const { version: bare } = await t.client.version.create.mutate({ projectId: 'p', source: 'manual', prompt: 'x' });
    expect(bare).toMatchObject({ status: 'no_snapshot', snapshot: null, snapshotArtifactId: null });
    expect(await t.client.version.download.query({ versionId: bare.id })).toEqual({
      available: false,
      reason: 'no_snapshot',
      message: expect.any(String),
      canRebuild: true,
      rebuildRequestedAt: null,
    });

    const bytes = randomBody(512);
    const { version, upload } = await t.client.version.create.mutate({
      projectId: 'p',
      source: 'build',
      snapshot: { ...decl(bytes), sha256: sha256(randomBody(8)) },
    });
    await putBytes(t.client, version.snapshotArtifactId!, upload!, bytes);
    await expectTrpcError(t.client.artifact.completeUpload.mutate({ id: version.snapshotArtifactId! }), 'PRECONDITION_FAILED', /sha256/);
    expect(await t.client.version.download.query({ versionId: version.id })).toMatchObject({
      available: false,
      reason: 'failed',
      message: expect.stringMatching(/sha256/),
    });
    expect((await t.client.version.get.query({ versionId: version.id })).status).toBe('failed');
  });

  it('lists versions newest first, page by page', async () => {
    const t = await server.newTenant();
    const created = [];
    for (let i = 0; i < 5; i++)
      created.push((await t.client.version.create.mutate({ projectId: 'paged', source: 'manual', message: `v${i}` })).version);
    await t.client.version.create.mutate({ projectId: 'other', source: 'manual' });
    const expected = created.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1)).map((v) => v.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await t.client.version.list.query({ projectId: 'paged', limit: 2, cursor });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((v) => v.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(expected);
    await expectTrpcError(t.client.version.list.query({ projectId: 'paged', cursor: 'nope' }), 'BAD_REQUEST', /cursor/);
  });

  it('exports the newest ready version, not a newer pending one', async () => {
    const t = await server.newTenant();
    await expectTrpcError(t.client.version.exportLatest.query({ projectId: 'nothing-here' }), 'NOT_FOUND');
    await t.client.version.create.mutate({ projectId: 'exp', source: 'manual' });
    expect(await t.client.version.exportLatest.query({ projectId: 'exp' })).toMatchObject({ available: false, reason: 'no_ready_version' });
    await readyVersion(t.client, 'exp');
    const v2 = await readyVersion(t.client, 'exp', randomBody(3000), 'second');
    await t.client.version.create.mutate({ projectId: 'exp', source: 'build', snapshot: decl(randomBody(10)) });
    const latest = await t.client.version.exportLatest.query({ projectId: 'exp' });
    if (!latest.available) throw new Error('expected a download');
    expect(latest).toMatchObject({
      filename: 'exp-latest.zip',
      sha256: sha256(v2.bytes),
      version: { id: v2.version.id, prompt: 'second' },
    });
    expect(await fetchBytes(latest.downloadUrl)).toEqual(v2.bytes);
    const [pending, second] = (await t.client.version.list.query({ projectId: 'exp' })).items;
    expect(pending).toMatchObject({ status: 'uploading', isLatest: false });
    expect(second).toMatchObject({ id: v2.version.id, isLatest: true });
  });

  it('rolls back to a version, records the previous one, and refuses a version without ready snapshot', async () => {
    const t = await server.newTenant();
    const v1 = await readyVersion(t.client, 'web');
    const v2 = await readyVersion(t.client, 'web');
    const r1 = await t.client.version.rollback.mutate({ versionId: v1.version.id });
    expect(r1.version).toMatchObject({ id: v1.version.id, isCurrent: true, isLatest: false });
    expect(r1.download.filename).toBe(`web-${v1.version.id}.zip`);
    expect(await fetchBytes(r1.download.downloadUrl)).toEqual(v1.bytes);
    await t.client.version.rollback.mutate({ versionId: v2.version.id });
    expect((await t.client.version.get.query({ versionId: v1.version.id })).isCurrent).toBe(false);
    expect((await t.client.version.get.query({ versionId: v2.version.id })).isCurrent).toBe(true);
    const [e1] = await eventsOf(v1.version.id, 'version_rolled_back');
    const [e2] = await eventsOf(v2.version.id, 'version_rolled_back');
    expect(e1?.data).toEqual({ previousVersionId: null });
    expect(e2?.data).toEqual({ previousVersionId: v1.version.id });

    const { version: bare } = await t.client.version.create.mutate({ projectId: 'web', source: 'manual' });
    await expectTrpcError(t.client.version.rollback.mutate({ versionId: bare.id }), 'PRECONDITION_FAILED', /no ready snapshot/);
    expect((await t.client.version.get.query({ versionId: v2.version.id })).isCurrent).toBe(true);
  });

  it('pins and unpins a version', async () => {
    const t = await server.newTenant();
    const { version } = await t.client.version.create.mutate({ projectId: 'pin', source: 'manual' });
    expect(await t.client.version.pin.mutate({ versionId: version.id, pinned: true })).toMatchObject({ id: version.id, pinned: true });
    expect((await t.client.version.get.query({ versionId: version.id })).pinned).toBe(true);
    expect((await t.client.version.pin.mutate({ versionId: version.id, pinned: false })).pinned).toBe(false);
  });

  it('stores a diff pack between two versions and serves it back', async () => {
    const t = await server.newTenant();
    const { version: a } = await t.client.version.create.mutate({ projectId: 'dp', source: 'manual' });
    const { version: b } = await t.client.version.create.mutate({ projectId: 'dp', source: 'manual' });
    const pair = { fromVersionId: a.id, toVersionId: b.id };
    await expectTrpcError(t.client.version.getDiffPack.query(pair), 'NOT_FOUND');
    const bytes = randomBody(4000);
    const put = await t.client.version.putDiffPack.mutate({ ...pair, sizeBytes: bytes.length, sha256: sha256(bytes) });
    expect(put.artifact).toMatchObject({ kind: 'diff_pack', projectId: 'dp', status: 'pending' });
    expect(put.diffPack).toMatchObject({ ...pair, projectId: 'dp', artifactId: put.artifact.id });
    await expectTrpcError(t.client.version.getDiffPack.query(pair), 'NOT_FOUND');
    await putBytes(t.client, put.artifact.id, put.upload, bytes);
    await t.client.artifact.completeUpload.mutate({ id: put.artifact.id });
    const got = await t.client.version.getDiffPack.query(pair);
    expect(got).toMatchObject({ filename: `dp-${a.id}_to_${b.id}.pack.zip`, sizeBytes: bytes.length, sha256: sha256(bytes) });
    expect(await fetchBytes(got.url)).toEqual(bytes);
    await expectTrpcError(t.client.version.putDiffPack.mutate({ ...pair, sizeBytes: 1, sha256: sha256(randomBody(1)) }), 'CONFLICT');
    await expectTrpcError(t.client.version.getDiffPack.query({ fromVersionId: b.id, toVersionId: a.id }), 'NOT_FOUND');
  });

  it('replaces a failed diff pack and refuses packs across projects', async () => {
    const t = await server.newTenant();
    const { version: a } = await t.client.version.create.mutate({ projectId: 'one', source: 'manual' });
    const { version: b } = await t.client.version.create.mutate({ projectId: 'one', source: 'manual' });
    const { version: c } = await t.client.version.create.mutate({ projectId: 'two', source: 'manual' });
    const bytes = randomBody(100);
    await expectTrpcError(
      t.client.version.putDiffPack.mutate({ fromVersionId: a.id, toVersionId: c.id, sizeBytes: 100, sha256: sha256(bytes) }),
      'BAD_REQUEST',
      /different projects/,
    );
    const pair = { fromVersionId: b.id, toVersionId: a.id, sizeBytes: bytes.length };
    const bad = await t.client.version.putDiffPack.mutate({ ...pair, sha256: sha256(randomBody(5)) });
    await putBytes(t.client, bad.artifact.id, bad.upload, bytes);
    await expectTrpcError(t.client.artifact.completeUpload.mutate({ id: bad.artifact.id }), 'PRECONDITION_FAILED');
    const good = await t.client.version.putDiffPack.mutate({ ...pair, sha256: sha256(bytes) });
    await putBytes(t.client, good.artifact.id, good.upload, bytes);
    await t.client.artifact.completeUpload.mutate({ id: good.artifact.id });
    expect(await fetchBytes((await t.client.version.getDiffPack.query(pair)).url)).toEqual(bytes);
    await expectTrpcError(t.client.artifact.getInfo.query({ id: bad.artifact.id }), 'NOT_FOUND');
  });

  it("answers NOT_FOUND for another tenant's versions, projects and diff packs", async () => {
    const a = await server.newTenant();
    const b = await server.newTenant();
    const v1 = await readyVersion(a.client, 'secret');
    const v2 = await readyVersion(a.client, 'secret');
    const bytes = randomBody(10);
    const pack = await a.client.version.putDiffPack.mutate({
      fromVersionId: v1.version.id,
      toVersionId: v2.version.id,
      sizeBytes: 10,
      sha256: sha256(bytes),
    });
    await putBytes(a.client, pack.artifact.id, pack.upload, bytes);
    await a.client.artifact.completeUpload.mutate({ id: pack.artifact.id });
    const versionId = v1.version.id;
    const pair = { fromVersionId: v1.version.id, toVersionId: v2.version.id };
    // Thunks, so each call starts only when awaited (no unhandled rejections in between).
    const calls = [
      () => b.client.version.get.query({ versionId }),
      () => b.client.version.download.query({ versionId }),
      () => b.client.version.rollback.mutate({ versionId }),
      () => b.client.version.pin.mutate({ versionId, pinned: true }),
      () => b.client.version.list.query({ projectId: 'secret' }),
      () => b.client.version.exportLatest.query({ projectId: 'secret' }),
      () => b.client.version.getDiffPack.query(pair),
      () => b.client.version.putDiffPack.mutate({ ...pair, sizeBytes: 10, sha256: sha256(bytes) }),
    ];
    for (const call of calls) await expectTrpcError(call(), 'NOT_FOUND');
    expect((await a.client.version.get.query({ versionId })).pinned).toBe(false);
  });

  it('refuses project ids that are not safe key segments', async () => {
    const t = await server.newTenant();
    for (const projectId of ['../x', '', 'a'.repeat(200), 'a/b', '.hidden', 'x\u0000y']) {
      await expectTrpcError(t.client.version.create.mutate({ projectId, source: 'manual' }), 'BAD_REQUEST', /projectId|must be/);
      await expectTrpcError(t.client.version.list.query({ projectId }), 'BAD_REQUEST');
    }
    expect((await t.client.version.create.mutate({ projectId: 'a'.repeat(128), source: 'manual' })).version.projectId).toHaveLength(128);
  });
});
