import { getErrorShape, type TRPCError } from '@trpc/server';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { contextFactory } from '../context.ts';
import type { Deps } from '../deps.ts';
import { CofferError, toTRPCError } from '../errors.ts';
import type { RequestGuards } from '../limits/index.ts';
import { appRouter } from '../routers/_app.ts';
import { createCallerFactory } from '../trpc.ts';
import { inputJsonSchema, openApiDocument } from './openapi.ts';
import { REST_ROUTES, type RestRoute } from './rest-routes.ts';

const createCaller = createCallerFactory(appRouter);
type Call = (input?: unknown) => Promise<unknown>;

/** The JSON error body: tRPC's code and message (our errorFormatter's), plus Coffer's own code. */
function sendError(reply: FastifyReply, error: TRPCError): FastifyReply {
  const config = appRouter._def._config;
  const shape = getErrorShape({ config, error, type: 'unknown', path: undefined, input: undefined, ctx: undefined });
  const retryAfter = error.cause instanceof CofferError ? error.cause.retryAfterSeconds : undefined;
  if (retryAfter) reply.header('retry-after', String(retryAfter));
  const { code, cofferCode, zodError } = shape.data;
  return reply.code(getHTTPStatusCodeFromError(error)).send({ code, message: shape.message, cofferCode, zodError });
}

/** Query strings are strings: numbers and booleans are converted where the input schema wants them. */
function coerceQuery(procedure: string, query: Record<string, string>): Record<string, unknown> {
  const props = (inputJsonSchema(procedure)?.properties ?? {}) as Record<string, { type?: string }>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(query)) {
    const type = props[k]?.type;
    out[k] =
      (type === 'integer' || type === 'number') && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : type === 'boolean' ? v === 'true' : v;
  }
  return out;
}

/** REST under /api/v1 (register with that prefix): every route calls its tRPC procedure. */
export function restApi(deps: Deps, guards: RequestGuards) {
  const makeContext = contextFactory(deps, guards);
  const document = openApiDocument();
  return async (scope: FastifyInstance) => {
    scope.setErrorHandler((err: FastifyError, req, reply) => {
      const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status >= 500) req.log.error({ err }, 'REST request failed');
      const code =
        status === 413
          ? 'PAYLOAD_TOO_LARGE'
          : status === 415
            ? 'UNSUPPORTED_MEDIA_TYPE'
            : status < 500
              ? 'BAD_REQUEST'
              : 'INTERNAL_SERVER_ERROR';
      return reply.code(status).send({ code, message: status < 500 ? err.message : 'Internal error', cofferCode: null });
    });
    scope.setNotFoundHandler((req, reply) =>
      reply.code(404).send({
        code: 'NOT_FOUND',
        message: `no REST route ${req.method} ${req.url.split('?')[0]}; see /api/v1/openapi.json`,
        cofferCode: null,
      }),
    );
    scope.get('/openapi.json', async () => document);
    for (const route of REST_ROUTES)
      scope.route({ method: route.method, url: route.path, handler: (req, reply) => handle(route, req, reply) });
  };

  async function handle(route: RestRoute, req: FastifyRequest, reply: FastifyReply) {
    const params = req.params as Record<string, string>;
    const raw = route.procedure === 'artifact.get' && (req.query as Record<string, string>).raw === '1';
    const procedure = raw ? 'artifact.getDownloadUrl' : route.procedure;
    const fromRequest =
      route.method === 'GET' || route.method === 'DELETE'
        ? coerceQuery(procedure, req.query as Record<string, string>)
        : ((req.body ?? {}) as Record<string, unknown>);
    if (raw) delete fromRequest.raw;
    const input = { ...fromRequest, ...params };
    try {
      const info = { calls: [{ path: procedure }], connectionParams: null } as unknown as CreateFastifyContextOptions['info'];
      const ctx = await makeContext({ req, res: reply, info });
      const [router, name] = procedure.split('.') as [string, string];
      const caller = createCaller(ctx) as unknown as Record<string, Record<string, Call>>;
      const call = caller[router]?.[name] as Call;
      const result = await (procedure === 'storage.health' ? call() : call(input));
      if (raw) return reply.redirect((result as { url: string }).url, 302);
      return reply.send(result);
    } catch (err) {
      const error = toTRPCError(err);
      if (error.code === 'INTERNAL_SERVER_ERROR') req.log.error({ err: error.cause ?? error, path: procedure }, 'internal error');
      return sendError(reply, error);
    }
  }
}
