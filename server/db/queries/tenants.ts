import { eq } from 'drizzle-orm';
import type { DbOrTx } from '../index.ts';
import { apiKeys, tenants } from '../schema/index.ts';

export type TenantRow = typeof tenants.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;

export async function insertTenant(db: DbOrTx, p: { name: string; plan: string }): Promise<TenantRow> {
  const [row] = await db.insert(tenants).values(p).returning();
  return row!;
}

export async function findTenant(db: DbOrTx, id: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id)).limit(1);
  return row;
}

export async function insertApiKey(db: DbOrTx, p: typeof apiKeys.$inferInsert): Promise<ApiKeyRow> {
  const [row] = await db.insert(apiKeys).values(p).returning();
  return row!;
}

export async function revokeApiKey(db: DbOrTx, p: { id: string; now: Date }): Promise<ApiKeyRow | undefined> {
  const [row] = await db.update(apiKeys).set({ revokedAt: p.now }).where(eq(apiKeys.id, p.id)).returning();
  return row;
}
