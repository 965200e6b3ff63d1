import { createTRPCClient, createWSClient, splitLink, type TRPCClient, TRPCClientError, wsLink } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter } from '../../server/routers/_app.ts';
import { DEFAULT_MAX_BATCH_SIZE } from '../../shared/constants.ts';
import type { CofferErrorCode } from '../../shared/errors.ts';
import { deserializeWire } from '../../shared/wire-codec.ts';
import type { FlatZodError } from '../../shared/zod-issues.ts';
import {
  type EventStreamFilter,
  type EventsOptions,
  events,
  type ReadyArtifact,
  type ReadyTarget,
  type ReadyVersion,
  type WaitOptions,
  waitUntilReady,
} from './events.ts';
import { gatheringHttpLink } from './http-link.ts';
import { cofferRetryLink } from './retry-link.ts';
import { localStorageResume, portableDigests, prepareBytes, type UploadFn, uploadWith } from './upload.ts';

export { COFFER_ERROR_CODES, type CofferErrorCode } from '../../shared/errors.ts';
export {
  ArtifactNotReadyError,
  type EventStreamFilter,
  type EventsOptions,
  type ReadyArtifact,
  type ReadyTarget,
  type ReadyVersion,
  type WaitOptions,
} from './events.ts';
export {
  DEFAULT_OFFLOAD_THRESHOLD,
  isOffloaded,
  jsonBytes,
  type Metadata,
  type OffloadOptions,
  offloadMetadata,
  resolveMetadata,
} from './offload.ts';
export { cofferRetryLink, type RetryOptions } from './retry-link.ts';
export { type ByteSource, type Digests, type SendOptions, sendParts, TransferError, type TransferProgress } from './transfer.ts';
export {
  localStorageResume,
  type PreparedSource,
  portableDigests,
  prepareBytes,
  type ResumeOptions,
  type ResumeRecord,
  type ResumeStore,
  type UploadFn,
  type UploadOptions,
  type UploadPlatform,
  uploadWith,
  type VersionUploadOptions,
} from './upload.ts';
// The published package's types come from wire.ts (the router without its server context).
export type {
  AppRouter,
  Artifact,
  CofferEvent,
  CofferEventType,
  EventFilter,
  RouterInputs,
  RouterOutputs,
  UploadPlan,
  Version,
} from './wire.ts';

export interface CofferClientOptions {
  /** Base URL of the Coffer server, e.g. http://127.0.0.1:3000 */
  url: string;
  /** An API key (`cof_...`) or the admin token. */
  token: string;
  /** Defaults to the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** A WebSocket implementation; browsers have one, Node 20 needs `ws`. Without one, subscriptions are unavailable. */
  WebSocket?: typeof globalThis.WebSocket;
}

export type CofferClient = TRPCClient<AppRouter> & {
  /** Closes the WebSocket, if one was opened. */
  close(): Promise<void>;
  /**
   * Uploads a Blob or bytes straight to storage and returns the ready artifact, or with
   * `{ version }` creates a project version with them as its snapshot. Paths and streams: node.ts.
   */
  upload: UploadFn<Blob | Uint8Array>;
  /** The tenant's events as an async iterator; resumes after reconnects without gaps or repeats. */
  events(filter?: EventStreamFilter, opts?: EventsOptions): ReturnType<typeof events>;
  /** Resolves with the artifact once ready (at once if it already is); rejects with ArtifactNotReadyError on failure. */
  waitUntilReady(target: { artifactId: string }, opts?: WaitOptions): Promise<ReadyArtifact>;
  waitUntilReady(target: { versionId: string }, opts?: WaitOptions): Promise<ReadyVersion>;
};

/** superjson, as the server speaks it; answers are read by the faster half of shared/wire-codec.ts. */
const transformer = { serialize: superjson.serialize, deserialize: deserializeWire };

/** Subscriptions go over a lazily opened WebSocket; everything else over batched HTTP. */
export function createCofferClient(opts: CofferClientOptions): CofferClient {
  const base = opts.url.replace(/\/+$/, '');
  const WebSocketImpl = opts.WebSocket ?? globalThis.WebSocket;
  const wsClient = WebSocketImpl
    ? createWSClient({
        url: `${base.replace(/^http/, 'ws')}/trpc`,
        WebSocket: WebSocketImpl,
        lazy: { enabled: true, closeMs: 10_000 },
        connectionParams: () => ({ token: opts.token }),
      })
    : undefined;
  const http = gatheringHttpLink({
    url: `${base}/trpc`,
    transformer,
    fetch: opts.fetch,
    headers: () => ({ authorization: `Bearer ${opts.token}` }),
    // The server refuses bigger batches (COFFER_MAX_BATCH_SIZE); long GET URLs are split instead of refused.
    maxItems: DEFAULT_MAX_BATCH_SIZE,
    maxURLLength: 8_000,
  });
  const client = createTRPCClient<AppRouter>({
    links: [
      cofferRetryLink(),
      wsClient
        ? splitLink({
            condition: (op) => op.type === 'subscription',
            true: wsLink({ client: wsClient, transformer }),
            false: http,
          })
        : http,
    ],
  });
  const helpers = {
    close: async () => wsClient?.close(),
    upload: uploadWith(client, prepareBytes, { digests: portableDigests, resumeStore: localStorageResume, scope: base }),
    events: (filter?: EventStreamFilter, o?: EventsOptions) => events(client, filter, o),
    waitUntilReady: (target: ReadyTarget, o?: WaitOptions) => waitUntilReady(client, target, o),
  };
  // The tRPC client is a proxy that treats every property as a procedure path, so helpers are
  // layered on with a second proxy instead of being assigned onto it.
  return new Proxy(helpers, {
    get: (target, prop) => (prop in target ? target[prop as keyof typeof target] : (client as never)[prop]),
  }) as unknown as CofferClient;
}

export interface CofferErrorShape {
  code: string;
  cofferCode: CofferErrorCode | null;
  httpStatus: number;
  /** On BAD_REQUEST from input validation: z.flattenError of the zod issues. */
  zodError: FlatZodError | null;
  /** On TOO_MANY_REQUESTS: seconds until a retry can succeed. */
  retryAfterSeconds: number | null;
}

/** True for errors the Coffer server answered with; `e.data` then has the tRPC and Coffer codes. */
export function isCofferError(e: unknown): e is TRPCClientError<AppRouter> & { data: CofferErrorShape } {
  return e instanceof TRPCClientError && e.data != null && typeof e.data.code === 'string';
}
