import { and, count, desc, eq, gt, isNull, lt, or, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../index.ts';
import { ADVISORY_LOCKS } from '../locks.ts';
import { apiKeys } from '../schema/index.ts';
import { keysetStart, olderThan } from './keyset.ts';

/** Every query on api_keys lives here; `tenantId`, where optional, narrows a lookup to one tenant. */
export type ApiKeyRow = typeof apiKeys.$inferSelect;

export async function insertApiKey(db: DbOrTx, p: typeof apiKeys.$inferInsert): Promise<ApiKeyRow> {
  const [row] = await db.insert(apiKeys).values(p).returning();
  return row!;
}

/** The row behind a presented key; the prefix is unique (api_keys_prefix_idx). */
export async function findApiKeyByPrefix(db: DbOrTx, prefix: string): Promise<ApiKeyRow | undefined> {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.prefix, prefix)).limit(1);
  return row;
}

/** A key by id, any tenant (the system pool: open WebSockets re-check the key they authenticated with). */
export async function findApiKeyById(db: DbOrTx, id: string): Promise<ApiKeyRow | undefined> {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1);
  return row;
}

/** Records use, unless it was recorded after `staleBefore` already (one write per key and minute, not per request). */
export async function touchApiKey(db: DbOrTx, p: { id: string; now: Date; staleBefore: Date }): Promise<void> {
  await db
    .update(apiKeys)
    .set({ lastUsedAt: p.now })
    .where(and(eq(apiKeys.id, p.id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, p.staleBefore))));
}

export interface ListApiKeysParams {
  tenantId: string;
  limit: number;
  after?: { createdAt: Date; id: string };
}

/** A tenant's keys, newest first, keyset-paginated like every list (api_keys_tenant_idx). */
export async function listApiKeys(db: DbOrTx, p: ListApiKeysParams): Promise<ApiKeyRow[]> {
  const where: SQL[] = [eq(apiKeys.tenantId, p.tenantId)];
  if (p.after) where.push(olderThan(apiKeys.createdAt, apiKeys.id, await keysetStart(db, 'api_keys', p.after), p.after.id));
  return db
    .select()
    .from(apiKeys)
    .where(and(...where))
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
    .limit(p.limit);
}

const byId = (p: { id: string; tenantId?: string }) =>
  p.tenantId ? and(eq(apiKeys.id, p.id), eq(apiKeys.tenantId, p.tenantId)) : eq(apiKeys.id, p.id);

/** Locks the row, so two rotations of one key cannot both issue a successor. */
export async function lockApiKey(db: DbOrTx, p: { id: string; tenantId?: string }): Promise<ApiKeyRow | undefined> {
  const [row] = await db.select().from(apiKeys).where(byId(p)).limit(1).for('update');
  return row;
}

/**
 * Keys that still authenticate: not revoked, and not past a rotation's grace period. Takes the
 * tenant's key lock first (held until `db`'s transaction ends), so a count and the insert it
 * allows cannot interleave with another transaction's.
 */
export async function countActiveApiKeys(db: DbOrTx, p: { tenantId: string; now: Date }): Promise<number> {
  await db.execute(sql`select pg_advisory_xact_lock(${ADVISORY_LOCKS.tenantKeys}, hashtext(${p.tenantId}))`);
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

export async function revokeApiKey(db: DbOrTx, p: { id: string; tenantId?: string; now: Date }): Promise<ApiKeyRow | undefined> {
  const [row] = await db.update(apiKeys).set({ revokedAt: p.now }).where(byId(p)).returning();
  return row;
}
