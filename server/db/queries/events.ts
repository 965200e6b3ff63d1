import { and, asc, eq, gt, inArray, lt, max, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../index.ts';
import { events } from '../schema/index.ts';

export type EventRow = typeof events.$inferSelect;

/** The rows behind a batch of notifications; the hub reads them inside the notified tenant's withTenant. */
export async function readEventsByIds(db: DbOrTx, ids: number[]): Promise<EventRow[]> {
  if (ids.length === 0) return [];
  return db.select().from(events).where(inArray(events.id, ids)).orderBy(asc(events.id));
}

export interface ListEventsAfterParams {
  tenantId: string;
  afterId: number;
  limit: number;
  types?: string[];
  projectId?: string;
  versionId?: string;
  artifactId?: string;
  kinds?: string[];
}

/** A tenant's events after a resume point, oldest first, filtered like a live subscription. */
export async function listEventsAfter(db: DbOrTx, p: ListEventsAfterParams): Promise<EventRow[]> {
  const where: SQL[] = [eq(events.tenantId, p.tenantId), gt(events.id, p.afterId)];
  if (p.types) where.push(inArray(events.type, p.types));
  if (p.projectId) where.push(eq(events.projectId, p.projectId));
  if (p.versionId) where.push(eq(events.versionId, p.versionId));
  if (p.artifactId) where.push(eq(events.artifactId, p.artifactId));
  if (p.kinds) where.push(inArray(sql`${events.data}->>'kind'`, p.kinds));
  return db
    .select()
    .from(events)
    .where(and(...where))
    .orderBy(asc(events.id))
    .limit(p.limit);
}

/** The tenant's newest event id, 0 if it has none (an index-only lookup on events_tenant_id_idx). */
export async function newestEventId(db: DbOrTx, tenantId: string): Promise<number> {
  const [row] = await db
    .select({ id: max(events.id) })
    .from(events)
    .where(eq(events.tenantId, tenantId));
  return row?.id ?? 0;
}

/**
 * The highest id the sequence has handed out, any tenant. Unlike max(id) it never goes back
 * when old events are pruned, so a client resuming from a pruned id is still accepted.
 */
export async function lastAssignedEventId(db: DbOrTx): Promise<number> {
  const r = await db.execute<{ id: string | null }>(sql`select pg_sequence_last_value(pg_get_serial_sequence('events', 'id')) as id`);
  return Number(r.rows[0]?.id ?? 0);
}

/** Deletes up to `limit` of the events created before `olderThan`, oldest first; returns how many. */
export async function pruneEvents(db: DbOrTx, p: { olderThan: Date; limit: number }): Promise<number> {
  const oldest = db.select({ id: events.id }).from(events).where(lt(events.createdAt, p.olderThan)).orderBy(asc(events.id)).limit(p.limit);
  const result = await db.delete(events).where(inArray(events.id, oldest));
  return result.rowCount ?? 0;
}
