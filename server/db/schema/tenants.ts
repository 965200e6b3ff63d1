import { bigint, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { Quota } from '../../config/index.ts';

export const tenants = pgTable('tenants', {
  id: uuid().primaryKey().defaultRandom(),
  name: text().notNull(),
  plan: text().notNull().default('free'),
  /**
   * The admin's override of the plan's quota (admin.setQuota), field by field: a field absent is
   * the plan's (COFFER_QUOTAS), null is no limit.
   */
  quota: jsonb().$type<Partial<Quota>>().notNull().default({}),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

/**
 * What counts against a tenant's quota: the bytes and number of its artifacts that hold or will
 * hold bytes (pending, verifying, ready). Kept by a trigger on artifacts (migration 0009), so no
 * code path can forget it; read by server/services/quota.ts.
 */
export const tenantUsage = pgTable('tenant_usage', {
  tenantId: uuid()
    .primaryKey()
    .references(() => tenants.id, { onDelete: 'cascade' }),
  bytes: bigint({ mode: 'number' }).notNull().default(0),
  objects: bigint({ mode: 'number' }).notNull().default(0),
});
