import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCofferClient } from '../../client/src/node.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';
import { putBytes, randomBody, sha256 } from '../support/upload.ts';

const decl = (bytes: Uint8Array) => ({ sizeBytes: bytes.length, sha256: sha256(bytes), contentType: 'application/zip' });
const ROUNDS = 3;

describe.each(BACKENDS)('rebuild requests on %s', (backend) => {
  let server: TestServer;
  const eventsOf = (versionId: string, type: string) =>
    server.systemDb.query.events.findMany({ where: (e, { and, eq }) => and(eq(e.versionId, versionId), eq(e.type, type)) });

  beforeAll(async () => {
    server = await startTestServer({ backend });
  });
  afterAll(() => server?.close());

  it('refuses other tenants, bad ids, and versions that are ready or uploading', async () => {
    const owner = await server.newTenant('owner');
    const other = await server.newTenant('other');
    const { version: bare } = await owner.client.version.create.mutate({ projectId: 'p', source: 'build', prompt: 'x' });
    await expectTrpcError(other.client.version.requestRebuild.mutate({ versionId: bare.id }), 'NOT_FOUND', /version not found/);
    await expectTrpcError(
      other.client.version.uploadSnapshot.mutate({ versionId: bare.id, snapshot: decl(randomBody(10)) }),
      'NOT_FOUND',
      /version not found/,
    );
    await expectTrpcError(owner.client.version.requestRebuild.mutate({ versionId: 'nope' }), 'BAD_REQUEST', /versionId/);

    const bytes = randomBody(100);
    const { version: ready, upload } = await owner.client.version.create.mutate({ projectId: 'p', source: 'build', snapshot: decl(bytes) });
    await expectTrpcError(owner.client.version.requestRebuild.mutate({ versionId: ready.id }), 'CONFLICT', /being uploaded/);
    await putBytes(owner.client, ready.snapshotArtifactId!, upload!, bytes);
    await owner.client.artifact.completeUpload.mutate({ id: ready.snapshotArtifactId! });
    await expectTrpcError(owner.client.version.requestRebuild.mutate({ versionId: ready.id }), 'PRECONDITION_FAILED', /is ready/);
    await expectTrpcError(
      owner.client.version.uploadSnapshot.mutate({ versionId: ready.id, snapshot: decl(bytes) }),
      'PRECONDITION_FAILED',
      /is ready/,
    );
    expect(await eventsOf(bare.id, 'rebuild_requested')).toHaveLength(0);
    expect((await owner.client.version.get.query({ versionId: bare.id })).rebuildRequestedAt).toBeNull();
  });

  it(`records concurrent requests once, with one event (${ROUNDS} rounds)`, async () => {
    const t = await server.newTenant('concurrent requests');
    for (let round = 0; round < ROUNDS; round++) {
      const { version } = await t.client.version.create.mutate({ projectId: 'site', source: 'build', prompt: `round ${round}` });
      const answers = await Promise.all(Array.from({ length: 8 }, () => t.client.version.requestRebuild.mutate({ versionId: version.id })));
      expect(answers.filter((a) => a.requested)).toHaveLength(1);
      expect(new Set(answers.map((a) => a.version.rebuildRequestedAt?.getTime())).size).toBe(1);
      const events = await eventsOf(version.id, 'rebuild_requested');
      expect(events.map((e) => e.data)).toEqual([{ source: 'build', prompt: `round ${round}` }]);
      const download = await t.client.version.download.query({ versionId: version.id });
      expect(download).toMatchObject({
        available: false,
        reason: 'no_snapshot',
        canRebuild: true,
        rebuildRequestedAt: answers[0]!.version.rebuildRequestedAt,
      });
    }
  });

  it('goes from request to a listening worker and back to version_ready, also after a failed snapshot', async () => {
    const app = await server.newTenant('app');
    const worker = createCofferClient({ url: server.url, token: app.apiKey });
    const stop = new AbortController();
    const built: string[] = [];
    const serving = (async () => {
      for await (const e of worker.events({ types: ['rebuild_requested'] }, { signal: stop.signal })) {
        const zip = new TextEncoder().encode(`zip of ${e.versionId} from "${e.type === 'rebuild_requested' ? e.data.prompt : ''}"`);
        await worker.upload(zip, { version: { versionId: e.versionId! } });
        built.push(e.versionId!);
      }
    })().catch((err: unknown) => {
      if (!stop.signal.aborted) throw err;
    });
    try {
      // A version whose snapshot failed verification.
      const bad = randomBody(64);
      const { version, upload } = await app.client.version.create.mutate({
        projectId: 'blog',
        source: 'build',
        prompt: 'a blog',
        snapshot: decl(bad),
      });
      await putBytes(app.client, version.snapshotArtifactId!, upload!, randomBody(64));
      await app.client.artifact.completeUpload.mutate({ id: version.snapshotArtifactId! }).catch(() => {});
      expect((await app.client.version.get.query({ versionId: version.id })).status).toBe('failed');

      await app.client.version.requestRebuild.mutate({ versionId: version.id });
      await expect
        .poll(async () => (await app.client.version.get.query({ versionId: version.id })).status, { timeout: 20_000 })
        .toBe('ready');
      const after = await app.client.version.get.query({ versionId: version.id });
      const expected = new TextEncoder().encode(`zip of ${version.id} from "a blog"`);
      expect(after).toMatchObject({
        status: 'ready',
        rebuildRequestedAt: null,
        snapshot: { sizeBytes: expected.length, sha256: sha256(expected) },
      });
      expect(after.snapshotArtifactId).not.toBe(version.snapshotArtifactId);
      const download = await app.client.version.download.query({ versionId: version.id });
      if (!download.available) throw new Error(download.message);
      expect(sha256(new Uint8Array(await (await fetch(download.downloadUrl)).arrayBuffer()))).toBe(sha256(expected));
      expect(await eventsOf(version.id, 'version_ready')).toHaveLength(1);
      await expect.poll(() => built).toEqual([version.id]); // the worker's upload() returns after the version turned ready
    } finally {
      stop.abort();
      await serving;
      await worker.close();
    }
  });

  it(`lets one of several concurrent snapshot uploads attach; the others get CONFLICT (${ROUNDS} rounds)`, async () => {
    const t = await server.newTenant('racing workers');
    for (let round = 0; round < ROUNDS; round++) {
      const { version } = await t.client.version.create.mutate({ projectId: 'race', source: 'build' });
      const bytes = randomBody(256);
      const tries = await Promise.allSettled(
        Array.from({ length: 4 }, () => t.client.version.uploadSnapshot.mutate({ versionId: version.id, snapshot: decl(bytes) })),
      );
      const won = tries.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of tries.filter((r) => r.status === 'rejected'))
        await expectTrpcError(Promise.reject(r.reason), 'CONFLICT', /being uploaded/);
      const { version: v, upload } = won[0]!.value;
      expect((await t.client.version.get.query({ versionId: version.id })).snapshotArtifactId).toBe(v.snapshotArtifactId);
      await putBytes(t.client, v.snapshotArtifactId!, upload, bytes);
      await t.client.artifact.completeUpload.mutate({ id: v.snapshotArtifactId! });
      expect((await t.client.version.get.query({ versionId: version.id })).status).toBe('ready');
      // Exactly one pending artifact was created and kept: the losers wrote no rows.
      expect((await t.client.artifact.list.query({ kind: 'build_snapshot' })).items.filter((a) => a.versionId === version.id)).toHaveLength(
        1,
      );
    }
  });
});
