import { sql } from 'drizzle-orm';
import { bigint, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * The event log. Rows are written in the same transaction as the change they report, so an
 * event exists if and only if its change committed. No foreign keys: events outlive the
 * artifacts they describe (an `artifact_deleted` event must survive its artifact).
 *
 * Ids come from coffer_next_event_id() (migration 0006): the writing transaction's id
 * (pg_current_xact_id) shifted left by 12 bits, plus the event's place in that transaction. So ids
 * order events by writing transaction, without any lock, and coffer_event_horizon() tells readers
 * below which id nothing can commit any more (server/events/append.ts explains the invariant).
 */
export const events = pgTable(
  'events',
  {
    id: bigint({ mode: 'number' }).primaryKey().default(sql`coffer_next_event_id()`),
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
