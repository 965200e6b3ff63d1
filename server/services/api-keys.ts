import type { z } from 'zod';
import { type ApiKeyScope, MAX_ACTIVE_KEYS_PER_TENANT } from '../../shared/constants.ts';
import type { createApiKeyInput } from '../../shared/schemas/admin.ts';
import type { createOwnApiKeyInput, rotateApiKeyInput } from '../../shared/schemas/key.ts';
import { announceKeyChange } from '../auth/credentials.ts';
import { generateApiKey } from '../auth/key-format.ts';
import { type DbOrTx, type Tx, withSystem } from '../db/index.ts';
import * as q from '../db/queries/api-keys.ts';
import { findTenant } from '../db/queries/tenants.ts';
import type { Deps } from '../deps.ts';
import { CofferError, notFound } from '../errors.ts';
import type { TenantScope } from '../tenant-scope.ts';
import { byCreation, toPage } from './paging.ts';

/** A key as callers see it: never its hash. */
export function toKeyInfo(row: q.ApiKeyRow) {
  const { secretHash: _secretHash, ...info } = row;
  return { ...info, scopes: info.scopes as ApiKeyScope[] };
}

/** Creates a key; its secret (`key`) is returned here once and never stored. */
export async function issueKey(db: DbOrTx, p: { tenantId: string; name: string; scopes: ApiKeyScope[] }) {
  const { key, prefix, secretHash } = generateApiKey();
  const row = await q.insertApiKey(db, { ...p, prefix, secretHash });
  return { ...toKeyInfo(row), key };
}

/** One page of a tenant's keys. */
async function listKeys(db: DbOrTx, p: { tenantId: string; limit: number; cursor?: string }) {
  const rows = await q.listApiKeys(db, { tenantId: p.tenantId, limit: p.limit + 1, after: byCreation.after(p.cursor) });
  return toPage(rows, p.limit, toKeyInfo, byCreation.key);
}

/**
 * Issues a successor with the same tenant, name and scopes, and lets the old key work for
 * `graceSeconds` more (authentication refuses it after `expiresAt`). Runs in `db`'s transaction
 * with the old row locked, so concurrent rotations of one key cannot both succeed. A tenant's own
 * rotation (`caller`) hands out only scopes the calling key holds, like key.create, and the old
 * key in its grace period counts against the active-key cap.
 */
async function rotateKey(deps: Deps, db: Tx, p: z.output<typeof rotateApiKeyInput> & { caller?: TenantScope }) {
  const now = deps.now();
  const old = await q.lockApiKey(db, { id: p.keyId, tenantId: p.caller?.id });
  if (!old) throw notFound('API key');
  if (p.caller) checkScopes(p.caller, old.scopes, 'rotate a key with');
  if (old.revokedAt) throw new CofferError('PRECONDITION', 'API key is revoked; create a new key instead');
  if (old.expiresAt) throw new CofferError('CONFLICT', 'API key was already rotated; rotate its successor instead');
  if (p.caller && p.graceSeconds > 0) {
    await checkKeyCap(db, old.tenantId, now, ', or rotate with graceSeconds: 0, which ends the old key at once');
  }
  const previous = await q.setApiKeyExpiry(db, { id: old.id, expiresAt: new Date(now.getTime() + p.graceSeconds * 1000) });
  await announceKeyChange(deps.credentials, db, old.id);
  const apiKey = await issueKey(db, { tenantId: old.tenantId, name: old.name, scopes: old.scopes as ApiKeyScope[] });
  return { apiKey, previous: toKeyInfo(previous) };
}

/**
 * Refuses one more working key past MAX_ACTIVE_KEYS_PER_TENANT (`hint` ends the message). Must run in the transaction that
 * then issues the key: the count holds the tenant's key lock until it ends.
 */
async function checkKeyCap(db: DbOrTx, tenantId: string, now: Date, hint: string): Promise<void> {
  const active = await q.countActiveApiKeys(db, { tenantId, now });
  if (active >= MAX_ACTIVE_KEYS_PER_TENANT) {
    throw new CofferError(
      'PRECONDITION',
      `the tenant has ${active} active API keys, the limit is ${MAX_ACTIVE_KEYS_PER_TENANT}; revoke unused keys first${hint}`,
    );
  }
}

/** Refuses, naming them, the scopes of `wanted` the calling key lacks: a key hands out no more than it holds. */
function checkScopes(tenant: TenantScope, wanted: readonly string[], action: string): void {
  const missing = [...new Set(wanted)].filter((s) => !tenant.scopes.includes(s as ApiKeyScope));
  if (missing.length) throw new CofferError('FORBIDDEN', `this API key cannot ${action} scopes it lacks: ${missing.join(', ')}`);
}

/*
 * The operator's key management (admin token): any tenant's keys, so past row-level security
 * (withSystem). Reachable only through adminProcedure.
 */

export function listAnyKeys(deps: Deps, p: { tenantId: string; limit: number; cursor?: string }) {
  return withSystem(deps.systemDb, (tx) => listKeys(tx, p));
}

export function createAnyKey(deps: Deps, input: z.output<typeof createApiKeyInput>) {
  return withSystem(deps.systemDb, async (tx) => {
    if (!(await findTenant(tx, input.tenantId))) throw notFound('tenant');
    return issueKey(tx, input);
  });
}

export function rotateAnyKey(deps: Deps, input: z.output<typeof rotateApiKeyInput>) {
  return withSystem(deps.systemDb, (tx) => rotateKey(deps, tx, input));
}

export async function revokeAnyKey(deps: Deps, keyId: string) {
  const row = await withSystem(deps.systemDb, async (tx) => {
    const revoked = await q.revokeApiKey(tx, { id: keyId, now: deps.now() });
    if (revoked) await announceKeyChange(deps.credentials, tx, revoked.id);
    return revoked;
  });
  if (!row) throw notFound('API key');
  return toKeyInfo(row);
}

/* A tenant's self-service over its own keys (`key.*`, keys with the `admin` scope). */

export function listOwnKeys(tenant: TenantScope, p: { limit: number; cursor?: string }) {
  return tenant.read((tx) => listKeys(tx, { ...p, tenantId: tenant.id }));
}

export function rotateOwnKey(deps: Deps, tenant: TenantScope, input: z.output<typeof rotateApiKeyInput>) {
  return tenant.run((tx) => rotateKey(deps, tx, { ...input, caller: tenant }));
}

/**
 * A new key for the caller's own tenant. It may carry only scopes the calling key holds, and a
 * tenant holds at most MAX_ACTIVE_KEYS_PER_TENANT working keys, so a leaked admin key cannot
 * mint unbounded credentials.
 */
export function createOwnKey(deps: Deps, tenant: TenantScope, input: z.output<typeof createOwnApiKeyInput>) {
  checkScopes(tenant, input.scopes, 'grant');
  return tenant.run(async (tx) => {
    await checkKeyCap(tx, tenant.id, deps.now(), '');
    return issueKey(tx, { tenantId: tenant.id, name: input.name, scopes: [...new Set(input.scopes)] });
  });
}

/** Immediate, unlike rotation. Another tenant's key id answers NOT_FOUND. */
export async function revokeOwnKey(deps: Deps, tenant: TenantScope, keyId: string) {
  const row = await tenant.run(async (tx) => {
    const revoked = await q.revokeApiKey(tx, { id: keyId, tenantId: tenant.id, now: deps.now() });
    if (revoked) await announceKeyChange(deps.credentials, tx, revoked.id);
    return revoked;
  });
  if (!row) throw notFound('API key');
  return toKeyInfo(row);
}
