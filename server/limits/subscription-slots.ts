/**
 * Counts live subscriptions per API key in this process (so, like the rate limits, per instance)
 * so that one key cannot hold an unbounded number of generators, hub registrations and database
 * backfills open.
 */
export interface SubscriptionSlots {
  /** A release function (idempotent), or null when `key` already holds `max` subscriptions. */
  acquire(key: string): (() => void) | null;
  readonly max: number;
}

export function createSubscriptionSlots(max: number): SubscriptionSlots {
  const open = new Map<string, number>();
  return {
    max,
    acquire(key) {
      const n = open.get(key) ?? 0;
      if (n >= max) return null;
      open.set(key, n + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (open.get(key) ?? 1) - 1;
        if (left > 0) open.set(key, left);
        else open.delete(key);
      };
    },
  };
}

/**
 * Wraps a subscription's async iterable so `release` runs when it ends for any reason: finished,
 * failed, or closed by the consumer via `return()` (tRPC disposes the iterator on unsubscribe,
 * also when it never pulled a value, where a wrapping generator's `finally` would not run).
 */
export function releasingIterable<T>(source: AsyncIterable<T>, release: () => void): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const r = await it.next();
            if (r.done) release();
            return r;
          } catch (err) {
            release();
            throw err;
          }
        },
        async return(value?: unknown) {
          release();
          return (await it.return?.(value)) ?? { done: true, value: undefined };
        },
        async throw(err?: unknown) {
          release();
          if (it.throw) return it.throw(err);
          throw err;
        },
      };
    },
  };
}
