import type { ApiKeyScope } from '../../shared/constants.ts';
import { type Db, withSystem, withTenant } from '../db/index.ts';
import { findApiKeyByPrefix, touchApiKey } from '../db/queries/api-keys.ts';
import { hashSecret, parseApiKey, safeEqual } from './key-format.ts';
import type { Principal } from './principal.ts';

/** What authentication needs: the database, the operator's token, and a clock. */
export interface AuthDeps {
  db: Db;
  adminToken: string | undefined;
  now: () => Date;
}

/** Don't write last_used_at on every request: once a minute per key is precise enough for "is this key still used". */
const LAST_USED_RESOLUTION_MS = 60_000;

/** The principal a bearer token stands for; anything that does not check out is anonymous, with a reason. */
export async function authenticate(deps: AuthDeps, token: string | undefined): Promise<Principal> {
  if (!token) return { kind: 'anonymous' };
  if (deps.adminToken && safeEqual(token, deps.adminToken)) return { kind: 'admin' };
  const parsed = parseApiKey(token);
  if (!parsed) return { kind: 'anonymous', reason: 'malformed API key' };
  // The tenant is what the key tells us, so the lookup runs before any tenant is known: withSystem.
  const row = await withSystem(deps.db, (tx) => findApiKeyByPrefix(tx, parsed.prefix));
  if (!row || !safeEqual(row.secretHash, hashSecret(parsed.secret))) return { kind: 'anonymous', reason: 'unknown API key' };
  if (row.revokedAt) return { kind: 'anonymous', reason: 'API key revoked' };
  const now = deps.now();
  if (row.expiresAt && row.expiresAt <= now) return { kind: 'anonymous', reason: 'API key expired (rotated)' };
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
    const staleBefore = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
    // Now the tenant is known and the key verified: the write is the tenant's own.
    await withTenant(deps.db, row.tenantId, (tx) => touchApiKey(tx, { id: row.id, now, staleBefore }));
  }
  return { kind: 'tenant', tenantId: row.tenantId, keyId: row.id, scopes: row.scopes as ApiKeyScope[] };
}
