import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { z } from 'zod';
import type { ApiKeyScope } from '../shared/constants.ts';
import type { Context } from './context.ts';
import { CofferError, toTRPCError } from './errors.ts';
import { withTenant, type Tx } from './db/index.ts';

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    return {
      ...shape,
      data: {
        ...shape.data,
        // Stack traces stay on the server.
        stack: undefined,
        cofferCode: cause instanceof CofferError ? cause.code : null,
        zodError: cause instanceof z.ZodError ? z.flattenError(cause) : null,
      },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/**
 * Lower layers throw CofferError; tRPC wraps anything that is not a TRPCError as an
 * INTERNAL_SERVER_ERROR with the original as cause. This unwraps and maps it, in one place.
 */
const mapErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.code === 'INTERNAL_SERVER_ERROR') throw toTRPCError(result.error.cause ?? result.error);
  return result;
});

export const publicProcedure = t.procedure.use(mapErrors);

const requireTenant = t.middleware(({ ctx, next }) => {
  const p = ctx.principal;
  if (p.kind !== 'tenant') {
    throw new TRPCError({ code: 'UNAUTHORIZED', message: p.kind === 'admin' ? 'use an API key, not the admin token' : (p.reason ?? 'missing API key: send Authorization: Bearer <key>') });
  }
  const { db } = ctx.deps;
  return next({
    ctx: {
      tenant: {
        id: p.tenantId,
        keyId: p.keyId,
        /** Runs work in a transaction bound to this tenant. The only way procedures reach tenant data. */
        run: <T>(fn: (tx: Tx) => Promise<T>) => withTenant(db, p.tenantId, fn),
      },
    },
  });
});

const requireScope = (scope: ApiKeyScope) =>
  t.middleware(({ ctx, next }) => {
    const p = ctx.principal;
    if (p.kind === 'tenant' && !p.scopes.includes(scope)) {
      throw new TRPCError({ code: 'FORBIDDEN', message: `this API key lacks the '${scope}' scope` });
    }
    return next();
  });

/** Reads a tenant's data: needs a key with the `read` scope. */
export const readProcedure = publicProcedure.use(requireTenant).use(requireScope('read'));
/** Changes a tenant's data: needs a key with the `write` scope. */
export const writeProcedure = publicProcedure.use(requireTenant).use(requireScope('write'));

/** Any valid credential: a tenant key or the admin token (operators read health with the latter). */
export const authedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (ctx.principal.kind === 'anonymous') {
    throw new TRPCError({ code: 'UNAUTHORIZED', message: ctx.principal.reason ?? 'missing credential: send Authorization: Bearer <key>' });
  }
  return next();
});

export const adminProcedure = publicProcedure.use(({ ctx, next }) => {
  if (ctx.principal.kind !== 'admin') throw new TRPCError({ code: 'UNAUTHORIZED', message: 'admin token required' });
  return next();
});

export type TenantScope = { id: string; keyId: string; run: <T>(fn: (tx: Tx) => Promise<T>) => Promise<T> };
