import type { z } from 'zod';
import { type ApiKeyScope, MAX_ACTIVE_KEYS_PER_TENANT } from '../../shared/constants.ts';
import type { createOwnApiKeyInput, rotateApiKeyInput } from '../../shared/schemas/key.ts';
import { type DbOrTx, withSystem } from '../db/index.ts';
import * as q from '../db/queries/api-keys.ts';
import type { Deps } from '../deps.ts';
import { CofferError, notFound } from '../errors.ts';
import type { TenantScope } from '../trpc.ts';
import { issueKey, toKeyInfo } from './admin.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';

/** One page of a tenant's keys (never their hashes). */
export async function listKeys(db: DbOrTx, p: { tenantId: string; limit: number; cursor?: string }) {
  const after = p.cursor ? decodeCursor(p.cursor) : undefined;
  const rows = await q.listApiKeys(db, { tenantId: p.tenantId, limit: p.limit + 1, after });
  const page = rows.slice(0, p.limit);
  const last = page.at(-1);
  return { items: page.map(toKeyInfo), nextCursor: rows.length > p.limit && last ? encodeCursor(last) : null };
}

/** Any tenant's keys, for the admin token: past row-level security (withSystem). */
export function listAnyKeys(deps: Deps, p: { tenantId: string; limit: number; cursor?: string }) {
  return withSystem(deps.db, (tx) => listKeys(tx, p));
}

export function listOwnKeys(tenant: TenantScope, p: { limit: number; cursor?: string }) {
  return tenant.run((tx) => listKeys(tx, { ...p, tenantId: tenant.id }));
}

/**
 * Issues a successor with the same tenant, name and scopes, and lets the old key work for
 * `graceSeconds` more (auth.ts refuses it after `expiresAt`). Runs in `db`'s transaction with the
 * old row locked, so concurrent rotations of one key cannot both succeed.
 */
export async function rotateKey(db: DbOrTx, now: Date, p: z.output<typeof rotateApiKeyInput> & { tenantId?: string }) {
  const old = await q.lockApiKey(db, { id: p.keyId, tenantId: p.tenantId });
  if (!old) throw notFound('API key');
  if (old.revokedAt) throw new CofferError('PRECONDITION', 'API key is revoked; create a new key instead');
  if (old.expiresAt) throw new CofferError('CONFLICT', 'API key was already rotated; rotate its successor instead');
  const previous = await q.setApiKeyExpiry(db, { id: old.id, expiresAt: new Date(now.getTime() + p.graceSeconds * 1000) });
  const apiKey = await issueKey(db, { tenantId: old.tenantId, name: old.name, scopes: old.scopes as ApiKeyScope[] });
  return { apiKey, previous: toKeyInfo(previous) };
}

/** The admin token rotates any tenant's key: past row-level security (withSystem). */
export function rotateAnyKey(deps: Deps, input: z.output<typeof rotateApiKeyInput>) {
  return withSystem(deps.db, (tx) => rotateKey(tx, deps.now(), input));
}

export function rotateOwnKey(deps: Deps, tenant: TenantScope, input: z.output<typeof rotateApiKeyInput>) {
  return tenant.run((tx) => rotateKey(tx, deps.now(), { ...input, tenantId: tenant.id }));
}

/**
 * A new key for the caller's own tenant. It may carry only scopes the calling key holds, and a
 * tenant holds at most MAX_ACTIVE_KEYS_PER_TENANT working keys, so a leaked admin key cannot
 * mint unbounded credentials.
 */
export function createOwnKey(deps: Deps, tenant: TenantScope & { scopes: ApiKeyScope[] }, input: z.output<typeof createOwnApiKeyInput>) {
  const missing = input.scopes.filter((s) => !tenant.scopes.includes(s));
  if (missing.length) throw new CofferError('FORBIDDEN', `this API key cannot grant scopes it lacks: ${missing.join(', ')}`);
  return tenant.run(async (tx) => {
    const active = await q.countActiveApiKeys(tx, { tenantId: tenant.id, now: deps.now() });
    if (active >= MAX_ACTIVE_KEYS_PER_TENANT) {
      throw new CofferError(
        'PRECONDITION',
        `the tenant has ${active} active API keys, the limit is ${MAX_ACTIVE_KEYS_PER_TENANT}; revoke unused keys first`,
      );
    }
    return issueKey(tx, { tenantId: tenant.id, name: input.name, scopes: [...new Set(input.scopes)] });
  });
}

/** Immediate, unlike rotation. Another tenant's key id answers NOT_FOUND. */
export async function revokeOwnKey(deps: Deps, tenant: TenantScope, keyId: string) {
  const row = await tenant.run((tx) => q.revokeTenantApiKey(tx, { id: keyId, tenantId: tenant.id, now: deps.now() }));
  if (!row) throw notFound('API key');
  return toKeyInfo(row);
}
