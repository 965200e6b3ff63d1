import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import type { ApiKeyScope } from '../shared/constants.ts';
import type { Deps } from './deps.ts';
import { authenticate } from './services/auth.ts';

export type Principal =
  | { kind: 'tenant'; tenantId: string; keyId: string; scopes: ApiKeyScope[] }
  | { kind: 'admin' }
  | { kind: 'anonymous'; reason?: string };

/** What procedures see. Tests build it directly and call `createCaller`. */
export function createContextInner(deps: Deps, principal: Principal) {
  return { deps, principal };
}
export type Context = ReturnType<typeof createContextInner>;

/** Reads the credential from the Authorization header, or from WebSocket connectionParams.token. */
export function contextFactory(deps: Deps) {
  return async ({ req, info }: CreateFastifyContextOptions): Promise<Context> => {
    const header = req.headers.authorization;
    const bearer = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const fromWs = info.connectionParams?.token;
    const token = bearer ?? (typeof fromWs === 'string' ? fromWs : undefined);
    return createContextInner(deps, await authenticate(deps, token));
  };
}
