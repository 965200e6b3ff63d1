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
 * At most one NOTIFY per this many milliseconds per instance. Each one costs the database and
 * every listening instance about as much as a small write transaction, and a busy instance
 * commits far more often than this; an instance that commits less often announces each commit
 * at once, so paced events cross instances without any added delay.
 */
export const NOTIFY_GAP_MS = 10;

/**
 * Announces committed events, outside the writing transaction so commits never queue behind
 * NOTIFY's global lock: at once to this instance's hub (`local`), and to every instance by NOTIFY,
 * coalesced: the first commit after a quiet spell is sent on the next turn of the event loop,
 * then at most one statement per NOTIFY_GAP_MS, and never two in flight; each carries everything
 * committed since the last (one pointer per tenant: its newest id). A lost NOTIFY (a crash right
 * after commit) costs the other instances up to their poll interval.
 */
export function registerAnnouncer(db: Db, pubsub: PubSub, local: (p: EventPointer) => void): () => void {
  let pending = new Map<string, number>();
  let scheduled = false;
  let sending: Promise<void> | null = null;
  let lastSentAt = Number.NEGATIVE_INFINITY;

  const flush = () => {
    scheduled = false;
    if (sending || pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    lastSentAt = performance.now();
    sending = pubsub.publish(EVENTS_CHANNEL, encodeEventPointers(Array.from(batch, ([tenantId, id]) => ({ tenantId, id })))).finally(() => {
      sending = null;
      if (pending.size) schedule();
    });
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    const wait = lastSentAt + NOTIFY_GAP_MS - performance.now();
    if (wait > 0) setTimeout(flush, wait);
    else setImmediate(flush);
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
