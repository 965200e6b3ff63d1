import { retryLink, type TRPCClientError, type TRPCLink } from '@trpc/client';
import { backoffMs, causeChain } from '../../shared/retry.ts';
import type { AppRouter } from './wire.ts';

// Browser-safe: no node: imports here.

/** Waits longer than this are not worth blocking a call on: the error is returned instead. */
const MAX_RATE_LIMIT_WAIT_MS = 60_000;

export interface RetryOptions {
  /** Attempts per call, the first included, whatever made them fail (default 4). */
  maxAttempts?: number;
  /** First backoff after a network error; doubles per attempt, with jitter, up to 5 s (default 200 ms). */
  baseDelayMs?: number;
}

/**
 * The client's one retry policy, with one attempt budget per call:
 * - a rate limit (TOO_MANY_REQUESTS with Retry-After): queries wait that long and retry; a limited
 *   mutation did not run, but whether to send it again is the caller's call;
 * - no tRPC answer at all (the network failed, or a proxy answered with its own error page):
 *   queries (idempotent) retry with backoff; mutations only when the connection was refused,
 *   since after any later failure the server may have run them.
 * Any other Coffer answer, SERVICE_UNAVAILABLE included, is the server's word and reaches the
 * caller at once: retrying it would hide an outage behind seconds of backoff. Subscriptions are
 * left to wsLink and events().
 */
export function cofferRetryLink(opts: RetryOptions = {}): TRPCLink<AppRouter> {
  const { maxAttempts = 4, baseDelayMs = 200 } = opts;
  // retryLink asks `retry` and then, synchronously for the same failure, `retryDelayMs`: the
  // delay decided in the first is handed to the second through this variable.
  let delayMs = 0;
  return retryLink<AppRouter>({
    retry: ({ op, error, attempts }) => {
      if (attempts >= maxAttempts || op.signal?.aborted) return false;
      if (error.data?.code === 'TOO_MANY_REQUESTS') {
        const wait = retryAfterMs(error);
        if (op.type !== 'query' || wait === null || wait > MAX_RATE_LIMIT_WAIT_MS) return false;
        delayMs = wait;
        return true;
      }
      if (error.data?.code !== undefined) return false;
      delayMs = backoffMs(attempts - 1, { baseMs: baseDelayMs, maxMs: 5_000 });
      return op.type === 'query' || (op.type === 'mutation' && connectionRefused(error));
    },
    retryDelayMs: () => delayMs,
  });
}

/** Seconds from the error's `data.retryAfterSeconds`, else its response's Retry-After header. */
function retryAfterMs(error: TRPCClientError<AppRouter>): number | null {
  const data = error.data as { retryAfterSeconds?: number | null } | undefined;
  const header = (error.meta?.response as Response | undefined)?.headers?.get('retry-after');
  const seconds = data?.retryAfterSeconds ?? (header ? Number(header) : Number.NaN);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null;
}

/** undici and browsers fail a refused connection before a byte is sent: safe to repeat anything. */
function connectionRefused(error: TRPCClientError<AppRouter>): boolean {
  for (const e of causeChain(error.cause, 4)) if (e.code === 'ECONNREFUSED') return true;
  return false;
}
