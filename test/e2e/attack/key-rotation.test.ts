import { and, eq, gt, isNull, or } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys } from '../../../server/db/schema/index.ts';
import { MAX_ACTIVE_KEYS_PER_TENANT } from '../../../shared/constants.ts';
import { expectTrpcError } from '../../support/expect-error.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';

describe('attack: key rotation', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { COFFER_RATE_LIMIT_PER_MINUTE: '0' } });
  });
  afterAll(() => server?.close());

  const adminOnlyKey = async (tenantId: string) => {
    const k = await server.admin.admin.createApiKey.mutate({ tenantId, name: 'keys', scopes: ['admin'] });
    return { id: k.id, client: server.client(k.key) };
  };
  /** Keys that still authenticate, counted in the database. */
  const activeKeys = async (tenantId: string) => {
    const rows = await server.systemDb
      .select({ id: apiKeys.id })
      .from(apiKeys)
      .where(
        and(eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt), or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, new Date()))),
      );
    return rows.map((r) => r.id);
  };

  it('refuses to rotate a key holding scopes the caller lacks, and the holder keeps working', async () => {
    const t = await server.newTenant();
    const keys = await adminOnlyKey(t.tenantId);
    await expectTrpcError(
      keys.client.key.rotate.mutate({ keyId: t.keyId, graceSeconds: 0 }),
      'FORBIDDEN',
      /cannot rotate a key with scopes it lacks: read, write/,
    );
    await expect(t.client.artifact.list.query({})).resolves.toBeTruthy();
    // Its own key, and keys within its scopes, it rotates.
    const own = await keys.client.key.rotate.mutate({ keyId: keys.id, graceSeconds: 0 });
    expect(own.apiKey.scopes).toEqual(['admin']);
  });

  it('counts keys in their grace period against the cap: rotation chains stop at the limit', async () => {
    const t = await server.newTenant();
    const keys = await adminOnlyKey(t.tenantId);
    // The tenant's first key and the admin key are 2; fill up to the cap.
    for (let i = 2; i < MAX_ACTIVE_KEYS_PER_TENANT; i++) await keys.client.key.create.mutate({ name: `k${i}`, scopes: ['admin'] });
    const err = await expectTrpcError(keys.client.key.rotate.mutate({ keyId: keys.id, graceSeconds: 3600 }), 'PRECONDITION_FAILED');
    expect(err.message).toMatch(/100 active API keys.*limit is 100/);
    expect(err.message).toMatch(/graceSeconds: 0/);
    // Without a grace period the old key stops at once, so the count stays at the cap.
    const rotated = await keys.client.key.rotate.mutate({ keyId: keys.id, graceSeconds: 0 });
    const next = server.client(rotated.apiKey.key);
    await expectTrpcError(next.key.create.mutate({ name: 'one too many', scopes: ['admin'] }), 'PRECONDITION_FAILED', /limit is 100/);
    expect(await activeKeys(t.tenantId)).toHaveLength(MAX_ACTIVE_KEYS_PER_TENANT);
  }, 60_000);

  it('holds the cap when creations and rotations race', async () => {
    const t = await server.newTenant();
    const keys = await adminOnlyKey(t.tenantId);
    for (let i = 2; i < MAX_ACTIVE_KEYS_PER_TENANT - 4; i++) await keys.client.key.create.mutate({ name: `k${i}`, scopes: ['admin'] });
    for (let round = 0; round < 5; round++) {
      // 4 free slots, 10 concurrent claims (one batched request, run concurrently on the server).
      const claims = Array.from({ length: 10 }, (_, i) =>
        i < 8
          ? keys.client.key.create.mutate({ name: `r${round}-${i}`, scopes: ['admin'] })
          : keys.client.key.rotate.mutate({ keyId: keys.id, graceSeconds: 3600 }),
      );
      await Promise.allSettled(claims);
      const active = await activeKeys(t.tenantId);
      expect(active, `round ${round}`).toHaveLength(MAX_ACTIVE_KEYS_PER_TENANT);
      // Free 4 slots for the next round (never the admin key or its successor).
      const spare = active.filter((id) => id !== keys.id && id !== t.keyId).slice(0, 4);
      for (const keyId of spare) await server.admin.admin.revokeApiKey.mutate({ keyId });
      const current = await activeKeys(t.tenantId);
      if (!current.includes(keys.id)) throw new Error('the admin key was rotated away; the test relies on it');
    }
  }, 120_000);
});
