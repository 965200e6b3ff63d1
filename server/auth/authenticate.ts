import type { ApiKeyScope } from '../../shared/constants.ts';
import { type Db, type SystemDb, withSystem, withTenant } from '../db/index.ts';
import { findApiKeyByPrefix, touchApiKey } from '../db/queries/api-keys.ts';
import type { Credentials } from './credentials.ts';
import { hashSecret, parseApiKey, safeEqual } from './key-format.ts';
import type { Principal } from './principal.ts';

/** What authentication needs: the pools, the key cache, the operator's token, and a clock. */
export interface AuthDeps {
  db: Db;
  systemDb: SystemDb;
  credentials: Credentials;
  adminToken: string | undefined;
  now: () => Date;
}

/**
 * The principal a bearer token stands for; anything that does not check out is anonymous, with a
 * reason. A key verified in the last few seconds costs no query (server/auth/credentials.ts); the
 * secret is still checked against its hash on every call.
 */
export async function authenticate(deps: AuthDeps, token: string | undefined): Promise<Principal> {
  if (!token) return { kind: 'anonymous' };
  if (deps.adminToken && safeEqual(token, deps.adminToken)) return { kind: 'admin' };
  const parsed = parseApiKey(token);
  if (!parsed) return { kind: 'anonymous', reason: 'malformed API key' };
  let key = deps.credentials.lookup(parsed.prefix);
  if (!key) {
    const seen = deps.credentials.generation;
    // The tenant is what the key tells us, so the lookup runs before any tenant is known: withSystem.
    const row = await withSystem(deps.systemDb, (tx) => findApiKeyByPrefix(tx, parsed.prefix));
    if (!row) return { kind: 'anonymous', reason: 'unknown API key' };
    key = row;
    deps.credentials.remember(parsed.prefix, row, seen);
  }
  if (!safeEqual(key.secretHash, hashSecret(parsed.secret))) return { kind: 'anonymous', reason: 'unknown API key' };
  if (key.revokedAt) return { kind: 'anonymous', reason: 'API key revoked' };
  const now = deps.now();
  if (key.expiresAt && key.expiresAt <= now) return { kind: 'anonymous', reason: 'API key expired (rotated)' };
  if (deps.credentials.shouldTouch(key.id, key.lastUsedAt, now)) touch(deps, key.tenantId, key.id, now);
  return { kind: 'tenant', tenantId: key.tenantId, keyId: key.id, scopes: key.scopes as ApiKeyScope[], expiresAt: key.expiresAt };
}

/**
 * Records that a key is in use (last_used_at, at most once a minute), off the request's path: the
 * request does not wait for this write, and a failed one is simply retried a minute later.
 */
function touch(deps: AuthDeps, tenantId: string, id: string, now: Date): void {
  const staleBefore = new Date(now.getTime() - 60_000);
  withTenant(deps.db, tenantId, (tx) => touchApiKey(tx, { id, now, staleBefore })).catch(() => {});
}
