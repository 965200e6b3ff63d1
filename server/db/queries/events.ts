import { sql } from 'drizzle-orm';
import type { NewCofferEvent } from '../../../shared/schemas/events.ts';
import type { Tx } from '../index.ts';
import { events } from '../schema/index.ts';

/** The channel every instance LISTENs on; the payload is `<tenantId>:<eventId>`. */
export const EVENTS_CHANNEL = 'coffer_events';
/** First key of the two-key advisory lock that orders a tenant's event writes. */
const EVENT_LOCK_NAMESPACE = 0x0c0f;

/**
 * Appends an event inside the caller's transaction and queues a NOTIFY (Postgres sends it only
 * at commit). The transaction-level advisory lock per tenant makes ids of one tenant commit in
 * id order, so a subscriber that has seen id N can never later miss an event with a smaller id.
 */
export async function appendEvent(tx: Tx, tenantId: string, e: NewCofferEvent): Promise<number> {
  await tx.execute(sql`select pg_advisory_xact_lock(${EVENT_LOCK_NAMESPACE}, hashtext(${tenantId}))`);
  const [row] = await tx
    .insert(events)
    .values({
      tenantId,
      type: e.type,
      artifactId: e.artifactId ?? null,
      projectId: e.projectId ?? null,
      versionId: e.versionId ?? null,
      data: e.data as Record<string, unknown>,
    })
    .returning({ id: events.id });
  await tx.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${`${tenantId}:${row!.id}`})`);
  return row!.id;
}
