import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  splitLink,
  TRPCClientError,
  wsLink,
  type TRPCClient,
} from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter } from '../../server/routers/_app.ts';
import type { CofferErrorCode } from '../../shared/errors.ts';

export type { AppRouter, RouterInputs, RouterOutputs } from '../../server/routers/_app.ts';

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
};

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
  const http = httpBatchLink({
    url: `${base}/trpc`,
    transformer: superjson,
    fetch: opts.fetch,
    headers: () => ({ authorization: `Bearer ${opts.token}` }),
  });
  const client = createTRPCClient<AppRouter>({
    links: [
      wsClient
        ? splitLink({ condition: (op) => op.type === 'subscription', true: wsLink({ client: wsClient, transformer: superjson }), false: http })
        : http,
    ],
  });
  const helpers = { close: async () => wsClient?.close() };
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
}

/** True for errors the Coffer server answered with; `e.data` then has the tRPC and Coffer codes. */
export function isCofferError(e: unknown): e is TRPCClientError<AppRouter> & { data: CofferErrorShape } {
  return e instanceof TRPCClientError && e.data != null && typeof e.data.code === 'string';
}
