import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { artifacts } from '../../server/db/schema/index.ts';
import { createStorage } from '../../server/storage/index.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('health', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('reports database and storage reachability without secrets', async () => {
    const t = await server.newTenant();
    const h = await t.client.storage.health.query();
    expect(h).toMatchObject({ ok: true, database: { ok: true }, storage: { ok: true, backend: 's3' } });
    expect(h.settings).toMatchObject({ s3Credentials: true, s3Bucket: true, adminToken: true });
    const text = JSON.stringify(h);
    const s3 = inject('s3');
    for (const secret of [s3.secretAccessKey, s3.accessKeyId, s3.endpoint!, server.adminToken]) expect(text).not.toContain(secret);
    await expect(server.admin.storage.health.query()).resolves.toMatchObject({ ok: true });
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });
});

describe('storage unreachable', () => {
  let server: TestServer;
  beforeAll(async () => {
    // A real S3 client against a port nothing listens on: the network failure is real.
    const dead = { ...inject('s3'), endpoint: 'http://127.0.0.1:1' };
    server = await startTestServer({ storage: () => createStorage(dead, { signingSecret: 'x'.repeat(32), publicUrl: () => '' }) });
  });
  afterAll(() => server?.close());

  it('fails artifact.put with SERVICE_UNAVAILABLE and leaves no ready row', async () => {
    const t = await server.newTenant();
    const err = await expectTrpcError(t.client.artifact.put.mutate({ kind: 'attachment', payload: { a: 1 } }), 'SERVICE_UNAVAILABLE');
    expect(err.message).not.toMatch(/127\.0\.0\.1|S3RVER|secret/i);
    const rows = await server.systemDb.select().from(artifacts).where(eq(artifacts.tenantId, t.tenantId));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'failed' });
    expect((await t.client.artifact.list.query({ status: 'ready' })).items).toEqual([]);
  });

  it('reports storage down in health and /healthz answers 503', async () => {
    const t = await server.newTenant();
    const h = await t.client.storage.health.query();
    expect(h).toMatchObject({ ok: false, database: { ok: true }, storage: { ok: false } });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(503);
  });
});
