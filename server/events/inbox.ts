import type { CofferEvent } from '../../shared/schemas/events.ts';
import { CofferError } from '../errors.ts';
import type { EventSink } from './hub.ts';

/**
 * A subscription's bounded buffer between the hub and its generator. The hub never waits for a
 * subscriber, so nothing here may grow with the subscriber's lag:
 * - past `max` queued events the queue is dropped and the generator re-reads the log from its
 *   cursor (the log is the source of truth, so this costs a query, never an event); a catch-up
 *   backfill that outlasts a burst lands here;
 * - a subscriber whose socket cannot take what was already sent is cut off with `fail()`
 *   (SLOW_CONSUMER); the client resumes from its last id at its own pace.
 */
export class Inbox implements EventSink {
  private queue: CofferEvent[] = [];
  private wake: (() => void) | null = null;
  /** Set when live delivery may have a gap; the generator re-reads the log. */
  needsResync = false;
  failure: CofferError | null = null;
  closed = false;
  /** How often the queue was dropped for a re-read (tests look at it). */
  overflows = 0;
  private readonly max: number;
  private readonly accept: (e: CofferEvent) => boolean;

  constructor(max: number, accept: (e: CofferEvent) => boolean) {
    this.max = max;
    this.accept = accept;
  }

  push(events: CofferEvent[]): void {
    if (this.failure || this.closed) return;
    for (const e of events) if (this.accept(e)) this.queue.push(e);
    if (this.queue.length > this.max) {
      this.queue = [];
      this.needsResync = true;
      this.overflows++;
    }
    this.notify();
  }

  resync(): void {
    this.needsResync = true;
    this.notify();
  }

  close(): void {
    this.closed = true;
    this.notify();
  }

  fail(why: string): void {
    this.queue = []; // release the memory now, not when the generator gets round to it
    this.failure ??= new CofferError('SLOW_CONSUMER', `subscriber too slow: ${why}; resubscribe with lastEventId to resume`);
    this.notify();
  }

  /** Everything queued so far, oldest first. */
  take(): CofferEvent[] {
    const out = this.queue;
    this.queue = [];
    return out;
  }

  get idle(): boolean {
    return this.queue.length === 0 && !this.needsResync && !this.failure && !this.closed;
  }

  /** Resolves when there is something to do, or the signal aborts. */
  async wait(signal?: AbortSignal): Promise<void> {
    if (!this.idle || signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        this.wake = null;
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
