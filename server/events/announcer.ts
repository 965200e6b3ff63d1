import type { Db } from '../db/index.ts';
import { EVENTS_CHANNEL, type EventPointer, encodeEventPointers } from './notification.ts';
import type { PubSub } from './pubsub.ts';

/** Called after a transaction that appended events committed, with the newest of them. */
export type Announce = (tenantId: string, id: number) => void;

const announcers = new WeakMap<Db, Announce>();

/** The announcer of the instance whose pool `db` is; none when no hub runs on it (scripts, benches). */
export function announcerOf(db: Db): Announce | undefined {
  return announcers.get(db);
}

/**
 * Announces committed events, outside the writing transaction so commits never queue behind
 * NOTIFY's global lock: at once to this instance's hub (`local`), and to every instance by NOTIFY,
 * coalesced: one statement per turn of the event loop at most, and while one is in flight the
 * next collects everything committed meanwhile (one pointer per tenant: its newest id). A lost
 * NOTIFY (a crash right after commit) costs the other instances up to their poll interval.
 */
export function registerAnnouncer(db: Db, pubsub: PubSub, local: (p: EventPointer) => void): () => void {
  let pending = new Map<string, number>();
  let scheduled = false;
  let sending: Promise<void> | null = null;

  const flush = () => {
    scheduled = false;
    if (sending || pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    sending = pubsub.publish(EVENTS_CHANNEL, encodeEventPointers(Array.from(batch, ([tenantId, id]) => ({ tenantId, id })))).finally(() => {
      sending = null;
      if (pending.size) schedule();
    });
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };

  announcers.set(db, (tenantId, id) => {
    local({ tenantId, id });
    if ((pending.get(tenantId) ?? -1) < id) pending.set(tenantId, id);
    schedule();
  });
  return () => {
    announcers.delete(db);
  };
}
