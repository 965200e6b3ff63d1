import { backoffMs } from '../../shared/retry.ts';
import type { UploadInstructions } from '../../shared/schemas/upload.ts';

/** Runtime-safe in browsers: no Node imports here. Node-only sources live in node-source.ts. */

export interface TransferProgress {
  /** Bytes the storage acknowledged; a retried part counts once, when it lands. */
  sentBytes: number;
  totalBytes: number;
}

export interface SendOptions {
  onProgress?: (p: TransferProgress) => void;
  /** Aborts in-flight PUTs; the upload helpers then abort the upload on the server. */
  signal?: AbortSignal;
  /** Part PUTs in flight at once (default 4). */
  concurrency?: number;
  /** Further attempts per PUT after a network error or a 5xx (default 3). */
  retries?: number;
}

/** A body fetch can send: Blobs and bytes in browsers, streams of a file's range in Node. */
export type PartBody = Blob | Uint8Array | AsyncIterable<Uint8Array>;

/** Bytes an upload reads from, part by part, so a large file is never held whole. */
export interface ByteSource {
  sizeBytes: number;
  /** A fresh body for bytes [start, end); called again for every attempt. */
  read(start: number, end: number): PartBody;
}

/** A PUT to a signed URL that failed for good; `status` is absent for network errors. */
export class TransferError extends Error {
  readonly status?: number;

  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
    this.name = 'TransferError';
  }
}

export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_RETRIES = 3;

/**
 * Sends a source's bytes to upload instructions someone already obtained (artifact.createUpload,
 * or version.create for a snapshot) and returns what completeUpload needs: the parts' ETags for a
 * multipart upload, undefined for a single PUT. It neither completes nor aborts: callers do.
 */
export async function sendToInstructions(instructions: UploadInstructions, source: ByteSource, opts: SendOptions = {}) {
  const progress = meter(source.sizeBytes, opts.onProgress);
  if (instructions.mode === 'single') {
    await putWithRetry(
      { url: instructions.url, headers: instructions.headers, label: 'PUT' },
      source,
      0,
      source.sizeBytes,
      opts.signal,
      opts,
    );
    progress(source.sizeBytes);
    return undefined;
  }
  const { parts, partSize } = instructions;
  const declared = parts.reduce((n, p) => n + p.sizeBytes, 0);
  if (declared !== source.sizeBytes) throw new TransferError(`the upload expects ${declared} bytes, the source has ${source.sizeBytes}`);
  return runPool(parts, opts.concurrency ?? DEFAULT_CONCURRENCY, opts.signal, async (p, signal) => {
    const start = (p.partNumber - 1) * partSize;
    const label = `part ${p.partNumber}`;
    const etag = await putWithRetry({ url: p.url, headers: {}, label }, source, start, start + p.sizeBytes, signal, opts);
    // In browsers the bucket's CORS rules must expose ETag, or every part looks like this.
    if (!etag)
      throw new TransferError(`${label} was stored but its response had no ETag header (browsers: expose ETag in the bucket's CORS rules)`);
    progress(p.sizeBytes);
    return { partNumber: p.partNumber, etag };
  });
}

function meter(totalBytes: number, onProgress?: (p: TransferProgress) => void) {
  let sentBytes = 0;
  onProgress?.({ sentBytes, totalBytes });
  return (n: number) => {
    sentBytes += n;
    onProgress?.({ sentBytes, totalBytes });
  };
}

/**
 * Runs `fn` over `items` with at most `limit` in flight. The first failure aborts the others'
 * PUTs and stops new ones; it resolves or throws only once nothing is in flight any more, so a
 * caller's abortUpload never races a part still landing.
 */
async function runPool<T, R>(
  items: T[],
  limit: number,
  outer: AbortSignal | undefined,
  fn: (item: T, signal: AbortSignal) => Promise<R>,
): Promise<R[]> {
  const ctl = new AbortController();
  const signal = outer ? AbortSignal.any([outer, ctl.signal]) : ctl.signal;
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (!failure && !signal.aborted && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, signal);
      } catch (err) {
        failure ??= { err };
        ctl.abort(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (outer?.aborted) throw outer.reason;
  if (failure) throw failure.err;
  return results;
}

interface Target {
  url: string;
  headers: Record<string, string>;
  label: string;
}

type Outcome = { ok: true; etag: string | null } | { ok: false; error: TransferError; retryable: boolean };

/** PUTs [start, end) and returns the ETag, retrying network errors and 5xx with backoff. */
async function putWithRetry(
  target: Target,
  source: ByteSource,
  start: number,
  end: number,
  signal: AbortSignal | undefined,
  opts: SendOptions,
): Promise<string | null> {
  const retries = opts.retries ?? DEFAULT_RETRIES;
  for (let attempt = 0; ; attempt++) {
    const outcome = await putOnce(target, source.read(start, end), end - start, signal);
    if (outcome.ok) return outcome.etag;
    if (signal?.aborted) throw signal.reason;
    if (!outcome.retryable || attempt >= retries) throw outcome.error;
    await sleep(backoffMs(attempt, { baseMs: 250, maxMs: 8_000 }), signal);
  }
}

async function putOnce(target: Target, body: PartBody, length: number, signal: AbortSignal | undefined): Promise<Outcome> {
  const streamed = !(body instanceof Blob || body instanceof Uint8Array);
  // A streamed body has no length of its own; S3 refuses chunked uploads, so declare it (Node only:
  // browsers only ever get Blobs and bytes here).
  const headers = streamed ? { ...target.headers, 'content-length': String(length) } : target.headers;
  let res: Response;
  try {
    res = await fetch(target.url, { method: 'PUT', headers, body: body as BodyInit, signal, ...(streamed ? { duplex: 'half' } : {}) });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    return { ok: false, error: new TransferError(`${target.label} failed: ${(err as Error).message}${causeOf(err)}`), retryable: true };
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    return {
      ok: false,
      error: new TransferError(`${target.label} answered ${res.status}: ${text.slice(0, 300)}`, res.status),
      retryable: res.status >= 500,
    };
  }
  await res.arrayBuffer().catch(() => {}); // drain, so the connection returns to the pool
  return { ok: true, etag: res.headers.get('etag') };
}

const causeOf = (err: unknown) => {
  const cause = (err as { cause?: { message?: string } }).cause?.message;
  return cause ? ` (${cause})` : '';
};

/** 250 ms, 500 ms, 1 s, ... with jitter, so parallel parts that failed together don't retry in lockstep. */

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
