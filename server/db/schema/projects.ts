import { pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { tenants } from './tenants.ts';

/**
 * A tenant's project, keyed by the caller's own id (unique per tenant). Rows are upserted by the
 * first version, so callers never create projects explicitly.
 */
export const projects = pgTable(
  'projects',
  {
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    id: text().notNull(),
    /**
     * The version a rollback made current; null until the first rollback. No FK: versions
     * reference projects, and a cycle of FKs would make both inserts order-dependent.
     */
    currentVersionId: uuid(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] })],
);
