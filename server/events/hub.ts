import type { CofferEvent } from '../../shared/schemas/events.ts';
import { type Db, type SystemDb, withSystem, withTenant } from '../db/index.ts';
import { readSettledEvents, settledEventCursor, settledSince } from '../db/queries/events.ts';
import { deliveryLag, eventsDelivered } from '../metrics.ts';
import { registerAnnouncer } from './announcer.ts';
import { rowToEvent } from './filter.ts';
import type { EventPointer } from './notification.ts';
import type { PubSub } from './pubsub.ts';

/** Where the hub delivers a tenant's events. Implemented by each subscription's inbox. */
export interface EventSink {
  /**
   * The tenant's settled events with `after` < id ≤ `upTo`, in id order (all of them, less rows
   * this version cannot parse). Consecutive pushes chain: the next one's `after` is this `upTo`.
   */
  push(events: CofferEvent[], after: number, upTo: number): void;
  /** The hub is closing (server shutdown). */
  close(): void;
}

export interface HubSubscription {
  /** The id the hub's pushes to this sink start after, once known (the first subscriber of a tenant waits for one query). */
  readonly start: Promise<number>;
  unsubscribe(): void;
}

/**
 * One per instance: keeps, for every tenant with local subscribers, a cursor into the event log
 * and reads forward from it, once per instance whatever the number of subscribers, then hands
 * the same event objects to every subscription of the tenant. What makes it read: this
 * instance's own commits (at once), other instances' NOTIFYs, a reconnect of the listener, and a
 * poll every `pollMs` that catches what a lost NOTIFY would have announced. Reads stay below the
 * settled horizon (server/events/append.ts), so a committed event that an older transaction
 * still holds back is read again shortly, and the stream a tenant's subscribers get is every
 * event, once, in id order. Reads run in the tenant's own transaction (withTenant), so row-level
 * security decides what a notification can reveal: a payload naming tenant B reads only B's rows.
 */
export interface EventHub {
  subscribe(tenantId: string, sink: EventSink): HubSubscription;
  /** Local subscriptions, for tests and the bench. */
  readonly size: number;
  /** Resolves once the listener is LISTENing. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export interface EventHubOptions {
  /** The safety-net poll for lost notifications. */
  pollMs?: number;
}

/** Bounds one read; bigger bursts are read in several queries, still in order. */
const MAX_ROWS_PER_READ = 1000;
/** Re-reads while a committed event waits for an older transaction: quickly at first, then less often. */
const FIRST_RETRY_MS = 2;
const MAX_RETRY_MS = 200;

interface Feed {
  tenantId: string;
  sinks: Set<EventSink>;
  /** Everything up to here was pushed; -1 until the first read placed it at the newest settled id. */
  cursor: number;
  /** The newest id announced for this tenant: read again until the cursor reaches it. */
  target: number;
  reading: boolean;
  again: boolean;
  retryMs: number;
  timer?: NodeJS.Timeout;
  started: Array<(cursor: number) => void>;
  failed: Array<(err: unknown) => void>;
}

export function createEventHub(db: Db, systemDb: SystemDb, pubsub: PubSub, opts: EventHubOptions = {}): EventHub {
  const feeds = new Map<string, Feed>();
  const running = new Set<Promise<void>>();
  let size = 0;
  let closed = false;
  let since: number | null = null;

  function pump(feed: Feed): void {
    if (closed) return;
    clearTimeout(feed.timer);
    feed.timer = undefined;
    if (feed.reading) {
      feed.again = true;
      return;
    }
    const p = read(feed).finally(() => running.delete(p));
    running.add(p);
  }

  // One read at a time per tenant keeps its pushes in order; whatever arrives meanwhile sets
  // `again` and is covered by the next pass.
  async function read(feed: Feed): Promise<void> {
    feed.reading = true;
    let horizon = 0;
    try {
      do {
        feed.again = false;
        if (feed.cursor < 0) {
          feed.cursor = await withTenant(db, feed.tenantId, (tx) => settledEventCursor(tx, feed.tenantId));
          for (const resolve of feed.started.splice(0)) resolve(feed.cursor);
          feed.failed.length = 0;
        }
        for (;;) {
          const page = await withTenant(db, feed.tenantId, (tx) =>
            readSettledEvents(tx, { tenantId: feed.tenantId, afterId: feed.cursor, limit: MAX_ROWS_PER_READ }),
          );
          horizon = page.horizon;
          if (page.rows.length) deliver(feed, page.rows);
          if (page.rows.length < MAX_ROWS_PER_READ || feeds.get(feed.tenantId) !== feed) break;
        }
      } while (feed.again && !closed && feeds.get(feed.tenantId) === feed);
      // Announced, below the horizon, yet not there: pruned or forged. Nothing to wait for.
      if (feed.target > feed.cursor && feed.target < horizon) feed.target = feed.cursor;
    } catch (err) {
      if (feed.cursor < 0) {
        // No start for the subscriptions waiting: they fail, and their clients retry.
        const failed = feed.failed.splice(0);
        feed.started.length = 0;
        for (const reject of failed) reject(err);
      } else {
        // The database hiccupped. Nothing was pushed past the cursor, so nothing is lost: read again soon.
        feed.target = Math.max(feed.target, feed.cursor + 1);
      }
    } finally {
      feed.reading = false;
    }
    if (closed || feeds.get(feed.tenantId) !== feed) return;
    if (feed.again) return pump(feed);
    if (feed.target > feed.cursor) {
      feed.timer = setTimeout(() => pump(feed), feed.retryMs);
      feed.retryMs = Math.min(feed.retryMs * 2, MAX_RETRY_MS);
    } else feed.retryMs = FIRST_RETRY_MS;
  }

  function deliver(feed: Feed, rows: Awaited<ReturnType<typeof readSettledEvents>>['rows']): void {
    const after = feed.cursor;
    const upTo = rows.at(-1)!.id;
    const batch: CofferEvent[] = [];
    for (const row of rows) {
      // The tenant comes from the row (read under the tenant's own row-level security), never from a payload.
      const event = row.tenantId === feed.tenantId ? rowToEvent(row) : null;
      if (event) batch.push(event);
    }
    feed.cursor = upTo;
    for (const sink of feed.sinks) sink.push(batch, after, upTo);
    eventsDelivered.inc(batch.length * feed.sinks.size);
    const now = Date.now();
    for (const e of batch) deliveryLag.observe((now - e.createdAt.getTime()) / 1000);
  }

  function announced(p: EventPointer): void {
    const feed = feeds.get(p.tenantId);
    if (!feed || p.id <= feed.target) return;
    feed.target = p.id;
    if (p.id > feed.cursor) pump(feed);
  }

  async function poll(): Promise<void> {
    const r = await withSystem(systemDb, (tx) => settledSince(tx, since ?? Number.MAX_SAFE_INTEGER));
    if (since !== null) for (const p of r.tenants) announced(p);
    since = r.horizon;
  }
  const pollTimer = setInterval(() => {
    if (closed) return;
    const p = poll()
      .catch(() => {})
      .finally(() => running.delete(p));
    running.add(p);
  }, opts.pollMs ?? 1000);
  pollTimer.unref();

  const unregister = registerAnnouncer(db, pubsub, announced);
  const unsubscribe = pubsub.subscribe((m) => {
    if (m.type === 'events') for (const p of m.pointers) announced(p);
    else if (m.type === 'reconnected') for (const feed of feeds.values()) pump(feed);
  });

  return {
    subscribe(tenantId, sink) {
      let feed = feeds.get(tenantId);
      if (!feed) {
        feed = {
          tenantId,
          sinks: new Set(),
          cursor: -1,
          target: 0,
          reading: false,
          again: false,
          retryMs: FIRST_RETRY_MS,
          started: [],
          failed: [],
        };
        feeds.set(tenantId, feed);
      }
      const f = feed;
      f.sinks.add(sink);
      size++;
      const start =
        f.cursor >= 0
          ? Promise.resolve(f.cursor)
          : new Promise<number>((resolve, reject) => {
              f.started.push(resolve);
              f.failed.push(reject);
              pump(f);
            });
      return {
        start,
        unsubscribe() {
          if (!f.sinks.delete(sink)) return;
          size--;
          if (f.sinks.size === 0 && feeds.get(tenantId) === f) {
            clearTimeout(f.timer);
            feeds.delete(tenantId);
          }
        },
      };
    },
    get size() {
      return size;
    },
    ready: pubsub.ready,
    async close() {
      closed = true;
      clearInterval(pollTimer);
      unsubscribe();
      unregister();
      for (const feed of feeds.values()) {
        clearTimeout(feed.timer);
        for (const s of feed.sinks) s.close();
        // Their streams unsubscribe later, when they wake: by then they must count for nothing.
        feed.sinks.clear();
      }
      feeds.clear();
      size = 0;
      await Promise.allSettled([...running]);
      await pubsub.close();
    },
  };
}
