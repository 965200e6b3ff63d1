import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectTrpcError } from '../support/expect-error.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('auth and tenancy', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('creates a tenant whose key works, and shows the secret only once', async () => {
    const { tenant, apiKey } = await server.admin.admin.createTenant.mutate({ name: 'Acme', plan: 'pro' });
    expect(tenant).toMatchObject({ name: 'Acme', plan: 'pro' });
    expect(apiKey.key).toMatch(/^cof_[a-z0-9]{12}_/);
    expect(apiKey.key.startsWith(`cof_${apiKey.prefix}_`)).toBe(true);
    expect(apiKey.scopes).toEqual(['read', 'write']);
    const c = server.client(apiKey.key);
    await expect(c.artifact.list.query({})).resolves.toEqual({ items: [], nextCursor: null });
    const revoked = await server.admin.admin.revokeApiKey.mutate({ keyId: apiKey.id });
    expect(revoked).not.toHaveProperty('key');
    expect(revoked).not.toHaveProperty('secretHash');
  });

  it('answers UNAUTHORIZED for missing, malformed, unknown and revoked keys', async () => {
    await expectTrpcError(server.client('').artifact.list.query({}), 'UNAUTHORIZED');
    await expectTrpcError(server.client('nonsense').artifact.list.query({}), 'UNAUTHORIZED', /malformed/);
    await expectTrpcError(server.client(`cof_abcdefabcdef_${'A'.repeat(43)}`).artifact.list.query({}), 'UNAUTHORIZED', /unknown/);
    const t = await server.newTenant();
    const wrongSecret = t.apiKey.slice(0, -1) + (t.apiKey.endsWith('A') ? 'B' : 'A');
    await expectTrpcError(server.client(wrongSecret).artifact.list.query({}), 'UNAUTHORIZED', /unknown/);
    await server.admin.admin.revokeApiKey.mutate({ keyId: t.keyId });
    await expectTrpcError(t.client.artifact.list.query({}), 'UNAUTHORIZED', /revoked/);
  });

  it('keeps admin procedures for the admin token and tenant data for keys', async () => {
    const t = await server.newTenant();
    await expectTrpcError(t.client.admin.createTenant.mutate({ name: 'x' }), 'UNAUTHORIZED', /admin token/);
    await expectTrpcError(server.admin.artifact.list.query({}), 'UNAUTHORIZED', /API key/);
  });

  it('issues scoped keys: a read-only key cannot write', async () => {
    const t = await server.newTenant();
    const ro = await server.admin.admin.createApiKey.mutate({ tenantId: t.tenantId, name: 'ro', scopes: ['read'] });
    const c = server.client(ro.key);
    await expect(c.artifact.list.query({})).resolves.toBeTruthy();
    await expectTrpcError(c.artifact.put.mutate({ kind: 'attachment', payload: 1 }), 'FORBIDDEN', /'write' scope/);
  });

  it('refuses keys for unknown tenants and revoking unknown keys', async () => {
    await expectTrpcError(
      server.admin.admin.createApiKey.mutate({ tenantId: crypto.randomUUID(), name: 'x', scopes: ['read'] }),
      'NOT_FOUND',
    );
    await expectTrpcError(server.admin.admin.revokeApiKey.mutate({ keyId: crypto.randomUUID() }), 'NOT_FOUND');
  });
});
