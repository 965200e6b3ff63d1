import { and, asc, desc, eq, gt, inArray, lt, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../index.ts';
import { prepared } from '../prepared.ts';
import { events } from '../schema/index.ts';

export type EventRow = typeof events.$inferSelect;

/**
 * Ids below coffer_event_horizon() are settled: every transaction that could still commit an
 * event there has ended (migration 0006, server/events/append.ts). Every read of the log stays
 * below it.
 */
const settled = sql`${events.id} < coffer_event_horizon()`;

export interface ReadEventsParams {
  tenantId: string;
  afterId: number;
  limit: number;
  types?: string[];
  projectId?: string;
  versionId?: string;
  artifactId?: string;
  kinds?: string[];
}

/**
 * A tenant's settled events after `afterId`, oldest first, filtered like a live subscription, and
 * the horizon of the same snapshot: every matching event below it is in `rows` unless `limit`
 * cut the page short, so a reader that got a short page has seen everything up to horizon - 1.
 */
export async function readSettledEvents(db: DbOrTx, p: ReadEventsParams): Promise<{ rows: EventRow[]; horizon: number }> {
  const where: SQL[] = [eq(events.tenantId, p.tenantId), gt(events.id, p.afterId), sql`${events.id} < h.horizon`];
  if (p.types) where.push(inArray(events.type, p.types));
  if (p.projectId) where.push(eq(events.projectId, p.projectId));
  if (p.versionId) where.push(eq(events.versionId, p.versionId));
  if (p.artifactId) where.push(eq(events.artifactId, p.artifactId));
  if (p.kinds) where.push(inArray(sql`${events.data}->>'kind'`, p.kinds));
  const r = await db.execute<{
    horizon: string;
    id: string | null;
    tenant_id: string;
    type: string;
    artifact_id: string | null;
    project_id: string | null;
    version_id: string | null;
    data: Record<string, unknown>;
    /** Raw text: drizzle's driver leaves timestamps to the column mappers, which raw SQL has none of. */
    created_at: string;
  }>(sql`
    with h as (select coffer_event_horizon() as horizon)
    select h.horizon, e.id, e.tenant_id, e.type, e.artifact_id, e.project_id, e.version_id, e.data, e.created_at
    from h left join lateral (
      select * from ${events} where ${and(...where)} order by ${events.id} limit ${p.limit}
    ) e on true
    order by e.id`);
  const rows: EventRow[] = [];
  for (const x of r.rows) {
    if (x.id === null) continue;
    rows.push({
      id: Number(x.id),
      tenantId: x.tenant_id,
      type: x.type,
      artifactId: x.artifact_id,
      projectId: x.project_id,
      versionId: x.version_id,
      data: x.data,
      createdAt: new Date(x.created_at),
    });
  }
  return { rows, horizon: Number(r.rows[0]?.horizon ?? 0) };
}

/**
 * The tenant's newest settled event id, 0 if it has none: a resume point that misses nothing
 * after it, and the largest lastEventId the tenant can have been given. An index-only lookup on
 * events_tenant_id_idx.
 */
export async function settledEventCursor(db: DbOrTx, tenantId: string): Promise<number> {
  const cursor = prepared(db, 'events_settled_cursor', (d, name) =>
    d
      .select({ id: events.id })
      .from(events)
      .where(and(eq(events.tenantId, sql.placeholder('tenantId')), settled))
      .orderBy(desc(events.id))
      .limit(1)
      .prepare(name),
  );
  const [row] = await cursor.execute({ tenantId });
  return row?.id ?? 0;
}

/**
 * Every instance's safety net for lost notifications (system pool, across tenants): the newest
 * settled id per tenant among events settled since `since`, and the horizon to pass next time.
 */
export async function settledSince(
  db: DbOrTx,
  since: number,
): Promise<{ horizon: number; tenants: Array<{ tenantId: string; id: number }> }> {
  const r = await db.execute<{ horizon: string; tenant_id: string | null; id: string | null }>(sql`
    with h as (select coffer_event_horizon() as horizon)
    select h.horizon, e.tenant_id, max(e.id) as id
    from h left join ${events} e on e.id >= ${since} and e.id < h.horizon
    group by h.horizon, e.tenant_id`);
  const tenants: Array<{ tenantId: string; id: number }> = [];
  for (const x of r.rows) if (x.tenant_id && x.id) tenants.push({ tenantId: x.tenant_id, id: Number(x.id) });
  return { horizon: Number(r.rows[0]?.horizon ?? since), tenants };
}

/**
 * Deletes up to `limit` of the events created before `olderThan`, oldest first; returns how many.
 * Each tenant's newest event stays whatever its age: it is what a resuming `lastEventId` is
 * checked against (server/events/subscription.ts), so a client resuming from a pruned id is still
 * accepted, and no tenant is told anything about the others' ids.
 */
export async function pruneEvents(db: DbOrTx, p: { olderThan: Date; limit: number }): Promise<number> {
  const newer = sql`exists (select 1 from ${events} n where n.tenant_id = ${events.tenantId} and n.id > ${events.id})`;
  const oldest = db
    .select({ id: events.id })
    .from(events)
    .where(and(lt(events.createdAt, p.olderThan), newer))
    .orderBy(asc(events.id))
    .limit(p.limit);
  const result = await db.delete(events).where(inArray(events.id, oldest));
  return result.rowCount ?? 0;
}
