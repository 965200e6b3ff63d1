import { getErrorShape, TRPCError, transformTRPCResponse } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { CofferError } from '../errors.ts';
import { appRouter } from '../routers/_app.ts';

type Code = TRPCError['code'];
const CODE_BY_STATUS: Record<number, Code> = {
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'TOO_MANY_REQUESTS',
};

/** Sends `error` exactly as tRPC would (our errorFormatter included), so the typed client can read it. */
export function sendTrpcError(reply: FastifyReply, error: TRPCError): FastifyReply {
  const config = appRouter._def._config;
  const shape = getErrorShape({ config, error, type: 'unknown', path: undefined, input: undefined, ctx: undefined });
  const retryAfter = error.cause instanceof CofferError ? error.cause.retryAfterSeconds : undefined;
  if (retryAfter) reply.header('retry-after', String(retryAfter));
  return reply.code(getHTTPStatusCodeFromError(error)).send(transformTRPCResponse(config, { error: shape }));
}

/**
 * Errors Fastify raises before tRPC runs (a body over bodyLimit, an unsupported content type,
 * malformed JSON framing) would otherwise reach the client as Fastify's own JSON, which the tRPC
 * client cannot read ("Unable to transform response"). Here they get tRPC's shape and code.
 */
export function answerInTrpcShape(scope: FastifyInstance, bodyLimit: number): void {
  scope.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err }, 'request failed before tRPC');
    const code = CODE_BY_STATUS[status] ?? (status < 500 ? 'BAD_REQUEST' : 'INTERNAL_SERVER_ERROR');
    const message =
      status === 413
        ? `request body exceeds the limit of ${bodyLimit} bytes (2 × COFFER_MAX_INLINE_BYTES + 1 MiB); use artifact.createUpload for large data`
        : status < 500
          ? err.message
          : 'Internal error';
    return sendTrpcError(reply, new TRPCError({ code, message }));
  });
  // Coffer's procedures take JSON only; the tRPC adapter would also stream multipart bodies
  // into memory without Fastify's bodyLimit.
  scope.addHook('onRequest', async (req) => {
    const type = req.headers['content-type'];
    if (req.method === 'GET' || req.method === 'HEAD' || type === undefined || /^application\/json\s*(;|$)/i.test(type)) return;
    throw Object.assign(new Error(`content type '${type.slice(0, 100)}' is not supported: send application/json`), { statusCode: 415 });
  });
}
