import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CofferClient } from '../../client/src/index.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';
import { putBytes, randomBody, sha256 } from '../support/upload.ts';

const ROUNDS = 3;

describe.each(BACKENDS)('artifact.deleteByEntity on %s', (backend) => {
  let server: TestServer;
  const eventsOf = (tenantId: string, type: string) =>
    server.systemDb.query.events.findMany({ where: (e, { and, eq }) => and(eq(e.tenantId, tenantId), eq(e.type, type)) });

  beforeAll(async () => {
    server = await startTestServer({ backend });
  });
  afterAll(() => server?.close());

  /** Three artifacts of the entity: a JSON put, a ready upload and a pending one. Returns their ids and storage keys. */
  async function seed(client: CofferClient, entityId: string) {
    const ref = { entityType: 'chat', entityId };
    const put = await client.artifact.put.mutate({ kind: 'chat_transcript', payload: { m: entityId }, ...ref });
    const bytes = randomBody(1000);
    const up = await client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
      sha256: sha256(bytes),
      ...ref,
    });
    await putBytes(client, up.artifact.id, up.upload, bytes);
    await client.artifact.completeUpload.mutate({ id: up.artifact.id });
    const pending = await client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: 10,
      ...ref,
    });
    return [put.id, up.artifact.id, pending.artifact.id];
  }
  const keysOf = async (ids: string[]) =>
    (await server.systemDb.query.artifacts.findMany({ where: (a, { inArray }) => inArray(a.id, ids) })).map((a) => a.storageKey);

  it('refuses bad input and touches nothing of another tenant or another entity', async () => {
    const owner = await server.newTenant('owner');
    const other = await server.newTenant('other');
    const ids = await seed(owner.client, 'chat-1');
    const keep = await seed(owner.client, 'chat-2');
    await expectTrpcError(owner.client.artifact.deleteByEntity.mutate({ entityType: '', entityId: 'chat-1' }), 'BAD_REQUEST', /entityType/);
    await expectTrpcError(owner.client.artifact.deleteByEntity.mutate({ entityType: 'chat' } as never), 'BAD_REQUEST', /entityId/);
    expect(await other.client.artifact.deleteByEntity.mutate({ entityType: 'chat', entityId: 'chat-1' })).toEqual({
      deleted: 0,
      inProgress: [],
    });
    const listed = (await owner.client.artifact.list.query({ entityType: 'chat' })).items.map((a) => a.id).sort();
    expect(listed).toEqual([...ids, ...keep].sort());
  });

  it('deletes objects, rows and emits events; a repeat deletes nothing more', async () => {
    const t = await server.newTenant('app');
    const ids = await seed(t.client, 'chat-9');
    const keep = await seed(t.client, 'chat-10');
    const keys = await keysOf(ids);
    expect(await t.client.artifact.deleteByEntity.mutate({ entityType: 'chat', entityId: 'chat-9' })).toEqual({
      deleted: 3,
      inProgress: [],
    });
    for (const key of keys) expect(await server.deps.storage.head(key)).toBeNull();
    expect((await t.client.artifact.list.query({ entityType: 'chat', entityId: 'chat-9' })).items).toEqual([]);
    expect((await t.client.artifact.list.query({ entityType: 'chat', entityId: 'chat-10' })).items).toHaveLength(3);
    expect((await eventsOf(t.tenantId, 'artifact_deleted')).map((e) => e.artifactId).sort()).toEqual([...ids].sort());
    expect(await t.client.artifact.deleteByEntity.mutate({ entityType: 'chat', entityId: 'chat-9' })).toEqual({
      deleted: 0,
      inProgress: [],
    });
    expect(await keysOf(keep)).toHaveLength(3);
  });

  it(`agrees with itself when called concurrently: each artifact deleted once (${ROUNDS} rounds)`, async () => {
    const t = await server.newTenant('racing');
    for (let round = 0; round < ROUNDS; round++) {
      const entityId = `race-${round}`;
      const ids = [...(await seed(t.client, entityId)), ...(await seed(t.client, entityId))];
      const results = await Promise.all(
        Array.from({ length: 4 }, () => t.client.artifact.deleteByEntity.mutate({ entityType: 'chat', entityId })),
      );
      expect(results.reduce((n, r) => n + r.deleted, 0)).toBe(ids.length);
      expect((await t.client.artifact.list.query({ entityType: 'chat', entityId })).items).toEqual([]);
      const deletedEvents = (await eventsOf(t.tenantId, 'artifact_deleted')).filter((e) => ids.includes(e.artifactId!));
      expect(deletedEvents).toHaveLength(ids.length);
    }
  });
});
