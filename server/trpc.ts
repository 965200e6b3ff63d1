import { initTRPC, TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { ApiKeyScope } from '../shared/constants.ts';
import type { Context } from './context.ts';
import { CofferError, toTRPCError } from './errors.ts';
import { acquireSubscription, releasingIterable, takeIpToken, takeKeyToken } from './limits/index.ts';
import { requestDuration } from './metrics.ts';
import { tenantScope } from './tenant-scope.ts';
import { wireTransformer } from './ws-fanout.ts';

const t = initTRPC.context<Context>().create({
  // superjson, plus the tag that lets live events skip per-subscriber serialization (ws-fanout.ts).
  transformer: wireTransformer,
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
        /** On TOO_MANY_REQUESTS from a rate limit: the Retry-After, readable over WebSocket too. */
        retryAfterSeconds: cause instanceof CofferError ? (cause.retryAfterSeconds ?? null) : null,
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

/**
 * Per-key and per-address token buckets (server/limits: in memory, per instance). Runs before
 * input parsing. Tenant keys spend their own bucket; calls without a valid credential spend their
 * address's smaller one, which also slows key guessing (over WebSocket, server/http/ws-gate.ts
 * charges a message's calls to it up front). The admin token is the operator's and is not limited.
 */
const rateLimit = t.middleware(({ ctx, next }) => {
  const { edge, principal } = ctx;
  if (edge && principal.kind === 'tenant') takeKeyToken(edge.guards, principal.keyId);
  if (edge && principal.kind === 'anonymous' && !ctx.socket) takeIpToken(edge.guards, edge.ip);
  return next();
});

/**
 * Caps a key's concurrent subscriptions (COFFER_MAX_SUBSCRIPTIONS_PER_KEY). Lives here rather than
 * in server/events so that every subscription, over WebSocket or SSE, is counted: the slot is
 * released when the stream ends, fails, is closed by the consumer or its request aborts.
 */
const capSubscriptions = t.middleware(async ({ ctx, type, signal, next }) => {
  const { edge, principal } = ctx;
  if (type !== 'subscription' || !edge || principal.kind !== 'tenant') return next();
  const release = acquireSubscription(edge.guards, principal.keyId);
  signal?.addEventListener('abort', release, { once: true });
  try {
    const result = await next();
    if (!result.ok || !isAsyncIterable(result.data)) {
      release();
      return result;
    }
    return { ...result, data: releasingIterable(result.data, release) };
  } catch (err) {
    release();
    throw err;
  }
});

const isAsyncIterable = (v: unknown): v is AsyncIterable<unknown> =>
  v != null && typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';

/** Request duration by procedure and outcome (subscriptions last as long as they are open: not timed). */
const measure = t.middleware(async ({ path, type, next }) => {
  if (type === 'subscription') return next();
  const end = requestDuration.startTimer({ procedure: path });
  const result = await next();
  end({ outcome: result.ok ? 'ok' : result.error.code });
  return result;
});

export const publicProcedure = t.procedure.use(measure).use(mapErrors).use(rateLimit).use(capSubscriptions);

const requireTenant = t.middleware(({ ctx, next }) => {
  const p = ctx.principal;
  if (p.kind !== 'tenant') {
    throw new TRPCError({
      code: 'UNAUTHORIZED',
      message:
        p.kind === 'admin' ? 'use an API key, not the admin token' : (p.reason ?? 'missing API key: send Authorization: Bearer <key>'),
    });
  }
  return next({ ctx: { tenant: tenantScope(ctx.deps.db, p) } });
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

/** Manages the caller's own tenant's API keys: needs a key with the `admin` scope. */
export const keyAdminProcedure = publicProcedure.use(requireTenant).use(requireScope('admin'));

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
