/**
 * Domain error codes. The server throws these from services and storage; exactly one place
 * (server/errors.ts) turns them into tRPC errors, and the client reads them back from
 * `error.data.cofferCode`.
 */
export const COFFER_ERROR_CODES = {
  NOT_FOUND: 'NOT_FOUND',
  BAD_INPUT: 'BAD_REQUEST',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  CONFLICT: 'CONFLICT',
  TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** The tenant's storage quota (bytes or objects) would be exceeded; nothing was stored. */
  QUOTA_EXCEEDED: 'FORBIDDEN',
  CHECKSUM_MISMATCH: 'PRECONDITION_FAILED',
  SIZE_MISMATCH: 'PRECONDITION_FAILED',
  PRECONDITION: 'PRECONDITION_FAILED',
  STORAGE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  DATABASE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  /** A subscription fell too far behind and was cut off; resume with lastEventId. */
  SLOW_CONSUMER: 'TOO_MANY_REQUESTS',
  /** A rate or concurrency limit; `data.retryAfterSeconds` (and the Retry-After header) says when to retry. */
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
} as const;

export type CofferErrorCode = keyof typeof COFFER_ERROR_CODES;
