import type { CofferEvent } from '../../shared/schemas/events.ts';
import { CofferError } from '../errors.ts';
import type { EventSink } from './hub.ts';

/**
 * The transport's fast path for live events (server/ws-fanout.ts): it writes an event to the
 * subscriber's socket at once, in exactly the bytes tRPC would have sent, without a trip through
 * the subscription's generator. The generator hands it over while it has nothing else to do.
 */
export interface DirectChannel {
  /** True once the channel knows this subscription's framing (its first event went the normal way). */
  readonly ready: boolean;
  /** What the generator yields instead of its first event, so the transport learns the framing. */
  handshake(event: CofferEvent): unknown;
  send(event: CofferEvent): void;
  /** Runs a batch of sends as one socket write. */
  batch(fn: () => void): void;
  /** Bytes queued on the socket and not yet sent. */
  readonly bufferedAmount: number;
}

/**
 * A subscription's buffer between the hub and its generator. The hub never waits for a
 * subscriber, so nothing here may grow with the subscriber's lag:
 * - while the generator is busy (catching up, or the channel not ready yet), events queue; past
 *   `max` the queue is dropped and the generator re-reads the log from its cursor (the log is the
 *   source of truth, so this costs a query, never an event);
 * - while it waits, events go straight to the direct channel; matching the filter allocates nothing;
 * - a subscriber whose socket cannot take what was already sent is cut off with `fail()`
 *   (SLOW_CONSUMER); the client resumes from its last id at its own pace.
 */
export class Inbox implements EventSink {
  private queue: CofferEvent[] = [];
  /** `after` of the first push queued since the last take (-1: none), and `upTo` of the last. */
  private queuedAfter = -1;
  private queuedUpTo = -1;
  private wake: (() => void) | null = null;
  private direct: DirectChannel | null = null;
  /** In direct mode: everything up to here was sent or filtered out. */
  private directCursor = -1;
  /** Set when the queue may have a gap; the generator re-reads the log. */
  needsResync = false;
  failure: CofferError | null = null;
  closed = false;
  /** How often the queue was dropped for a re-read (tests look at it). */
  overflows = 0;

  private readonly max: number;
  private readonly accept: (e: CofferEvent) => boolean;
  private readonly maxBufferedBytes: number;

  constructor(max: number, accept: (e: CofferEvent) => boolean, maxBufferedBytes = Number.POSITIVE_INFINITY) {
    this.max = max;
    this.accept = accept;
    this.maxBufferedBytes = maxBufferedBytes;
  }

  push(events: CofferEvent[], after: number, upTo: number): void {
    if (this.failure || this.closed) return;
    if (this.direct) {
      this.pushDirect(events, after, upTo);
      return;
    }
    if (this.queuedAfter < 0) this.queuedAfter = after;
    this.queuedUpTo = upTo;
    for (const e of events) if (this.accept(e)) this.queue.push(e);
    if (this.queue.length > this.max) {
      this.dropQueue();
      this.needsResync = true;
      this.overflows++;
    }
    this.notify();
  }

  private pushDirect(events: CofferEvent[], after: number, upTo: number): void {
    const direct = this.direct!;
    if (after > this.directCursor) {
      // A gap (the hub lost its place): back to the generator, which re-reads the log.
      this.needsResync = true;
      this.notify();
      return;
    }
    direct.batch(() => {
      for (const e of events) {
        if (e.id <= this.directCursor) continue;
        this.directCursor = e.id;
        if (this.accept(e)) direct.send(e);
      }
    });
    if (upTo > this.directCursor) this.directCursor = upTo;
    if (direct.bufferedAmount > this.maxBufferedBytes) this.fail(`${direct.bufferedAmount} bytes unsent on the WebSocket`);
  }

  /** The generator has nothing left to send and waits: live events go to `direct` from `cursor` on. */
  goDirect(direct: DirectChannel, cursor: number): void {
    this.direct = direct;
    this.directCursor = cursor;
  }

  /** Back to queueing (the generator woke up: direct sends stopped then); returns the cursor they reached. */
  leaveDirect(cursor: number): number {
    this.direct = null;
    const reached = Math.max(cursor, this.directCursor);
    this.directCursor = -1;
    return reached;
  }

  close(): void {
    this.closed = true;
    this.notify();
  }

  fail(why: string): void {
    this.dropQueue(); // release the memory now, not when the generator gets round to it
    this.failure ??= new CofferError('SLOW_CONSUMER', `subscriber too slow: ${why}; resubscribe with lastEventId to resume`);
    this.notify();
  }

  /** Everything queued so far, oldest first, with the range of pushes it came from (after = -1: none). */
  take(): { events: CofferEvent[]; after: number; upTo: number } {
    const out = { events: this.queue, after: this.queuedAfter, upTo: this.queuedUpTo };
    this.dropQueue();
    return out;
  }

  private dropQueue(): void {
    this.queue = [];
    this.queuedAfter = -1;
    this.queuedUpTo = -1;
  }

  get idle(): boolean {
    return this.queuedAfter < 0 && !this.needsResync && !this.failure && !this.closed;
  }

  /** Resolves when there is something for the generator to do, or the signal aborts. */
  async wait(signal?: AbortSignal): Promise<void> {
    if (!this.idle || signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        this.wake = null;
        // Whatever woke the generator (a gap, a failure, shutdown, the client's stop), nothing more
        // goes out behind its back; it sends again itself or ends.
        this.direct = null;
        resolve();
      };
      this.wake = done;
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private notify(): void {
    this.wake?.();
  }
}
