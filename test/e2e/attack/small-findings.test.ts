import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppRouter } from '../../../server/routers/_app.ts';
import { expectTrpcError } from '../../support/expect-error.ts';
import { BACKENDS, startTestServer, type TestServer } from '../../support/server.ts';

describe('attack: small findings', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'fs' });
  });
  afterAll(() => server?.close());

  it('serves no source map of the console, and the bundle points to none', async () => {
    const js = await fetch(`${server.url}/console/console.js`);
    expect(js.status).toBe(200);
    expect(/sourceMappingURL/.test(await js.text())).toBe(false);
    expect((await fetch(`${server.url}/console/console.js.map`)).status).toBe(404);
  });

  it('serves /files downloads with a sandboxing Content-Security-Policy', async () => {
    const t = await server.newTenant();
    const art = await t.client.artifact.put.mutate({
      kind: 'attachment',
      payload: '<script>alert(1)</script>',
      contentType: 'application/json',
    });
    const { url } = await t.client.artifact.getDownloadUrl.query({ id: art.id });
    for (const method of ['GET', 'HEAD']) {
      const res = await fetch(url, { method });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-security-policy')).toMatch(/(^|;\s*)sandbox(;|$)/);
    }
  });

  it('answers a request head over Node’s 16 KiB limit with a tRPC error a tRPC client can read', async () => {
    const t = await server.newTenant();
    // Coffer's client splits long URLs and refuses a single oversized one itself; a plain tRPC
    // client (any other language's too) sends it.
    const plain = createTRPCClient<AppRouter>({
      links: [httpLink({ url: `${server.url}/trpc`, transformer: superjson, headers: { authorization: `Bearer ${t.apiKey}` } })],
    });
    const err = await plain.artifact.list.query({ entityId: 'x'.repeat(20_000) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCClientError);
    expect((err as TRPCClientError<AppRouter>).data?.httpStatus).toBe(431);
    expect((err as TRPCClientError<AppRouter>).data?.code).toBe('BAD_REQUEST');
    expect((err as Error).message).toMatch(/exceed 16384 bytes/);
  });
});

describe.each(BACKENDS)('attack: filenames that disguise themselves, on %s', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend });
  });
  afterAll(() => server?.close());

  it('refuses bidirectional overrides and isolates in upload filenames', async () => {
    const t = await server.newTenant();
    for (const c of ['\u202E', '\u202D', '\u202A', '\u2066', '\u2067', '\u2068', '\u2069', '\u200F', '\u061C']) {
      await expectTrpcError(
        t.client.artifact.createUpload.mutate({
          kind: 'attachment',
          contentType: 'text/plain',
          sizeBytes: 3,
          filename: `invoice${c}fdp.exe`,
        }),
        'BAD_REQUEST',
        /bidirectional/,
      );
    }
    expect((await t.client.artifact.list.query({ status: 'pending' })).items).toHaveLength(0);
    // Right-to-left names themselves are fine.
    await expect(
      t.client.artifact.createUpload.mutate({ kind: 'attachment', contentType: 'text/plain', sizeBytes: 3, filename: 'تقرير.txt' }),
    ).resolves.toMatchObject({ artifact: { filename: 'تقرير.txt' } });
  });
});
