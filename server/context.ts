import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import type { WebSocket } from 'ws';
import { authenticate } from './auth/authenticate.ts';
import type { Principal } from './auth/principal.ts';
import type { Deps } from './deps.ts';
import { toTRPCError } from './errors.ts';
import { checkBatchSize, clientIp, type RequestGuards } from './limits/index.ts';
import { type ReadBudget, requestReadBudget, socketReadBudget } from './limits/read-budget.ts';
import type { SocketRegistry } from './ws-sessions.ts';

/**
 * What procedures see. Tests build it directly and call `createCaller`. `socket` is the
 * WebSocket of a subscription call: subscriptions watch its unsent bytes to spot slow consumers.
 */
export function createContextInner(deps: Deps, principal: Principal, socket?: WebSocket) {
  return { deps, principal, socket };
}
/**
 * Only calls that came over the network carry `edge`: the client's address (behind
 * COFFER_TRUST_PROXY) and the app's limits. Without it (createCaller in tests) nothing is limited.
 */
export type Context = ReturnType<typeof createContextInner> & { edge?: Edge };

/** A network call's client address, the app's limits, and its caller's artifact.get budget. */
export interface Edge {
  ip: string;
  guards: RequestGuards;
  readBudget: ReadBudget;
}

/**
 * Reads the credential from the Authorization header, or from WebSocket connectionParams.token.
 * Errors here bypass the procedures' mapping, so they are mapped on the way out (a database
 * outage during authentication is a 503, an oversized batch a 413).
 */
export function contextFactory(deps: Deps, guards?: RequestGuards, sockets?: SocketRegistry) {
  return async ({ req, res, info }: CreateFastifyContextOptions): Promise<Context> => {
    try {
      if (guards) checkBatchSize(guards, info.calls.length);
      const header = req.headers.authorization;
      const bearer = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
      const fromWs = info.connectionParams?.token;
      const token = bearer ?? (typeof fromWs === 'string' ? fromWs : undefined);
      // With useWSS, `res` is the `ws` WebSocket (typed as a FastifyReply by the adapter).
      const socket = 'bufferedAmount' in res ? (res as unknown as WebSocket) : undefined;
      const principal = await authenticate({ ...deps, adminToken: deps.config.adminToken }, token);
      // A WebSocket authenticates once: it is tracked so that its key's revocation or expiry closes it.
      if (socket) sockets?.track(socket, principal);
      const ctx = createContextInner(deps, principal, socket);
      if (!guards) return ctx;
      const max = deps.config.limits.maxBatchReadBytes;
      const readBudget = socket ? socketReadBudget(max, socket) : requestReadBudget(max);
      return { ...ctx, edge: { ip: clientIp(req), guards, readBudget } };
    } catch (err) {
      throw toTRPCError(err);
    }
  };
}
