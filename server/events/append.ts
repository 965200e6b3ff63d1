import { sql } from 'drizzle-orm';
import type { NewCofferEvent } from '../../shared/schemas/events.ts';
import type { Tx } from '../db/index.ts';
import { ADVISORY_LOCKS } from '../db/locks.ts';
import { events } from '../db/schema/index.ts';
import { EVENTS_CHANNEL, encodeNotification } from './notification.ts';

/**
 * The one writer of the event log. Appends a tenant's events inside the caller's transaction,
 * in one INSERT, and queues a NOTIFY per event (Postgres sends them only at commit). The
 * transaction-level advisory lock per tenant makes one tenant's ids commit in id order, so a
 * subscriber that has seen id N can never later miss an event with a smaller id.
 *
 * Callers write their rows first and events last: a transaction holding this lock while its row
 * waits on another's (two first versions upserting one new project) would deadlock with that
 * one's own append.
 */
export async function appendEvents(tx: Tx, tenantId: string, news: NewCofferEvent[]): Promise<number[]> {
  if (news.length === 0) return [];
  await tx.execute(sql`select pg_advisory_xact_lock(${ADVISORY_LOCKS.tenantEvents}, hashtext(${tenantId}))`);
  const rows = news.map((e) => ({
    tenantId,
    type: e.type,
    artifactId: e.artifactId ?? null,
    projectId: e.projectId ?? null,
    versionId: e.versionId ?? null,
    data: e.data as Record<string, unknown>,
  }));
  const ids = (await tx.insert(events).values(rows).returning({ id: events.id })).map((r) => r.id);
  const payloads = ids.map((id) => encodeNotification({ tenantId, id }));
  const list = sql.join(
    payloads.map((p) => sql`(${p})`),
    sql`, `,
  );
  await tx.execute(sql`select pg_notify(${EVENTS_CHANNEL}, p) from (values ${list}) as v(p)`);
  return ids;
}

export async function appendEvent(tx: Tx, tenantId: string, e: NewCofferEvent): Promise<number> {
  const [id] = await appendEvents(tx, tenantId, [e]);
  return id!;
}
