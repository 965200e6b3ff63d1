import { bigserial, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * The event log. Rows are written in the same transaction as the change they report, so an
 * event exists if and only if its change committed. No foreign keys: events outlive the
 * artifacts they describe (an `artifact_deleted` event must survive its artifact).
 */
export const events = pgTable(
  'events',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    tenantId: uuid().notNull(),
    type: text().notNull(),
    artifactId: uuid(),
    projectId: text(),
    versionId: uuid(),
    data: jsonb().$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('events_tenant_id_idx').on(t.tenantId, t.id), index('events_created_idx').on(t.createdAt)],
);
