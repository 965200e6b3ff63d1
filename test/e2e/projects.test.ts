import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectTrpcError } from '../support/expect-error.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('version.listProjects', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'fs' });
  });
  afterAll(() => server?.close());

  it("pages through the tenant's own projects by id, and no one else's", async () => {
    const a = await server.newTenant();
    const b = await server.newTenant();
    for (const projectId of ['web', 'api', 'docs', 'api']) await a.client.version.create.mutate({ projectId, source: 'manual' });
    await b.client.version.create.mutate({ projectId: 'secret', source: 'manual' });

    const first = await a.client.version.listProjects.query({ limit: 2 });
    expect(first.items.map((p) => p.id)).toEqual(['api', 'docs']);
    expect(first.items[0]).toMatchObject({ currentVersionId: null, createdAt: expect.any(Date) });
    const second = await a.client.version.listProjects.query({ limit: 2, cursor: first.nextCursor! });
    expect(second).toMatchObject({ items: [{ id: 'web' }], nextCursor: null });
    expect((await a.client.version.listProjects.query()).items).toHaveLength(3);
    expect((await b.client.version.listProjects.query()).items.map((p) => p.id)).toEqual(['secret']);
  });

  it('refuses a cursor it did not make', async () => {
    const a = await server.newTenant();
    await expectTrpcError(a.client.version.listProjects.query({ cursor: 'not a cursor!' }), 'BAD_REQUEST');
  });
});
