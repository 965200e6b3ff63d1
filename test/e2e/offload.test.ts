import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_OFFLOAD_THRESHOLD, jsonBytes, type Metadata, offloadMetadata, resolveMetadata } from '../../client/src/index.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/** Metadata whose JSON is exactly `bytes` long (UTF-8), with a multi-byte character in it. */
function metadataOfSize(bytes: number, extra: Metadata = {}): Metadata {
  const base = { model: 'gpt-x', usage: { input: 12, output: 34 }, note: 'é', ...extra, pad: '' };
  const padding = bytes - jsonBytes(base);
  if (padding < 0) throw new Error('base metadata is already too big');
  return { ...base, pad: 'x'.repeat(padding) };
}

const tools = [
  { tool: 'search', input: { q: 'coffer' }, output: 'a'.repeat(3000) },
  { tool: 'fetch', input: { url: 'https://example.com' }, output: { status: 200 } },
];

describe('metadata offloading', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'fs' });
  });
  afterAll(async () => server?.close());

  it('keeps metadata of exactly the threshold inline, and offloads one byte more', async () => {
    const { client } = await server.newTenant();
    const exact = metadataOfSize(DEFAULT_OFFLOAD_THRESHOLD);
    expect(jsonBytes(exact)).toBe(8000);
    expect(await offloadMetadata(client, exact, { entityType: 'message', entityId: 'm1' })).toEqual(exact);
    expect((await client.artifact.list.query({})).items).toHaveLength(0);

    const over = metadataOfSize(DEFAULT_OFFLOAD_THRESHOLD + 1);
    const envelope = await offloadMetadata(client, over, { entityType: 'message', entityId: 'm2', keep: ['model', 'usage', 'absent'] });
    expect(envelope).toEqual({ model: 'gpt-x', usage: { input: 12, output: 34 }, artifact_metadata_ref: expect.any(String) });
    const [stored] = (await client.artifact.list.query({})).items;
    expect(stored).toMatchObject({
      id: envelope.artifact_metadata_ref,
      kind: 'memory_snapshot',
      entityType: 'message',
      entityId: 'm2',
      sizeBytes: jsonBytes(over),
    });
    expect(await resolveMetadata(client, envelope)).toEqual(over);
  });

  it('always moves tool_interactions out (phase 1), and the rest only when still too big (phase 2)', async () => {
    const { client } = await server.newTenant();
    const small = { model: 'gpt-x', tool_interactions: tools };
    const phase1 = await offloadMetadata(client, small);
    expect(phase1).toEqual({ model: 'gpt-x', tool_interactions_ref: expect.any(String), tool_interactions_count: 2 });
    expect(await resolveMetadata(client, phase1)).toEqual(small);

    const big = metadataOfSize(12_000, { tool_interactions: tools });
    const both = await offloadMetadata(client, big, { keep: ['model'], entityType: 'message', entityId: 'm3' });
    expect(both).toEqual({
      model: 'gpt-x',
      artifact_metadata_ref: expect.any(String),
      tool_interactions_ref: expect.any(String),
      tool_interactions_count: 2,
    });
    const kinds = (await client.artifact.list.query({ entityId: 'm3' })).items.map((a) => a.kind).sort();
    expect(kinds).toEqual(['memory_snapshot', 'tool_call_payload']);
    expect(await resolveMetadata(client, both)).toEqual(big);
  });

  it('measures the threshold after phase 1, and leaves an empty tool_interactions inline', async () => {
    const { client } = await server.newTenant();
    // Over the threshold with the tools, at it without them: phase 1 alone brings it inline.
    const withTools = metadataOfSize(
      8000 - jsonBytes({ tool_interactions_ref: '00000000-0000-0000-0000-000000000000', tool_interactions_count: 2 }) + 1,
    );
    const envelope = await offloadMetadata(client, { ...withTools, tool_interactions: tools });
    expect(envelope.artifact_metadata_ref).toBeUndefined();
    expect(jsonBytes(envelope)).toBe(8000);
    const empty = { model: 'gpt-x', tool_interactions: [] };
    expect(await offloadMetadata(client, empty)).toEqual(empty);
  });

  it('returns legacy inline metadata untouched', async () => {
    const { client } = await server.newTenant();
    const legacy = { model: 'old', tool_interactions: tools, anything: { nested: [1, 2, 3] } };
    expect(await resolveMetadata(client, legacy)).toBe(legacy);
  });

  it('keeps the artifacts in their tenant: another tenant resolving the envelope gets NOT_FOUND', async () => {
    const a = await server.newTenant('a');
    const b = await server.newTenant('b');
    const envelope = await offloadMetadata(a.client, metadataOfSize(12_000, { tool_interactions: tools }));
    await expectTrpcError(resolveMetadata(b.client, envelope), 'NOT_FOUND');
    await expectTrpcError(
      resolveMetadata(b.client, { tool_interactions_ref: envelope.tool_interactions_ref, tool_interactions_count: 2 }),
      'NOT_FOUND',
    );
    expect((await b.client.artifact.list.query({})).items).toHaveLength(0);
  });
});
