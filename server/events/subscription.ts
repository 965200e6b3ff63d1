import { tracked } from '@trpc/server';
import type { OnEventInput } from '../../shared/schemas/event-stream.ts';
import type { CofferEvent } from '../../shared/schemas/events.ts';
import type { Db } from '../db/index.ts';
import { lastAssignedEventId, listEventsAfter, newestEventId } from '../db/queries/events.ts';
import { CofferError, toTRPCError } from '../errors.ts';
import type { TenantScope } from '../tenant-scope.ts';
import { matchesFilter, rowToEvent } from './filter.ts';
import type { EventHub } from './hub.ts';
import { Inbox } from './inbox.ts';

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
  limits?: Partial<StreamLimits>;
}

/**
 * The `artifact.onEvent` stream: registers with the hub FIRST, then reads the log after the
 * resume point, then streams live events, skipping any id it already sent. Because a tenant's
 * ids commit in id order, "id > last sent" is both the de-duplication and the no-gap rule.
 */
/** What a stream needs: the hub for live events, the database for the resume check. */
export interface StreamDeps {
  db: Db;
  hub: EventHub;
}

export async function* streamEvents(deps: StreamDeps, tenant: TenantScope, input: OnEventInput, opts: StreamOptions = {}) {
  const limits = { ...DEFAULT_STREAM_LIMITS, ...opts.limits };
  const inbox = new Inbox(limits.maxQueued, matchesFilter(input));
  // Registered before any await, so it is in place before the client hears "started".
  const unsubscribe = deps.hub.subscribe(tenant.id, inbox);
  const { signal, socket } = opts;
  try {
    let cursor = await startCursor(deps, tenant, input.lastEventId);
    inbox.needsResync ||= input.lastEventId !== undefined;
    while (!signal?.aborted) {
      if (inbox.needsResync) {
        inbox.needsResync = false;
        for await (const e of backfill(tenant, input, cursor, limits.pageSize, signal)) {
          cursor = e.id;
          yield tracked(String(e.id), e);
          checkSocket(inbox, socket, limits.maxBufferedBytes);
        }
      }
      for (const e of inbox.take()) {
        if (e.id <= cursor || inbox.failure) continue;
        cursor = e.id;
        yield tracked(String(e.id), e);
        checkSocket(inbox, socket, limits.maxBufferedBytes);
      }
      if (inbox.failure) throw inbox.failure;
      if (inbox.closed) throw new CofferError('DATABASE_UNAVAILABLE', 'server shutting down; reconnect and resume with lastEventId');
      await inbox.wait(signal);
    }
  } catch (err) {
    // Errors thrown while iterating bypass the procedure middlewares: map them here.
    throw toTRPCError(err);
  } finally {
    unsubscribe();
  }
}

/** Runs after each yield, i.e. after tRPC has handed the event to the socket. */
function checkSocket(inbox: Inbox, socket: ClientSocket | undefined, max: number): void {
  if (!socket || socket.bufferedAmount <= max) return;
  inbox.fail(`${socket.bufferedAmount} bytes unsent on the WebSocket`);
  throw inbox.failure;
}

/**
 * Where the stream starts: right after `lastEventId`, or after the tenant's newest event when
 * there is none. An id the sequence never handed out is a client bug, so it is refused.
 */
async function startCursor(deps: StreamDeps, tenant: TenantScope, lastEventId: string | undefined): Promise<number> {
  if (lastEventId === undefined) return tenant.run((tx) => newestEventId(tx, tenant.id));
  const id = Number(lastEventId);
  if (!/^\d+$/.test(lastEventId) || !Number.isSafeInteger(id)) {
    throw new CofferError('BAD_INPUT', 'lastEventId must be an event id: a non-negative integer string');
  }
  const newest = await lastAssignedEventId(deps.db);
  if (id > newest) throw new CofferError('BAD_INPUT', `lastEventId ${id} is newer than the newest event (${newest})`);
  return id;
}

/** The tenant's matching events after `afterId`, page by page, oldest first. */
async function* backfill(
  tenant: TenantScope,
  input: OnEventInput,
  afterId: number,
  pageSize: number,
  signal?: AbortSignal,
): AsyncGenerator<CofferEvent> {
  const { lastEventId: _ignored, ...filter } = input;
  for (let cursor = afterId; !signal?.aborted; ) {
    const rows = await tenant.run((tx) => listEventsAfter(tx, { ...filter, tenantId: tenant.id, afterId: cursor, limit: pageSize }));
    for (const row of rows) {
      cursor = row.id;
      const event = rowToEvent(row);
      if (event) yield event;
    }
    if (rows.length < pageSize) return;
  }
}

/** `artifact.eventCursor`: a resume point taken before reading state, so nothing after it is missed. */
export async function eventCursor(tenant: TenantScope) {
  return { lastEventId: String(await tenant.run((tx) => newestEventId(tx, tenant.id))) };
}
