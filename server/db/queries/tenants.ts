import { eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../index.ts';
import { tenants, tenantUsage } from '../schema/index.ts';

export type TenantRow = typeof tenants.$inferSelect;

export async function insertTenant(db: DbOrTx, p: { name: string; plan: string }): Promise<TenantRow> {
  const [row] = await db.insert(tenants).values(p).returning();
  return row!;
}

export async function findTenant(db: DbOrTx, id: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id)).limit(1);
  return row;
}

/** A tenant's plan, quota override and what counts against its quota, in one read. */
export async function tenantQuotaState(db: DbOrTx, id: string) {
  const [row] = await db
    .select({
      plan: tenants.plan,
      override: tenants.quota,
      bytes: sql<number>`coalesce(${tenantUsage.bytes}, 0)`.mapWith(Number),
      objects: sql<number>`coalesce(${tenantUsage.objects}, 0)`.mapWith(Number),
    })
    .from(tenants)
    .leftJoin(tenantUsage, eq(tenantUsage.tenantId, tenants.id))
    .where(eq(tenants.id, id));
  return row;
}

/** Changes the fields in `set` and drops those in `drop`, in one statement, so concurrent changes of other fields stay. */
export async function setTenantQuota(db: DbOrTx, p: { id: string; set: TenantRow['quota']; drop: string[] }): Promise<boolean> {
  const rows = await db
    .update(tenants)
    .set({ quota: sql`(${tenants.quota} - ${sql.param(p.drop)}::text[]) || ${JSON.stringify(p.set)}::jsonb` })
    .where(eq(tenants.id, p.id))
    .returning({ id: tenants.id });
  return rows.length > 0;
}
