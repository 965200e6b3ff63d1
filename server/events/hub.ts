import type { CofferEvent } from '../../shared/schemas/events.ts';
import { type Db, withTenant } from '../db/index.ts';
import { type EventRow, readEventsByIds } from '../db/queries/events.ts';
import { rowToEvent } from './filter.ts';
import type { PubSub } from './pubsub.ts';

/** Where the hub delivers a tenant's events. Implemented by each subscription's inbox. */
export interface EventSink {
  /** Committed events of the sink's tenant, in id order. */
  push(events: CofferEvent[]): void;
  /** Live delivery may have skipped events: re-read the log from the last delivered id. */
  resync(): void;
  /** The hub is closing (server shutdown). */
  close(): void;
}

/**
 * One per instance: turns the pub/sub's pointers into event rows and hands them to the local
 * subscriptions of the row's tenant. Notifications for tenants without local subscribers cost
 * nothing; the others are batched, so a burst of NOTIFYs becomes one `id = any(...)` query per
 * tenant. Each tenant's ids are read in that tenant's own transaction (withTenant), so row-level
 * security decides what a notification can reveal: a payload naming tenant B with an id of A's
 * event reads nothing.
 */
export interface EventHub {
  subscribe(tenantId: string, sink: EventSink): () => void;
  /** Local subscriptions, for tests and the bench. */
  readonly size: number;
  /** Resolves once the listener is LISTENing. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/** Bounds one read; bursts larger than this are read in several queries, still in order. */
const MAX_IDS_PER_READ = 1000;

export function createEventHub(db: Db, pubsub: PubSub): EventHub {
  const byTenant = new Map<string, Set<EventSink>>();
  let pending: Array<{ tenantId: string; id: number }> = [];
  let flushing: Promise<void> | null = null;
  let size = 0;

  const sinksOf = (tenantId: string) => byTenant.get(tenantId) ?? new Set<EventSink>();
  const everySink = () => [...byTenant.values()].flatMap((s) => [...s]);

  // Sequential on purpose: one read at a time keeps each tenant's events in id order, and
  // notifications arriving during a read simply join the next batch.
  async function flush(): Promise<void> {
    while (pending.length) {
      const batch = pending.slice(0, MAX_IDS_PER_READ);
      pending = pending.slice(batch.length);
      for (const [tenantId, ids] of idsByTenant(batch)) {
        let rows: EventRow[];
        try {
          rows = await withTenant(db, tenantId, (tx) => readEventsByIds(tx, ids));
        } catch {
          // The database hiccupped: these events were not delivered. The tenant's subscriptions
          // re-read from their own cursors (and fail over to the client's retry if it stays down).
          for (const s of sinksOf(tenantId)) s.resync();
          continue;
        }
        deliver(rows.map((r) => [r.tenantId, rowToEvent(r)] as const));
      }
    }
  }

  function deliver(rows: ReadonlyArray<readonly [string, CofferEvent | null]>): void {
    const grouped = new Map<string, CofferEvent[]>();
    for (const [tenantId, event] of rows) {
      if (!event) continue;
      // The tenant comes from the row, never from the notification payload.
      const list = grouped.get(tenantId) ?? grouped.set(tenantId, []).get(tenantId)!;
      list.push(event);
    }
    for (const [tenantId, events] of grouped) for (const s of sinksOf(tenantId)) s.push(events);
  }

  const unsubscribe = pubsub.subscribe((m) => {
    if (m.type === 'reconnected') {
      for (const s of everySink()) s.resync();
      return;
    }
    if (!byTenant.has(m.tenantId)) return;
    pending.push({ tenantId: m.tenantId, id: m.id });
    flushing ??= flush().finally(() => (flushing = null));
  });

  return {
    subscribe(tenantId, sink) {
      const set = byTenant.get(tenantId) ?? byTenant.set(tenantId, new Set()).get(tenantId)!;
      set.add(sink);
      size++;
      return () => {
        if (!set.delete(sink)) return;
        size--;
        if (set.size === 0 && byTenant.get(tenantId) === set) byTenant.delete(tenantId);
      };
    },
    get size() {
      return size;
    },
    ready: pubsub.ready,
    async close() {
      unsubscribe();
      for (const s of everySink()) s.close();
      // Emptied, not just dropped: a subscription that ends after this (its socket closed late)
      // then finds nothing to remove, and `size` stays 0.
      for (const set of byTenant.values()) set.clear();
      byTenant.clear();
      size = 0;
      await flushing;
      await pubsub.close();
    },
  };
}

/** A batch's ids per tenant, each list in arrival order (which is id order per tenant). */
function idsByTenant(batch: Array<{ tenantId: string; id: number }>): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (const { tenantId, id } of batch) {
    const g = groups.get(tenantId);
    if (g) g.push(id);
    else groups.set(tenantId, [id]);
  }
  return groups;
}
