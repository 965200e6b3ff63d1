import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys } from '../../server/db/schema/index.ts';
import { appRouter } from '../../server/routers/_app.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('scoped, rotatable API keys', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  const keyWith = async (tenantId: string, scopes: Array<'read' | 'write' | 'admin'>) => {
    const k = await server.admin.admin.createApiKey.mutate({ tenantId, name: scopes.join('+'), scopes });
    return { ...k, client: server.client(k.key) };
  };

  it('rotates: both keys work during the grace period, the old one stops after it, secrets shown once', async () => {
    const t = await server.newTenant();
    const { apiKey, previous } = await server.admin.admin.rotateApiKey.mutate({ keyId: t.keyId, graceSeconds: 2 });
    expect(apiKey).toMatchObject({ name: 'default', scopes: ['read', 'write'], tenantId: t.tenantId, expiresAt: null });
    expect(apiKey.key).toMatch(/^cof_/);
    expect(previous.id).toBe(t.keyId);
    expect(previous).not.toHaveProperty('key');
    expect(previous.expiresAt!.getTime() - Date.now()).toBeLessThanOrEqual(2000);
    await expect(t.client.artifact.list.query({})).resolves.toBeTruthy();
    await expect(server.client(apiKey.key).artifact.list.query({})).resolves.toBeTruthy();
    await expectTrpcError(server.admin.admin.rotateApiKey.mutate({ keyId: t.keyId }), 'CONFLICT', /already rotated/);
    await new Promise((r) => setTimeout(r, 2100));
    await expectTrpcError(t.client.artifact.list.query({}), 'UNAUTHORIZED', /expired/);
    await expect(server.client(apiKey.key).artifact.list.query({})).resolves.toBeTruthy();
    const { items } = await server.admin.admin.listApiKeys.query({ tenantId: t.tenantId });
    expect(items.map((k) => k.id).sort()).toEqual([t.keyId, apiKey.id].sort());
    expect(JSON.stringify(items)).not.toMatch(/secretHash|cof_[a-z0-9]{12}_/);
  });

  it('defaults the grace to 24 h, caps it at 30 days, and refuses revoked keys', async () => {
    const t = await server.newTenant();
    const { previous } = await server.admin.admin.rotateApiKey.mutate({ keyId: t.keyId });
    expect(previous.expiresAt!.getTime() - Date.now()).toBeGreaterThan(24 * 3600_000 - 60_000);
    await expectTrpcError(server.admin.admin.rotateApiKey.mutate({ keyId: t.keyId, graceSeconds: 31 * 86400 }), 'BAD_REQUEST');
    const k = await keyWith(t.tenantId, ['read']);
    await server.admin.admin.revokeApiKey.mutate({ keyId: k.id });
    await expectTrpcError(server.admin.admin.rotateApiKey.mutate({ keyId: k.id }), 'PRECONDITION_FAILED', /revoked/);
    await expectTrpcError(server.admin.admin.rotateApiKey.mutate({ keyId: crypto.randomUUID() }), 'NOT_FOUND');
  });

  it('lets an admin-scoped key manage its own tenant only, granting no more than it holds', async () => {
    const a = await server.newTenant();
    const b = await server.newTenant();
    const admin = await keyWith(a.tenantId, ['read', 'admin']);
    const created = await admin.client.key.create.mutate({ name: 'ci', scopes: ['read'] });
    expect(created.key).toMatch(/^cof_/);
    await expectTrpcError(admin.client.key.create.mutate({ name: 'x', scopes: ['write'] }), 'FORBIDDEN', /write/);
    const listed = await admin.client.key.list.query({});
    expect(listed.items.map((k) => k.id)).toEqual(expect.arrayContaining([a.keyId, admin.id, created.id]));
    expect(listed.items.every((k) => k.tenantId === a.tenantId)).toBe(true);
    // Another tenant's key is NOT_FOUND, exactly like a missing one.
    await expectTrpcError(admin.client.key.revoke.mutate({ keyId: b.keyId }), 'NOT_FOUND');
    await expectTrpcError(admin.client.key.rotate.mutate({ keyId: b.keyId }), 'NOT_FOUND');
    await expect(b.client.artifact.list.query({})).resolves.toBeTruthy();
    const rotated = await admin.client.key.rotate.mutate({ keyId: created.id, graceSeconds: 0 });
    await expectTrpcError(server.client(created.key).artifact.list.query({}), 'UNAUTHORIZED', /expired/);
    await expect(server.client(rotated.apiKey.key).artifact.list.query({})).resolves.toBeTruthy();
    await admin.client.key.revoke.mutate({ keyId: rotated.apiKey.id });
    await expectTrpcError(server.client(rotated.apiKey.key).artifact.list.query({}), 'UNAUTHORIZED', /revoked/);
  });

  it('pages past keys created in the same millisecond (Postgres keeps microseconds, cursors do not)', async () => {
    const t = await server.newTenant();
    for (let i = 0; i < 3; i++) await keyWith(t.tenantId, ['read']);
    const keys = await server.systemDb.select({ id: apiKeys.id }).from(apiKeys).where(eq(apiKeys.tenantId, t.tenantId));
    for (const [i, { id }] of keys.entries()) {
      await server.systemDb
        .update(apiKeys)
        .set({ createdAt: sql`${`2026-01-01 00:00:00.123${i + 1}00+00`}::timestamptz` })
        .where(eq(apiKeys.id, id));
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await server.admin.admin.listApiKeys.query({ tenantId: t.tenantId, limit: 1, cursor });
      seen.push(...page.items.map((k) => k.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(keys.map((k) => k.id).reverse());
  });

  it('pages key lists and caps page sizes', async () => {
    const t = await server.newTenant();
    for (let i = 0; i < 3; i++) await keyWith(t.tenantId, ['read']);
    const first = await server.admin.admin.listApiKeys.query({ tenantId: t.tenantId, limit: 2 });
    const second = await server.admin.admin.listApiKeys.query({ tenantId: t.tenantId, limit: 2, cursor: first.nextCursor! });
    expect(new Set([...first.items, ...second.items].map((k) => k.id)).size).toBe(4);
    expect(second.nextCursor).toBeNull();
    await expectTrpcError(server.admin.admin.listApiKeys.query({ tenantId: t.tenantId, limit: 101 }), 'BAD_REQUEST');
  });

  it('checks the scope of every procedure: queries and subscriptions need read, mutations write, key.* admin', async () => {
    const t = await server.newTenant();
    const readOnly = await keyWith(t.tenantId, ['read']);
    const writeOnly = await keyWith(t.tenantId, ['write']);
    const readWrite = await keyWith(t.tenantId, ['read', 'write']);
    const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>);
    // Any valid credential may read health; everything else is scoped or operator-only.
    const anyCredential = new Set(['storage.health']);
    let checked = 0;
    for (const [path, proc] of procedures) {
      if (anyCredential.has(path)) continue;
      const needs = path.startsWith('key.') ? 'admin' : proc._def.type === 'mutation' ? 'write' : 'read';
      const lacking = needs === 'admin' ? readWrite : needs === 'read' ? writeOnly : readOnly;
      const res = await callRaw(server.url, lacking.key, path, proc._def.type);
      // Operator procedures refuse every tenant key outright, which is stricter still.
      if (res.code === 'UNAUTHORIZED') expect(res.message, path).toMatch(/admin token/);
      else expect(`${res.code}: ${res.message}`, path).toContain(`FORBIDDEN: this API key lacks the '${needs}' scope`);
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
  });
});

/** One raw call with no input: the scope check runs before input parsing. */
async function callRaw(url: string, token: string, path: string, type: string): Promise<{ code?: string; message?: string }> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const res =
    type === 'mutation'
      ? await fetch(`${url}/trpc/${path}`, { method: 'POST', headers, body: '{}' })
      : await fetch(`${url}/trpc/${path}`, { headers, signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  if (type === 'subscription') {
    // Over SSE a refused subscription is an error event on a 200 stream.
    const m = /"code":"([A-Z_]+)"[\s\S]*?/.exec(text);
    const msg = /"message":"([^"]*)"/.exec(text);
    return { code: m?.[1], message: msg?.[1] };
  }
  const body = JSON.parse(text) as { error?: { json: { message: string; data: { code: string } } } };
  return { code: body.error?.json.data.code, message: body.error?.json.message };
}
