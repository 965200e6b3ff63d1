import http from 'node:http';
import type { Duplex } from 'node:stream';
import { getErrorShape, TRPCError, transformTRPCResponse } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { CofferError } from '../errors.ts';
import { appRouter } from '../routers/_app.ts';

type Code = TRPCError['code'];
const CODE_BY_STATUS: Record<number, Code> = {
  404: 'NOT_FOUND',
  408: 'TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'TOO_MANY_REQUESTS',
};

/**
 * `error` as tRPC would send it (our errorFormatter included), so the typed client can read it.
 * `httpStatus` replaces the one tRPC derives from the code, for statuses it has no code for (431).
 */
export function trpcErrorBody(error: TRPCError, httpStatus?: number) {
  const config = appRouter._def._config;
  const shape = getErrorShape({ config, error, type: 'unknown', path: undefined, input: undefined, ctx: undefined });
  if (httpStatus) shape.data.httpStatus = httpStatus;
  return transformTRPCResponse(config, { error: shape });
}

/** Sends `error` exactly as tRPC would, so the typed client can read it. */
export function sendTrpcError(reply: FastifyReply, error: TRPCError): FastifyReply {
  const retryAfter = error.cause instanceof CofferError ? error.cause.retryAfterSeconds : undefined;
  if (retryAfter) reply.header('retry-after', String(retryAfter));
  return reply.code(getHTTPStatusCodeFromError(error)).send(trpcErrorBody(error));
}

/**
 * A whole HTTP response carrying `error` in tRPC's shape, for answers written straight to a
 * socket before any request object exists (a refused connection, a request head Node refused).
 */
export function rawTrpcErrorResponse(status: number, error: TRPCError): string {
  const body = JSON.stringify(trpcErrorBody(error, status));
  return [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Fastify's clientErrorHandler: what Node's HTTP parser refuses before Fastify sees a request.
 * A head over Node's limit (a query whose input makes the URL too long) gets a tRPC-shaped 431
 * the client can read, instead of Fastify's own JSON ("Unable to transform response").
 */
export function answerClientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  this.log.debug({ err }, 'client error');
  const [status, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, `the request's URL and headers exceed ${http.maxHeaderSize} bytes; send less input per query`]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request head did not arrive in time']
        : [400, 'malformed HTTP request'];
  const code = status === 408 ? 'TIMEOUT' : 'BAD_REQUEST';
  if (socket.writable) socket.write(rawTrpcErrorResponse(status, new TRPCError({ code, message })));
  socket.destroy();
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
    // The rest of a body that came too slowly is not worth waiting for.
    if (status === 408) reply.header('connection', 'close');
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
