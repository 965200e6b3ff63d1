import { type TrackedEnvelope, tracked } from '@trpc/server';
import type { OnEventInput } from '../../shared/schemas/event-stream.ts';
import type { CofferEvent } from '../../shared/schemas/events.ts';
import { readSettledEvents, settledEventCursor } from '../db/queries/events.ts';
import { CofferError, toTRPCError } from '../errors.ts';
import { releasingIterable } from '../limits/subscription-slots.ts';
import type { TenantScope } from '../tenant-scope.ts';
import { matchesFilter, rowToEvent } from './filter.ts';
import type { EventHub } from './hub.ts';
import { type DirectChannel, Inbox } from './inbox.ts';

/** Limits of one subscription; tests shrink them. */
export interface StreamLimits {
  /** Live events waiting for the generator. */
  maxQueued: number;
  /** Bytes the WebSocket may hold unsent before the subscriber counts as slow. */
  maxBufferedBytes: number;
  /** Rows per backfill query. */
  pageSize: number;
}
export const DEFAULT_STREAM_LIMITS: StreamLimits = { maxQueued: 1000, maxBufferedBytes: 4 * 1024 * 1024, pageSize: 500 };

/** The part of a `ws` WebSocket a subscription looks at: what it has not sent yet. */
export interface ClientSocket {
  readonly bufferedAmount: number;
}

export interface StreamOptions {
  signal?: AbortSignal;
  socket?: ClientSocket;
  /** The transport's fast path (WebSocket only): live events skip the generator. */
  direct?: DirectChannel;
  limits?: Partial<StreamLimits>;
}

/** What a stream needs: the hub for live events. */
export interface StreamDeps {
  hub: EventHub;
}

/**
 * The `artifact.onEvent` stream, opened: registered with the hub and placed (where it starts
 * reading) BEFORE this returns. tRPC answers "started" only once the procedure has returned, so
 * a client that has heard it can write and be sure to hear of the write. Placing the first
 * subscriber of a tenant on an instance takes one query; answering "started" before it would
 * count a write committed meanwhile as history, and never deliver it.
 *
 * The stream then reads the log after that point and streams live events, skipping any id it
 * already sent. Because every read stays below the settled horizon (server/events/append.ts),
 * "id > last sent" is both the de-duplication and the no-gap rule. Live events it has nothing
 * else to do with go out through `direct` without waking the generator (one serialization per
 * instance, not per subscriber). Its hub registration ends with the stream, or when the stream
 * is dropped before it is ever read.
 */
export async function openEventStream(
  deps: StreamDeps,
  tenant: TenantScope,
  input: OnEventInput,
  opts: StreamOptions = {},
): Promise<AsyncIterable<TrackedEnvelope<CofferEvent>>> {
  const limits = { ...DEFAULT_STREAM_LIMITS, ...opts.limits };
  const inbox = new Inbox(limits.maxQueued, matchesFilter(input), limits.maxBufferedBytes);
  const hub = deps.hub.subscribe(tenant.id, inbox);
  const unsubscribe = () => hub.unsubscribe();
  try {
    const start = await hub.start;
    const cursor = input.lastEventId === undefined ? start : await resumePoint(tenant, input.lastEventId, start);
    inbox.needsResync ||= input.lastEventId !== undefined;
    // The wrapper is the one owner of the registration: it ends it when the stream ends, fails
    // or is returned, read or not.
    return releasingIterable(streamEvents(tenant, input, inbox, cursor, limits, opts), unsubscribe);
  } catch (err) {
    unsubscribe();
    throw err; // through the procedure's middlewares, which map it
  }
}

async function* streamEvents(
  tenant: TenantScope,
  input: OnEventInput,
  inbox: Inbox,
  from: number,
  limits: StreamLimits,
  opts: StreamOptions,
) {
  const { signal, socket, direct } = opts;
  // The first event this stream sends, if it can go direct, carries the channel's handshake.
  const wrap = (e: CofferEvent) => tracked(String(e.id), direct && !direct.ready ? (direct.handshake(e) as CofferEvent) : e);
  let cursor = from;
  try {
    while (!signal?.aborted) {
      if (inbox.needsResync) {
        inbox.needsResync = false;
        inbox.take(); // the backfill covers whatever was queued
        for await (const step of backfill(tenant, input, cursor, limits.pageSize, signal)) {
          cursor = step.cursor;
          if (!step.event) continue;
          yield wrap(step.event);
          checkSocket(inbox, socket, limits.maxBufferedBytes);
        }
      }
      const { events, after, upTo } = inbox.take();
      if (after > cursor) {
        inbox.needsResync = true; // the hub's pushes do not reach back to our cursor: re-read
        continue;
      }
      for (const e of events) {
        if (e.id <= cursor || inbox.failure) continue;
        cursor = e.id;
        yield wrap(e);
        checkSocket(inbox, socket, limits.maxBufferedBytes);
      }
      cursor = Math.max(cursor, upTo);
      if (inbox.failure) throw inbox.failure;
      if (inbox.closed) throw new CofferError('DATABASE_UNAVAILABLE', 'server shutting down; reconnect and resume with lastEventId');
      // Everything so far was yielded, so tRPC has written it: direct sends come after it on the socket.
      if (direct?.ready && inbox.idle) inbox.goDirect(direct, cursor);
      await inbox.wait(signal);
      cursor = inbox.leaveDirect(cursor);
    }
  } catch (err) {
    // Errors thrown while iterating bypass the procedure middlewares: map them here.
    throw toTRPCError(err);
  }
}

/** Runs after each yield, i.e. after tRPC has handed the event to the socket. */
function checkSocket(inbox: Inbox, socket: ClientSocket | undefined, max: number): void {
  if (!socket || socket.bufferedAmount <= max) return;
  inbox.fail(`${socket.bufferedAmount} bytes unsent on the WebSocket`);
  throw inbox.failure;
}

/**
 * Where a resumed stream starts: right after `lastEventId`. An id this tenant was never given is
 * a client bug, so it is refused; it is compared with the tenant's own newest settled id, and
 * the answer names no id at all (a global value would let tenants watch each other's activity).
 */
async function resumePoint(tenant: TenantScope, lastEventId: string, hubCursor: number): Promise<number> {
  const id = Number(lastEventId);
  if (!/^\d+$/.test(lastEventId) || !Number.isSafeInteger(id)) {
    throw new CofferError('BAD_INPUT', 'lastEventId must be an event id: a non-negative integer string');
  }
  if (id <= hubCursor) return id;
  const newest = await tenant.read((tx) => settledEventCursor(tx, tenant.id));
  if (id > newest) {
    throw new CofferError(
      'BAD_INPUT',
      "lastEventId is newer than this tenant's newest event: pass an id this stream delivered, or the one artifact.eventCursor returns",
    );
  }
  return id;
}

/**
 * The tenant's matching events after `afterId`, page by page, oldest first, then a last step
 * whose cursor is the page's horizon - 1: everything below it has been read, matching or not.
 */
async function* backfill(
  tenant: TenantScope,
  input: OnEventInput,
  afterId: number,
  pageSize: number,
  signal?: AbortSignal,
): AsyncGenerator<{ cursor: number; event?: CofferEvent }> {
  const { lastEventId: _ignored, ...filter } = input;
  for (let cursor = afterId; !signal?.aborted; ) {
    const page = await tenant.run((tx) => readSettledEvents(tx, { ...filter, tenantId: tenant.id, afterId: cursor, limit: pageSize }));
    for (const row of page.rows) {
      cursor = row.id;
      const event = rowToEvent(row);
      if (event) yield { cursor, event };
    }
    if (page.rows.length < pageSize) {
      if (page.horizon - 1 > cursor) yield { cursor: page.horizon - 1 };
      return;
    }
  }
}

/** `artifact.eventCursor`: a resume point taken before reading state, so nothing after it is missed. */
export async function eventCursor(tenant: TenantScope) {
  return { lastEventId: String(await tenant.read((tx) => settledEventCursor(tx, tenant.id))) };
}
