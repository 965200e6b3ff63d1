import { retryLink, type TRPCClientError, type TRPCLink } from '@trpc/client';
import type { AppRouter } from '../../server/routers/_app.ts';

/** Waits longer than this are not worth blocking a call on: the error is returned instead. */
const MAX_WAIT_MS = 60_000;

/** Seconds from the error's `data.retryAfterSeconds`, else its response's Retry-After header. */
function retryAfterMs(error: TRPCClientError<AppRouter>): number | null {
  const data = error.data as { retryAfterSeconds?: number | null } | undefined;
  const header = (error.meta?.response as Response | undefined)?.headers?.get('retry-after');
  const seconds = data?.retryAfterSeconds ?? (header ? Number(header) : NaN);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null;
}

/**
 * Retries queries (idempotent) that the server rate limited, after the Retry-After it sent.
 * Mutations are never retried here: a limited mutation did not run, but the caller decides.
 */
export function rateLimitRetryLink(maxAttempts = 3): TRPCLink<AppRouter> {
  // retryLink asks `retry` and then, synchronously for the same failure, `retryDelayMs`:
  // the delay computed in the first is handed to the second through this variable.
  let delayMs = 0;
  return retryLink<AppRouter>({
    retry: ({ op, error, attempts }) => {
      if (op.type !== 'query' || attempts >= maxAttempts || error.data?.code !== 'TOO_MANY_REQUESTS') return false;
      const wait = retryAfterMs(error);
      if (wait === null || wait > MAX_WAIT_MS) return false;
      delayMs = wait;
      return true;
    },
    retryDelayMs: () => delayMs,
  });
}
