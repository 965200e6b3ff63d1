import pg from 'pg';
import type { NewCofferEvent } from '../../shared/schemas/events.ts';
import { afterCommit, dbOf, type Tx, withCommit } from '../db/index.ts';
import { eventsAppended } from '../metrics.ts';
import { announcerOf } from './announcer.ts';

/**
 * The one writer of the event log. Appends a tenant's events to the caller's transaction: takes
 * no lock, and costs the transaction no round trip of its own, because the INSERT travels with
 * the COMMIT (withCommit). Once committed, the instance announces the newest id
 * (server/events/announcer.ts: to its own hub at once, to the other instances by one coalesced
 * NOTIFY), outside the transaction.
 *
 * Why readers never miss an event although one tenant's writers commit in any order:
 * - an event's id is (writing transaction's xid << 12) + its place in the transaction (migration
 *   0006), so a later transaction's events can have smaller ids than an earlier one's;
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
export async function appendEvents(tx: Tx, tenantId: string, news: NewCofferEvent[]): Promise<void> {
  if (news.length === 0) return;
  // Literal SQL (withCommit takes no parameters): every value through escapeLiteral, the port of
  // libpq's PQescapeLiteral; the data as JSON text cast to jsonb, as the driver would send it.
  const lit = (v: string | null | undefined) => (v == null ? 'null' : pg.escapeLiteral(v));
  const rows = news.map(
    (e) =>
      `(${lit(tenantId)}::uuid, ${lit(e.type)}, ${lit(e.artifactId)}::uuid, ${lit(e.projectId)}, ${lit(e.versionId)}::uuid, ${lit(JSON.stringify(e.data))}::jsonb)`,
  );
  let newest = 0;
  withCommit(
    tx,
    `insert into events (tenant_id, type, artifact_id, project_id, version_id, data) values ${rows.join(', ')} returning id`,
    (r) => {
      eventsAppended.inc(r.rows.length);
      for (const row of r.rows as Array<{ id: string }>) newest = Math.max(newest, Number(row.id));
    },
  );
  const announce = announcerOf(dbOf(tx));
  if (announce) afterCommit(tx, () => announce(tenantId, newest));
}

export function appendEvent(tx: Tx, tenantId: string, e: NewCofferEvent): Promise<void> {
  return appendEvents(tx, tenantId, [e]);
}
