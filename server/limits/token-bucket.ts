/**
 * Token buckets, one per key (an API key id, or a client IP), held in this process's memory.
 * Each instance limits on its own: behind a load balancer with N instances a client can make up
 * to N times the configured rate. That is the price of needing no shared store; put a shared
 * limiter (Redis, the proxy) in front if the exact rate matters.
 */
export interface TokenBucketLimiter {
  /** Takes `n` tokens (one by default) for `key`: 0 when allowed, else whole seconds until they are available. */
  take(key: string, n?: number): number;
  readonly perMinute: number;
}

/** Buckets that have refilled completely are dropped on a sweep, so idle keys cost no memory. */
const SWEEP_EVERY_TAKES = 1000;

export function createTokenBucket(perMinute: number, now: () => number = Date.now): TokenBucketLimiter {
  // Capacity is one minute's worth: a burst up to the limit, then the steady rate.
  const capacity = perMinute;
  const perMs = perMinute / 60_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  let takes = 0;

  const refill = (b: { tokens: number; at: number }, t: number) => {
    b.tokens = Math.min(capacity, b.tokens + (t - b.at) * perMs);
    b.at = t;
  };

  const sweep = (t: number) => {
    for (const [key, b] of buckets) {
      refill(b, t);
      if (b.tokens >= capacity) buckets.delete(key);
    }
  };

  return {
    perMinute,
    take(key, n = 1) {
      const t = now();
      if (++takes % SWEEP_EVERY_TAKES === 0) sweep(t);
      let b = buckets.get(key);
      if (!b) {
        b = { tokens: capacity, at: t };
        buckets.set(key, b);
      }
      refill(b, t);
      if (b.tokens >= n) {
        b.tokens -= n;
        return 0;
      }
      return Math.max(1, Math.ceil((n - b.tokens) / perMs / 1000));
    },
  };
}
