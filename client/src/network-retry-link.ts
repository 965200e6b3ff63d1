import { retryLink, type TRPCClientError, type TRPCLink } from '@trpc/client';
import type { AppRouter } from './wire.ts';

// Browser-safe: no node: imports here.

/** undici and browsers fail a refused connection before a byte is sent: safe to repeat anything. */
function connectionRefused(error: TRPCClientError<AppRouter>): boolean {
  for (let e: unknown = error.cause, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === 'ECONNREFUSED') return true;
  }
  return false;
}

/**
 * No tRPC answer at all: the network failed, or a proxy answered with its own error page. A
 * Coffer answer (SERVICE_UNAVAILABLE included) is the server's word and reaches the caller at
 * once; retrying it would hide an outage behind seconds of backoff.
 */
const noAnswer = (error: TRPCClientError<AppRouter>) => error.data?.code === undefined;

/**
 * Retries with exponential backoff and jitter: queries (idempotent) after network errors;
 * mutations only when the connection was refused, since after any later failure the server
 * may have run them. Subscriptions are left to wsLink and events().
 * Rate-limit answers are retry-link.ts's (after Retry-After), not this link's.
 */
export function networkRetryLink(opts: { maxAttempts?: number; baseDelayMs?: number } = {}): TRPCLink<AppRouter> {
  const { maxAttempts = 4, baseDelayMs = 200 } = opts;
  return retryLink<AppRouter>({
    retry: ({ op, error, attempts }) => {
      if (attempts >= maxAttempts || op.signal?.aborted) return false;
      if (op.type === 'query') return noAnswer(error);
      return op.type === 'mutation' && connectionRefused(error);
    },
    retryDelayMs: (attempt) => Math.min(5_000, baseDelayMs * 2 ** attempt) * (0.5 + Math.random() / 2),
  });
}
