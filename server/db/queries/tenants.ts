import { eq } from 'drizzle-orm';
import type { DbOrTx } from '../index.ts';
import { tenants } from '../schema/index.ts';

export type TenantRow = typeof tenants.$inferSelect;

export async function insertTenant(db: DbOrTx, p: { name: string; plan: string }): Promise<TenantRow> {
  const [row] = await db.insert(tenants).values(p).returning();
  return row!;
}

export async function findTenant(db: DbOrTx, id: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id)).limit(1);
  return row;
}
