import { TRPCError } from '@trpc/server';
import { COFFER_ERROR_CODES, type CofferErrorCode } from '../shared/errors.ts';
import { causeChain } from '../shared/retry.ts';
import { classifyPgError } from './db/pg-errors.ts';

/** What services and storage backends throw. `message` is shown to the caller, so it must say what to fix and never carry secrets. */
export class CofferError extends Error {
  /** Set on RATE_LIMITED: sent as Retry-After and as `data.retryAfterSeconds`. */
  readonly retryAfterSeconds?: number;
  readonly code: CofferErrorCode;

  constructor(code: CofferErrorCode, message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options);
    this.code = code;
    this.name = 'CofferError';
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

export const notFound = (what: string) => new CofferError('NOT_FOUND', `${what} not found`);

/** Connection-level failures of node-postgres and the server's "shutting down" codes. */
const DB_DOWN_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08003', '08006']);

function isDatabaseDown(err: unknown): boolean {
  for (const { code, message } of causeChain(err)) {
    if (typeof code === 'string' && DB_DOWN_CODES.has(code)) return true;
    if (typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect/i.test(message)) return true;
  }
  return false;
}

/** The one place domain errors become tRPC errors. Anything unknown stays an INTERNAL_SERVER_ERROR with a generic message. */
export function toTRPCError(err: unknown): TRPCError {
  if (err instanceof TRPCError) return err;
  if (err instanceof CofferError) {
    return new TRPCError({ code: COFFER_ERROR_CODES[err.code], message: err.message, cause: err });
  }
  if (isDatabaseDown(err)) {
    const cause = new CofferError('DATABASE_UNAVAILABLE', 'database unavailable, retry shortly', { cause: err });
    return new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: cause.message, cause });
  }
  const pg = classifyPgError(err);
  if (pg) return toTRPCError(new CofferError(pg.code, pg.message, { cause: err }));
  return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'Internal error', cause: err });
}
