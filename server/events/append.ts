import type { NewCofferEvent } from '../../shared/schemas/events.ts';
import { afterCommit, dbOf, type Tx } from '../db/index.ts';
import { events } from '../db/schema/index.ts';
import { announcerOf } from './announcer.ts';

/**
 * The one writer of the event log. Appends a tenant's events inside the caller's transaction, in
 * one INSERT, takes no lock and sends nothing inside the transaction: once it has committed, the
 * instance announces the newest id (server/events/announcer.ts: to its own hub at once, to the
 * other instances by one coalesced NOTIFY).
 *
 * Why readers never miss an event although writers of one tenant commit in any order:
 * - an event's id is (writing transaction's xid << 12) + its place in the transaction (migration
 *   0005), so a later transaction's events can have smaller ids than an earlier one's;
 * - every read of the log stays below coffer_event_horizon(), the oldest xid still in flight in
 *   the reader's snapshot, shifted alike. Every transaction with a smaller xid has ended, and a
 *   transaction that has no xid yet will get a larger one, so no event below the horizon can
 *   commit after the read: the events below it are final, in id order;
 * - so a subscriber that has delivered up to id N, having read only below a horizon > N, can
 *   never later be handed an id ≤ N. "id > last delivered" is both the de-duplication and the
 *   no-gap rule, and lastEventId stays an exact resume point.
 * The price: events wait for the oldest write transaction still open anywhere in the cluster, so
 * nothing in Coffer keeps a write transaction open across slow I/O.
 */
export async function appendEvents(tx: Tx, tenantId: string, news: NewCofferEvent[]): Promise<number[]> {
  if (news.length === 0) return [];
  const rows = news.map((e) => ({
    tenantId,
    type: e.type,
    artifactId: e.artifactId ?? null,
    projectId: e.projectId ?? null,
    versionId: e.versionId ?? null,
    data: e.data as Record<string, unknown>,
  }));
  const ids = (await tx.insert(events).values(rows).returning({ id: events.id })).map((r) => r.id);
  const newest = Math.max(...ids);
  const announce = announcerOf(dbOf(tx));
  if (announce) afterCommit(tx, () => announce(tenantId, newest));
  return ids;
}

export async function appendEvent(tx: Tx, tenantId: string, e: NewCofferEvent): Promise<number> {
  const [id] = await appendEvents(tx, tenantId, [e]);
  return id!;
}
