import { CofferError } from '../errors.ts';

const NOT_FOUND_NAMES = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload']);
/** Credentials and permission failures are configuration faults: the backend is unusable, not the request wrong. */
const AUTH_NAMES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'CredentialsProviderError',
  'ExpiredToken',
  'InvalidToken',
]);

/**
 * Turns an AWS SDK error into a CofferError. Messages are built here from fixed text and the
 * S3 error code only: SDK messages can contain the endpoint, bucket or key, and network errors
 * the host and port.
 */
export function toStorageError(err: unknown, what: 'object' | 'upload'): CofferError {
  if (err instanceof CofferError) return err;
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const name = e?.name ?? '';
  const status = e?.$metadata?.httpStatusCode;
  if (name === 'NoSuchBucket') return storageUnavailable(err);
  if (NOT_FOUND_NAMES.has(name) || status === 404) return new CofferError('NOT_FOUND', `${what} not found`, { cause: err });
  if (name === 'InvalidRange' || status === 416) return new CofferError('BAD_INPUT', 'range not satisfiable', { cause: err });
  const clientFault = status !== undefined && status >= 400 && status < 500 && ![403, 408, 429].includes(status);
  if (clientFault && !AUTH_NAMES.has(name)) {
    const code = /^[A-Za-z]{1,64}$/.test(name) ? name : 'unknown';
    return new CofferError('BAD_INPUT', `storage rejected the request (${code})`, { cause: err });
  }
  return storageUnavailable(err);
}

export function storageUnavailable(cause: unknown): CofferError {
  return new CofferError('STORAGE_UNAVAILABLE', 'object storage is unavailable', { cause });
}
