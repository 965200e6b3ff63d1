import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectTrpcError } from '../support/expect-error.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';

describe.each(BACKENDS)('artifacts on %s', (backend) => {
  let server: TestServer;
  let tenant: Awaited<ReturnType<TestServer['newTenant']>>;

  beforeAll(async () => {
    server = await startTestServer({ backend, env: { COFFER_MAX_INLINE_BYTES: String(64 * 1024) } });
    tenant = await server.newTenant();
  });
  afterAll(() => server?.close());

  it('puts, gets, lists, downloads and deletes a JSON artifact', async () => {
    const payload = { messages: [{ role: 'user', content: 'hi ✓' }], n: 1 };
    const a = await tenant.client.artifact.put.mutate({
      kind: 'chat_transcript',
      payload,
      entityType: 'chat',
      entityId: 'c-1',
      metadata: { model: 'x' },
    });
    const bytes = Buffer.from(JSON.stringify(payload));
    expect(a).toMatchObject({
      kind: 'chat_transcript',
      status: 'ready',
      sizeBytes: bytes.length,
      entityId: 'c-1',
      metadata: { model: 'x' },
    });
    expect(a.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(a.createdAt).toBeInstanceOf(Date);
    expect(a).not.toHaveProperty('storageKey');

    const got = await tenant.client.artifact.get.query({ id: a.id });
    expect(got.payload).toEqual(payload);

    const listed = await tenant.client.artifact.list.query({ entityType: 'chat', entityId: 'c-1' });
    expect(listed.items.map((i) => i.id)).toEqual([a.id]);

    const dl = await tenant.client.artifact.getDownloadUrl.query({ id: a.id, expiresIn: 60 });
    expect(dl.sizeBytes).toBe(bytes.length);
    expect(dl.expiresAt.getTime()).toBeGreaterThan(Date.now());
    const res = await fetch(dl.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain(`attachment; filename="${dl.filename}"`);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);

    await expect(tenant.client.artifact.delete.mutate({ id: a.id })).resolves.toEqual({ id: a.id, deleted: true });
    await expectTrpcError(tenant.client.artifact.get.query({ id: a.id }), 'NOT_FOUND');
    expect((await fetch(dl.url)).status).toBe(404);
  });

  it('pages with a keyset cursor, newest first, without gaps or repeats', async () => {
    const t = await server.newTenant();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await t.client.artifact.put.mutate({ kind: 'agent_trace', payload: { i } })).id);
    await t.client.artifact.put.mutate({ kind: 'attachment', payload: 'other kind' });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await t.client.artifact.list.query({ kind: 'agent_trace', limit: 3, cursor });
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((x) => x.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
  });

  it('pages past rows created in the same millisecond, which cursors cannot tell apart (Postgres keeps microseconds)', async () => {
    const t = await server.newTenant();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await t.client.artifact.put.mutate({ kind: 'agent_trace', payload: { i } })).id);
    // Concurrent uploads get created_at from the database clock: same millisecond, distinct microseconds.
    for (const [i, id] of ids.entries()) {
      const at = `2026-01-01 00:00:00.123${String(i + 1)}00+00`;
      await server.systemDb.execute(sql`update artifacts set created_at = ${at}::timestamptz where id = ${id}`);
    }
    for (const filter of [{}, { kind: 'agent_trace' }]) {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await t.client.artifact.list.query({ ...filter, limit: 1, cursor });
        seen.push(...page.items.map((x) => x.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen, JSON.stringify(filter)).toEqual([...ids].reverse());
    }
  });

  it('lists, under every filter and page by page, exactly what getInfo shows of each artifact', async () => {
    const t = await server.newTenant();
    const made = [];
    for (let i = 0; i < 6; i++) {
      made.push(
        await t.client.artifact.put.mutate({
          kind: i % 2 ? 'agent_trace' : 'chat_transcript',
          payload: { i },
          ...(i % 3 ? { entityType: 'chat', entityId: `c-${i % 2}` } : {}),
          metadata: { i, 'a.b': { nested: [i, null, 'x'] } },
        }),
      );
    }
    const gone = await t.client.artifact.put.mutate({ kind: 'agent_trace', payload: 'deleted' });
    await t.client.artifact.delete.mutate({ id: gone.id });
    const infos = await Promise.all(made.map((a) => t.client.artifact.getInfo.query({ id: a.id })));
    const newestFirst = [...infos].reverse();
    const filters = [
      {},
      { kind: 'agent_trace' },
      { entityType: 'chat' },
      { entityType: 'chat', entityId: 'c-1' },
      { status: 'ready' as const },
      { status: 'ready' as const, kind: 'chat_transcript', entityType: 'chat', entityId: 'c-0' },
      { status: 'deleted' as const },
    ];
    for (const filter of filters) {
      const listed = [];
      let cursor: string | undefined;
      do {
        const page = await t.client.artifact.list.query({ ...filter, limit: 2, cursor });
        listed.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      const want = newestFirst.filter(
        (a) =>
          (!filter.kind || a.kind === filter.kind) &&
          (!filter.entityType || a.entityType === filter.entityType) &&
          (!filter.entityId || a.entityId === filter.entityId) &&
          (!filter.status || a.status === filter.status),
      );
      expect(listed, JSON.stringify(filter)).toEqual(want);
      for (const item of listed) expect(Object.keys(item)).toEqual(Object.keys(want[0]!));
    }
  });

  it('refuses bad input with typed errors and writes nothing', async () => {
    const t = await server.newTenant();
    await expectTrpcError(t.client.artifact.put.mutate({ kind: 'nope', payload: {} }), 'BAD_REQUEST', /allowed kinds: chat_transcript/);
    const big = 'x'.repeat(64 * 1024);
    await expectTrpcError(
      t.client.artifact.put.mutate({ kind: 'attachment', payload: big }),
      'PAYLOAD_TOO_LARGE',
      /inline limit is 65536 bytes/,
    );
    await expectTrpcError(t.client.artifact.get.query({ id: 'not-a-uuid' }), 'BAD_REQUEST', /UUID/);
    await expectTrpcError(t.client.artifact.get.query({ id: randomUUID() }), 'NOT_FOUND');
    await expectTrpcError(t.client.artifact.list.query({ cursor: 'garbage' }), 'BAD_REQUEST', /invalid cursor/);
    const forged = Buffer.from(JSON.stringify(["'; drop table artifacts; --", 'x'])).toString('base64url');
    await expectTrpcError(t.client.artifact.list.query({ cursor: forged }), 'BAD_REQUEST', /invalid cursor/);
    await expectTrpcError(t.client.artifact.list.query({ limit: 10_000 }), 'BAD_REQUEST');
    await expectTrpcError(t.client.artifact.getDownloadUrl.query({ id: randomUUID(), expiresIn: 10 * 24 * 3600 }), 'BAD_REQUEST');
    expect((await t.client.artifact.list.query({})).items).toEqual([]);
  });

  it('keeps tenants apart: another tenant’s artifact is NOT_FOUND everywhere', async () => {
    const a = await server.newTenant('a');
    const b = await server.newTenant('b');
    const art = await a.client.artifact.put.mutate({
      kind: 'memory_snapshot',
      payload: { secret: 'a-only' },
      entityType: 'e',
      entityId: 'shared',
    });
    await expectTrpcError(b.client.artifact.get.query({ id: art.id }), 'NOT_FOUND');
    await expectTrpcError(b.client.artifact.getDownloadUrl.query({ id: art.id }), 'NOT_FOUND');
    await expectTrpcError(b.client.artifact.delete.mutate({ id: art.id }), 'NOT_FOUND');
    expect((await b.client.artifact.list.query({ entityType: 'e', entityId: 'shared' })).items).toEqual([]);
    expect((await a.client.artifact.get.query({ id: art.id })).payload).toEqual({ secret: 'a-only' });
  });

  it('refuses tampered and expired download URLs with 403 and no body leak', async () => {
    const art = await tenant.client.artifact.put.mutate({ kind: 'attachment', payload: { private: 'do-not-leak' } });
    const { url } = await tenant.client.artifact.getDownloadUrl.query({ id: art.id, expiresIn: 1 });
    const tampered = new URL(url);
    const sigParam = tampered.searchParams.has('sig') ? 'sig' : 'X-Amz-Signature';
    const sig = tampered.searchParams.get(sigParam)!;
    tampered.searchParams.set(sigParam, (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1));
    const bad = await fetch(tampered);
    expect(bad.status).toBe(403);
    expect(await bad.text()).not.toContain('do-not-leak');
    await new Promise((r) => setTimeout(r, 2_100));
    const expired = await fetch(url);
    expect(expired.status).toBe(403);
    expect(await expired.text()).not.toContain('do-not-leak');
  });
});
