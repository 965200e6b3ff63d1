import type { TRPCClient } from '@trpc/client';
import { backoffMs } from '../../shared/retry.ts';
import type { AppRouter } from './wire.ts';

/** Runtime-safe in browsers: no Node imports here. Node-only sources live in node-source.ts. */

export interface TransferProgress {
  /** Bytes stored: parts the bucket acknowledged, and parts a resumed upload had already sent. */
  sentBytes: number;
  totalBytes: number;
}

export interface SendOptions {
  onProgress?: (p: TransferProgress) => void;
  /** Aborts in-flight PUTs. */
  signal?: AbortSignal;
  /** Part PUTs in flight at once (default 4). */
  concurrency?: number;
  /** Further attempts per PUT after a network error or a 5xx (default 3). */
  retries?: number;
}

/** Bytes an upload reads from, part by part, so a large file is never held whole. */
export interface ByteSource {
  sizeBytes: number;
  /** Bytes [start, end), read fresh; each part is read once, then hashed and sent from memory. */
  read(start: number, end: number): Promise<Uint8Array>;
}

/** The digests an upload needs. Browsers use @noble/hashes; Node passes node:crypto's (~10× faster). */
export interface Digests {
  /** Content-MD5: base64 of the MD5 digest. */
  md5(bytes: Uint8Array): string;
  /** An incremental sha256 whose digest is lowercase hex. */
  sha256(): { update(bytes: Uint8Array): void; digest(): string };
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

export interface PartPlan {
  partSize: number;
  partCount: number;
}

type Trpc = TRPCClient<AppRouter>;

/**
 * Sends an upload's parts: reads them in order (one reader, so the whole-source sha256 is one
 * ordered pass, computed on the very bytes that are sent), and for each part not yet stored
 * signs it with its MD5 just before sending it, then PUTs it with retries. Parts listed in
 * `stored` (a resumed upload) are read for the hash but not sent again. Returns the sha256.
 */
export async function sendParts(
  trpc: Trpc,
  upload: { id: string; plan: PartPlan; stored?: ReadonlySet<number> },
  source: ByteSource,
  digests: Digests,
  opts: SendOptions = {},
): Promise<string> {
  const { plan } = upload;
  const expected = plan.partCount === 0 ? 0 : plan.partSize * (plan.partCount - 1);
  if (source.sizeBytes < expected || (source.sizeBytes > expected + plan.partSize && plan.partCount > 0)) {
    throw new TransferError(
      `the upload expects ${plan.partCount} parts of ${plan.partSize} bytes, the source has ${source.sizeBytes} bytes`,
    );
  }
  const progress = meter(source.sizeBytes, opts.onProgress);
  const hash = digests.sha256();
  const ctl = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, ctl.signal]) : ctl.signal;
  const queue = new BoundedQueue<Part>(opts.concurrency ?? DEFAULT_CONCURRENCY);
  const send = async () => {
    for (let part = await queue.take(); part; part = await queue.take()) {
      await sendPart(trpc, upload.id, part, signal, opts);
      progress(part.bytes.length);
    }
  };
  const read = async () => {
    try {
      for (let n = 1; n <= plan.partCount; n++) {
        signal.throwIfAborted();
        const start = (n - 1) * plan.partSize;
        const bytes = await source.read(start, Math.min(start + plan.partSize, source.sizeBytes));
        hash.update(bytes);
        if (upload.stored?.has(n)) progress(bytes.length);
        else await queue.put(prepared(trpc, upload.id, n, bytes, digests, signal), signal);
      }
    } finally {
      queue.close();
    }
  };
  const workers = Array.from({ length: opts.concurrency ?? DEFAULT_CONCURRENCY }, send);
  // The first failure stops the reader and the other senders; all settle before this returns,
  // so nothing is still being sent when the caller completes or aborts the upload.
  const stopOthers = (err: unknown) => {
    ctl.abort(err);
    throw err;
  };
  const results = await Promise.allSettled([read(), ...workers].map((p) => p.catch(stopOthers)));
  if (opts.signal?.aborted) throw opts.signal.reason;
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return hash.digest();
}

function meter(totalBytes: number, onProgress?: (p: TransferProgress) => void) {
  let sentBytes = 0;
  onProgress?.({ sentBytes, totalBytes });
  return (n: number) => {
    sentBytes += n;
    onProgress?.({ sentBytes, totalBytes });
  };
}

/** A part read and queued for sending, its URL already being signed while it waits for a sender. */
interface Part {
  partNumber: number;
  bytes: Uint8Array;
  md5: string;
  sign(): Promise<{ url: string; headers: Record<string, string> }>;
  signed: Promise<{ url: string; headers: Record<string, string> }>;
}

/** Signs as soon as the part is read (tRPC batches the calls of parts signed together), so a free sender never waits for a URL. */
function prepared(trpc: Trpc, id: string, partNumber: number, bytes: Uint8Array, digests: Digests, signal: AbortSignal): Part {
  const md5 = digests.md5(bytes);
  const sign = async () => (await trpc.artifact.signParts.mutate({ id, parts: [{ partNumber, md5 }] }, { signal })).parts[0]!;
  const signed = sign();
  signed.catch(() => {}); // awaited by the sender; an unobserved rejection would crash Node
  return { partNumber, bytes, md5, sign, signed };
}

/** PUTs one part, retrying network errors and 5xx. */
async function sendPart(trpc: Trpc, id: string, part: Part, signal: AbortSignal, opts: SendOptions): Promise<void> {
  const { md5 } = part;
  const label = `part ${part.partNumber}`;
  const retries = opts.retries ?? DEFAULT_RETRIES;
  let signed = await part.signed;
  for (let attempt = 0; ; attempt++) {
    const outcome = await putOnce(signed.url, signed.headers, part.bytes, label, signal);
    if (outcome.ok) return;
    if (signal.aborted) throw signal.reason;
    // 412: the part exists. After a lost response to our own PUT that is success; anything else is not ours to overwrite.
    if (outcome.error.status === 412 && (await alreadyStored(trpc, id, part.partNumber, md5, signal))) return;
    // 403: the URL expired while the part waited (a long outage): a fresh one is worth one more try.
    const expired = outcome.error.status === 403;
    if ((!outcome.retryable && !expired) || attempt >= retries) throw outcome.error;
    await sleep(backoffMs(attempt, { baseMs: 250, maxMs: 8_000 }), signal);
    if (expired) signed = await part.sign();
  }
}

async function alreadyStored(trpc: Trpc, id: string, partNumber: number, md5: string, signal: AbortSignal): Promise<boolean> {
  const state = await trpc.artifact.getUpload.query({ id }, { signal });
  const stored = state.parts.find((p) => p.partNumber === partNumber);
  return stored !== undefined && stored.etag.replace(/"/g, '') === base64ToHex(md5);
}

type Outcome = { ok: true } | { ok: false; error: TransferError; retryable: boolean };

async function putOnce(
  url: string,
  headers: Record<string, string>,
  body: Uint8Array,
  label: string,
  signal: AbortSignal,
): Promise<Outcome> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'PUT', headers, body: body as BodyInit, signal });
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    return { ok: false, error: new TransferError(`${label} failed: ${(err as Error).message}${causeOf(err)}`), retryable: true };
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    return {
      ok: false,
      error: new TransferError(`${label} answered ${res.status}: ${text.slice(0, 300)}`, res.status),
      retryable: res.status >= 500,
    };
  }
  await res.arrayBuffer().catch(() => {}); // drain, so the connection returns to the pool
  return { ok: true };
}

const causeOf = (err: unknown) => {
  const cause = (err as { cause?: { message?: string } }).cause?.message;
  return cause ? ` (${cause})` : '';
};

function base64ToHex(b64: string): string {
  const bin = atob(b64);
  let hex = '';
  for (let i = 0; i < bin.length; i++) hex += bin.charCodeAt(i).toString(16).padStart(2, '0');
  return hex;
}

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

/** A queue of at most `max` items between one reader and several senders: the reader waits when it is full. */
class BoundedQueue<T> {
  private items: T[] = [];
  private closed = false;
  private takers: Array<(item: T | undefined) => void> = [];
  private putters: Array<() => void> = [];

  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  async put(item: T, signal: AbortSignal): Promise<void> {
    while (this.items.length >= this.max && this.takers.length === 0) {
      await new Promise<void>((resolve, reject) => {
        this.putters.push(resolve);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    const taker = this.takers.shift();
    if (taker) taker(item);
    else this.items.push(item);
  }

  take(): Promise<T | undefined> {
    const item = this.items.shift();
    this.putters.shift()?.();
    if (item !== undefined) return Promise.resolve(item);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.takers.push(resolve));
  }

  close(): void {
    this.closed = true;
    for (const t of this.takers.splice(0)) t(undefined);
  }
}
