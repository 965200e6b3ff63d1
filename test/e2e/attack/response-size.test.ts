import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCofferError } from '../../../client/src/index.ts';
import { MiB } from '../../../shared/constants.ts';
import type { JSONType } from '../../../shared/wire-json.ts';
import { expectTrpcError } from '../../support/expect-error.ts';
import { openWs, wsCall } from '../../support/raw-wire.ts';
import { BACKENDS, startTestServer, type TestServer } from '../../support/server.ts';

/** Metadata whose UTF-8 JSON is exactly `bytes` long. */
const metadataOfBytes = (bytes: number) => ({ note: 'x'.repeat(bytes - '{"note":""}'.length) });
const deep = (levels: number): Record<string, JSONType> => (levels <= 1 ? { leaf: 1 } : { n: deep(levels - 1) });

describe.each(BACKENDS)('attack: unbounded responses, on %s', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      backend,
      env: { COFFER_MAX_INLINE_BYTES: String(MiB), COFFER_MAX_BATCH_READ_BYTES: String(4 * MiB), COFFER_RATE_LIMIT_PER_MINUTE: '0' },
    });
  });
  afterAll(() => server?.close());

  it('bounds metadata by bytes, depth and keys, naming each setting; 8 KB is fine', async () => {
    const t = await server.newTenant();
    const put = (metadata: Record<string, JSONType>) => t.client.artifact.put.mutate({ kind: 'attachment', payload: 1, metadata });
    await expect(put(metadataOfBytes(8000))).resolves.toMatchObject({ metadata: { note: expect.any(String) } });
    await expect(put(metadataOfBytes(16_384))).resolves.toBeTruthy();
    await expectTrpcError(
      put(metadataOfBytes(16_385)),
      'PAYLOAD_TOO_LARGE',
      /16385 bytes.*limit is 16384 bytes \(COFFER_MAX_METADATA_BYTES\)/,
    );
    // Like the audit's 9 MiB of metadata: under the HTTP body limit (3 MiB here), far over the metadata limit.
    await expectTrpcError(put({ big: 'y'.repeat(2 * MiB) }), 'PAYLOAD_TOO_LARGE', /COFFER_MAX_METADATA_BYTES/);
    await expect(put(deep(10))).resolves.toBeTruthy();
    await expectTrpcError(put(deep(11)), 'BAD_REQUEST', /11 levels.*limit is 10 \(COFFER_MAX_METADATA_DEPTH\)/);
    const many = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`k${i}`, i]));
    await expectTrpcError(put(many), 'BAD_REQUEST', /1001 keys.*limit is 1000 \(COFFER_MAX_METADATA_KEYS\)/);
    await expectTrpcError(
      t.client.artifact.createUpload.mutate({
        kind: 'attachment',
        contentType: 'text/plain',
        sizeBytes: 1,
        metadata: metadataOfBytes(20_000),
      }),
      'PAYLOAD_TOO_LARGE',
      /COFFER_MAX_METADATA_BYTES/,
    );
    expect((await t.client.artifact.list.query({})).items).toHaveLength(3);
  });

  it('bounds the payload bytes one batch of artifact.get may return by COFFER_MAX_BATCH_READ_BYTES', async () => {
    const t = await server.newTenant();
    const art = await t.client.artifact.put.mutate({ kind: 'attachment', payload: 'z'.repeat(MiB - 100) });
    // 50 gets in one tick: the client sends them as one batched request.
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => t.client.artifact.get.query({ id: art.id })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(ok.length).toBe(4);
    expect(refused).toHaveLength(46);
    for (const err of refused) {
      expect(isCofferError(err) && err.data.code).toBe('PAYLOAD_TOO_LARGE');
      expect((err as Error).message).toMatch(/4194304 bytes.*\(COFFER_MAX_BATCH_READ_BYTES\)/);
    }
    // Alone, it is read as always; a WebSocket message is held to the same budget.
    await expect(t.client.artifact.get.query({ id: art.id })).resolves.toMatchObject({ artifact: { id: art.id } });
    const socket = await openWs(server.url, { token: t.apiKey });
    socket.send(Array.from({ length: 10 }, (_, i) => wsCall(i + 1, 'artifact.get', { id: art.id })));
    await socket.answers(10);
    // Over a WebSocket the budget is what one connection has in flight and not yet sent, so how
    // many fit depends on timing; that some are refused does not.
    const refusedWs = socket.received.filter((m) => m.error?.json.data.code === 'PAYLOAD_TOO_LARGE');
    expect(refusedWs.length).toBeGreaterThan(0);
    expect(refusedWs[0]?.error?.json.message).toMatch(/COFFER_MAX_BATCH_READ_BYTES/);
    expect(socket.received.filter((m) => m.result).length + refusedWs.length).toBe(10);
    socket.ws.close();
  });
});
