import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, eq, isNull, lt, or } from 'drizzle-orm';
import type { ApiKeyScope } from '../../shared/constants.ts';
import type { Principal } from '../context.ts';
import { withSystem, withTenant } from '../db/index.ts';
import { apiKeys } from '../db/schema/index.ts';
import type { Deps } from '../deps.ts';

/**
 * API keys look like `cof_<prefix>_<secret>`. The prefix finds the row without revealing
 * anything; only sha256(secret) is stored, compared in constant time.
 */
const KEY_RE = /^cof_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export function generateApiKey(): { key: string; prefix: string; secretHash: string } {
  const prefix = randomBytes(9)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '0')
    .slice(0, 12);
  const secret = randomBytes(32).toString('base64url');
  return { key: `cof_${prefix}_${secret}`, prefix, secretHash: sha256Hex(secret) };
}

const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Don't write last_used_at on every request: once a minute per key is precise enough for "is this key still used". */
const LAST_USED_RESOLUTION_MS = 60_000;

export async function authenticate(deps: Deps, token: string | undefined): Promise<Principal> {
  if (!token) return { kind: 'anonymous' };
  if (deps.config.adminToken && safeEqual(token, deps.config.adminToken)) return { kind: 'admin' };
  const m = KEY_RE.exec(token);
  if (!m) return { kind: 'anonymous', reason: 'malformed API key' };
  const [, prefix, secret] = m as unknown as [string, string, string];
  // The tenant is what the key tells us, so the lookup runs before any tenant is known: withSystem.
  const [row] = await withSystem(deps.db, (tx) => tx.select().from(apiKeys).where(eq(apiKeys.prefix, prefix)).limit(1));
  if (!row || !safeEqual(row.secretHash, sha256Hex(secret))) return { kind: 'anonymous', reason: 'unknown API key' };
  if (row.revokedAt) return { kind: 'anonymous', reason: 'API key revoked' };
  const now = deps.now();
  if (row.expiresAt && row.expiresAt <= now) return { kind: 'anonymous', reason: 'API key expired (rotated)' };
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
    const stale = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
    // Now the tenant is known and the key verified: the write is the tenant's own.
    await withTenant(deps.db, row.tenantId, (tx) =>
      tx
        .update(apiKeys)
        .set({ lastUsedAt: now })
        .where(and(eq(apiKeys.id, row.id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, stale)))),
    );
  }
  return { kind: 'tenant', tenantId: row.tenantId, keyId: row.id, scopes: row.scopes as ApiKeyScope[] };
}
