import { type TRPCClient, TRPCClientError } from '@trpc/client';
import type { AppRouter, RouterOutputs } from '../../server/routers/_app.ts';
import { backoffMs } from '../../shared/retry.ts';
import type { EventFilter } from '../../shared/schemas/event-stream.ts';
import type { CofferEvent } from '../../shared/schemas/events.ts';

// Browser-safe: no node: imports here.

export interface EventsOptions {
  signal?: AbortSignal;
  /** Events held for a consumer that reads slower than they arrive; past it, the stream re-reads from the server later. */
  maxBuffered?: number;
}

/** `events()`'s filter: the subscription's, plus where to resume. Without `lastEventId`, only events from now on. */
export type EventStreamFilter = EventFilter & { lastEventId?: string };

type Artifact = RouterOutputs['artifact']['getInfo'];

/** waitUntilReady's failure: the artifact failed (with the server's reason) or was deleted. */
export class ArtifactNotReadyError extends Error {
  readonly artifactId: string;
  readonly status: 'failed' | 'deleted';
  readonly reason: string;

  constructor(artifactId: string, status: 'failed' | 'deleted', reason: string) {
    super(`artifact ${artifactId} ${status}: ${reason}`);
    this.artifactId = artifactId;
    this.status = status;
    this.reason = reason;
    this.name = 'ArtifactNotReadyError';
  }
}

/**
 * Errors after which resubscribing from the last id can succeed: the socket or the server went
 * away (SERVICE_UNAVAILABLE, also on shutdown), or the server cut us off as too slow. Limits
 * such as RATE_LIMITED and bad input are the caller's to see.
 */
function isRetryable(err: unknown): boolean {
  if (!(err instanceof TRPCClientError)) return false;
  const data = err.data as { code?: string; cofferCode?: string | null } | undefined;
  return data?.code === undefined || data.code === 'SERVICE_UNAVAILABLE' || data.cofferCode === 'SLOW_CONSUMER';
}

const backoff = (attempt: number) => backoffMs(attempt, { baseMs: 250, maxMs: 10_000 });

/**
 * The caller's events as an async iterator that never skips or repeats one. wsLink already
 * resubscribes with the last id after a dropped socket; this adds the rest: a starting point
 * taken before subscribing (so a reconnect before the first event misses nothing), retries
 * after a server-side end (SERVICE_UNAVAILABLE on shutdown, SLOW_CONSUMER), and a bounded
 * buffer that falls back to re-reading the log rather than growing with a slow consumer.
 */
export async function* events(
  client: TRPCClient<AppRouter>,
  filter: EventStreamFilter = {},
  opts: EventsOptions = {},
): AsyncGenerator<CofferEvent, void, undefined> {
  const { signal, maxBuffered = 10_000 } = opts;
  let resumeFrom = filter.lastEventId ?? (await client.artifact.eventCursor.query(undefined, { signal })).lastEventId;
  let buffer: CofferEvent[] = [];
  let failure: unknown = null;
  let ended = false;
  let sub: { unsubscribe(): void } | null = null;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let attempt = 0;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };

  const start = (): void => {
    retry = undefined;
    // The server ends the stream only by error; a completion means the client was closed.
    sub = client.artifact.onEvent.subscribe(
      { ...filter, lastEventId: resumeFrom },
      {
        onData: ({ data }) => {
          attempt = 0;
          buffer.push(data);
          if (buffer.length > maxBuffered) stopListening();
          notify();
        },
        onError: (err) => {
          sub = null;
          if (isRetryable(err) && !signal?.aborted) retry = setTimeout(start, backoff(attempt++));
          else failure = err;
          notify();
        },
        onComplete: () => {
          ended = true;
          notify();
        },
      },
    );
  };
  // On overflow: stop and forget the buffer; `resumeFrom` stays at what the consumer has had,
  // and the loop resubscribes from there once the consumer has caught up.
  const stopListening = () => {
    sub?.unsubscribe();
    sub = null;
    buffer = [];
  };
  const onAbort = () => {
    ended = true;
    notify();
  };
  signal?.addEventListener('abort', onAbort);
  start();
  try {
    while (!ended && !signal?.aborted) {
      const e = buffer.shift();
      if (e) {
        resumeFrom = String(e.id);
        yield e;
        continue;
      }
      if (failure) throw failure;
      if (!sub && retry === undefined) start(); // after an overflow, once the consumer has caught up
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    clearTimeout(retry);
    stopListening();
    signal?.removeEventListener('abort', onAbort);
  }
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Rejects with a TimeoutError DOMException after this long. */
  timeoutMs?: number;
}

type Version = RouterOutputs['version']['get'];
export type ReadyArtifact = Artifact;
export type ReadyVersion = Version;
export type ReadyTarget = { artifactId: string } | { versionId: string };

/**
 * Resolves with the artifact (or version) once it is ready, or rejects with
 * ArtifactNotReadyError when it fails or is deleted. Race-free: the resume point is read
 * BEFORE the state and the subscription starts from it, so an event landing between the two
 * is backfilled and one that landed before shows in the state. It never waits for the past.
 */
export function waitUntilReady(client: TRPCClient<AppRouter>, target: { artifactId: string }, opts?: WaitOptions): Promise<Artifact>;
export function waitUntilReady(client: TRPCClient<AppRouter>, target: { versionId: string }, opts?: WaitOptions): Promise<Version>;
export function waitUntilReady(client: TRPCClient<AppRouter>, target: ReadyTarget, opts?: WaitOptions): Promise<Artifact | Version>;
export async function waitUntilReady(
  client: TRPCClient<AppRouter>,
  target: ReadyTarget,
  opts: WaitOptions = {},
): Promise<Artifact | Version> {
  const signals = [opts.signal, opts.timeoutMs === undefined ? undefined : AbortSignal.timeout(opts.timeoutMs)].filter(
    (s) => s !== undefined,
  );
  const signal = signals.length ? AbortSignal.any(signals) : undefined;
  try {
    return await waitFor(client, target, signal);
  } catch (err) {
    // An abort that lands inside a call comes out as that call's TRPCClientError: answer with
    // the abort's own reason (the TimeoutError promised above), wherever it landed.
    if (signal?.aborted && err instanceof TRPCClientError) throw signal.reason;
    throw err;
  }
}

async function waitFor(client: TRPCClient<AppRouter>, target: ReadyTarget, signal: AbortSignal | undefined): Promise<Artifact | Version> {
  const { lastEventId } = await client.artifact.eventCursor.query(undefined, { signal });
  const check =
    'artifactId' in target
      ? async () => settleArtifact(await client.artifact.getInfo.query({ id: target.artifactId }, { signal }))
      : async () => settleVersion(client, await client.version.get.query({ versionId: target.versionId }, { signal }), signal);
  const now = await check();
  if (now) return now;
  // Any event about the target may change its state: re-read it rather than trust the event alone.
  const filter = 'artifactId' in target ? { artifactId: target.artifactId } : { versionId: target.versionId };
  for await (const _event of events(client, { ...filter, types: [...STATE_EVENTS], lastEventId }, { signal })) {
    const ready = await check();
    if (ready) return ready;
  }
  signal?.throwIfAborted();
  throw new Error('event stream closed before the target was ready');
}

const STATE_EVENTS = ['artifact_uploaded', 'artifact_failed', 'artifact_deleted', 'version_ready'] as const;

function settleArtifact(a: Artifact): Artifact | null {
  if (a.status === 'ready') return a;
  if (a.status === 'failed' || a.status === 'deleted') throw new ArtifactNotReadyError(a.id, a.status, a.failureReason ?? a.status);
  return null;
}

/** A version is ready when its snapshot is; it has no reason of its own, so a failure reports the snapshot's. */
async function settleVersion(client: TRPCClient<AppRouter>, v: Version, signal?: AbortSignal): Promise<Version | null> {
  if (v.status === 'ready') return v;
  if (v.status === 'uploading') return null;
  if (v.status === 'no_snapshot') throw new ArtifactNotReadyError(v.id, 'failed', 'the version has no snapshot to wait for');
  const snapshot = v.snapshotArtifactId
    ? await client.artifact.getInfo.query({ id: v.snapshotArtifactId }, { signal }).catch(() => null)
    : null;
  throw new ArtifactNotReadyError(v.id, 'failed', snapshot?.failureReason ?? 'the snapshot upload failed');
}
