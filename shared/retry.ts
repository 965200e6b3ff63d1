/** Retry arithmetic shared by the server and the client (browser-safe: no Node imports). */

/**
 * Exponential backoff with jitter: `baseMs · 2^attempt`, capped at `maxMs`, times a random factor
 * in [0.5, 1), so callers that failed together do not retry in lockstep.
 */
export function backoffMs(attempt: number, opts: { baseMs: number; maxMs: number }): number {
  return Math.min(opts.maxMs, opts.baseMs * 2 ** attempt) * (0.5 + Math.random() / 2);
}

/**
 * The error and its causes, outermost first. Libraries wrap what failed (drizzle's
 * DrizzleQueryError around pg's error, fetch's TypeError around the socket's), so the code that
 * says what happened may sit a few causes down. Bounded, in case of a cycle.
 */
export function* causeChain(
  err: unknown,
  maxDepth = 5,
): Generator<{ code?: unknown; message?: unknown; constraint?: unknown; detail?: unknown }> {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < maxDepth; e = (e as { cause?: unknown }).cause, depth++) {
    yield e as { code?: unknown; message?: unknown; constraint?: unknown; detail?: unknown };
  }
}
