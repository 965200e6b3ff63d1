import { and, count, desc, eq, gt, isNull, or, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../index.ts';
import { apiKeys } from '../schema/index.ts';
import type { ApiKeyRow } from './tenants.ts';

export interface ListApiKeysParams {
  tenantId: string;
  limit: number;
  after?: { createdAt: Date; id: string };
}

/** A tenant's keys, newest first, keyset-paginated like every list (api_keys_tenant_idx). */
export async function listApiKeys(db: DbOrTx, p: ListApiKeysParams): Promise<ApiKeyRow[]> {
  const where: SQL[] = [eq(apiKeys.tenantId, p.tenantId)];
  if (p.after) where.push(sql`(${apiKeys.createdAt}, ${apiKeys.id}) < (${p.after.createdAt.toISOString()}, ${p.after.id})`);
  return db
    .select()
    .from(apiKeys)
    .where(and(...where))
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
    .limit(p.limit);
}

/** Locks the row, so two rotations of one key cannot both issue a successor. `tenantId` narrows to one tenant. */
export async function lockApiKey(db: DbOrTx, p: { id: string; tenantId?: string }): Promise<ApiKeyRow | undefined> {
  const where = p.tenantId ? and(eq(apiKeys.id, p.id), eq(apiKeys.tenantId, p.tenantId)) : eq(apiKeys.id, p.id);
  const [row] = await db.select().from(apiKeys).where(where).limit(1).for('update');
  return row;
}

/** Keys that still authenticate: not revoked, and not past a rotation's grace period. */
export async function countActiveApiKeys(db: DbOrTx, p: { tenantId: string; now: Date }): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(apiKeys)
    .where(and(eq(apiKeys.tenantId, p.tenantId), isNull(apiKeys.revokedAt), or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, p.now))));
  return row?.n ?? 0;
}

export async function setApiKeyExpiry(db: DbOrTx, p: { id: string; expiresAt: Date }): Promise<ApiKeyRow> {
  const [row] = await db.update(apiKeys).set({ expiresAt: p.expiresAt }).where(eq(apiKeys.id, p.id)).returning();
  return row!;
}

export async function revokeTenantApiKey(db: DbOrTx, p: { id: string; tenantId: string; now: Date }): Promise<ApiKeyRow | undefined> {
  const [row] = await db
    .update(apiKeys)
    .set({ revokedAt: p.now })
    .where(and(eq(apiKeys.id, p.id), eq(apiKeys.tenantId, p.tenantId)))
    .returning();
  return row;
}
