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

/**
 * A tenant's limits (null: none) under the plan table `plans` (COFFER_QUOTAS as JSON), by the
 * database's coffer_limit, the rule the quota trigger enforces (migration 0009).
 */
export const limitColumns = (plans: string) => ({
  maxBytes: sql<number | null>`coffer_limit('bytes', ${tenants.plan}, ${tenants.quota}, ${plans}::jsonb)`.mapWith((v) =>
    v === null ? null : Number(v),
  ),
  maxObjects: sql<number | null>`coffer_limit('objects', ${tenants.plan}, ${tenants.quota}, ${plans}::jsonb)`.mapWith((v) =>
    v === null ? null : Number(v),
  ),
});

/** A tenant's plan, limits, which of them are its own, and what counts against them, in one read. */
export async function tenantQuotaState(db: DbOrTx, p: { id: string; plans: string }) {
  const [row] = await db
    .select({
      plan: tenants.plan,
      ...limitColumns(p.plans),
      override: tenants.quota,
      bytes: sql<number>`coalesce(${tenantUsage.bytes}, 0)`.mapWith(Number),
      objects: sql<number>`coalesce(${tenantUsage.objects}, 0)`.mapWith(Number),
    })
    .from(tenants)
    .leftJoin(tenantUsage, eq(tenantUsage.tenantId, tenants.id))
    .where(eq(tenants.id, p.id));
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
