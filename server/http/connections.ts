import type { ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { TRPCError } from '@trpc/server';
import type { FastifyInstance } from 'fastify';
import type { GuardConfig } from '../config/index.ts';
import { rawTrpcErrorResponse } from './trpc-errors.ts';

/**
 * Node's own deadlines for a connection: its request head must be complete within
 * COFFER_IDLE_TIMEOUT_SECONDS of the connection opening (or of the previous response, for a
 * kept-alive one), however slowly it dribbles in. Passed to http.createServer through Fastify's
 * `http` option; what Node refuses is answered by answerClientError (a tRPC-shaped 408).
 */
export function connectionDeadlines(config: GuardConfig): ServerOptions {
  const idleMs = config.idleTimeoutSeconds * 1000;
  // Node checks its deadlines on this interval (30 s by default), so a deadline fires up to one
  // interval late.
  return { headersTimeout: idleMs, requestTimeout: 0, connectionsCheckingInterval: Math.min(idleMs / 2, 5_000) };
}

/**
 * A request body must arrive completely within COFFER_BODY_TIMEOUT_SECONDS of the request's
 * head: a body that never finishes would hold its connection forever (Node's requestTimeout is
 * off, since it would also cut slow responses and long WebSockets short). The body is read
 * through a stream that fails with a 408 at the deadline, which answerInTrpcShape sends in
 * tRPC's shape before closing the connection.
 */
export function bodyDeadline(scope: FastifyInstance, config: GuardConfig): void {
  const seconds = config.bodyTimeoutSeconds;
  scope.addHook('preParsing', async (req, _reply, payload) => {
    if (req.method === 'GET' || req.method === 'HEAD') return payload;
    const timed = new PassThrough();
    const timer = setTimeout(() => {
      payload.unpipe(timed);
      const message = `the request body did not arrive within ${seconds} s (COFFER_BODY_TIMEOUT_SECONDS)`;
      timed.destroy(Object.assign(new Error(message), { statusCode: 408 }));
    }, seconds * 1000);
    timed.once('end', () => clearTimeout(timer));
    timed.once('close', () => clearTimeout(timer));
    return payload.pipe(timed);
  });
}

/**
 * Caps the open TCP connections (WebSockets included) of one client address at
 * COFFER_MAX_CONNECTIONS_PER_ADDRESS: one address could otherwise exhaust the process's file
 * descriptors. Counted by the socket's peer address, so behind a proxy it counts the proxy's
 * connections. A refused connection is answered with a tRPC-shaped 429 and never reaches Node's
 * HTTP parser (the server's `connection` event is filtered before its listeners see it).
 */
export function capConnectionsPerAddress(app: FastifyInstance, config: GuardConfig): void {
  const max = config.maxConnectionsPerAddress;
  if (max === 0) return;
  const open = new Map<string, number>();
  const server = app.server;
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = (event: string | symbol, ...args: unknown[]): boolean => {
    if (event !== 'connection') return emit(event, ...args);
    const socket = args[0] as Socket;
    const address = socket.remoteAddress ?? 'unknown';
    const count = open.get(address) ?? 0;
    if (count >= max) {
      refuse(socket, max);
      return false;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
    return emit(event, ...args);
  };
}

function refuse(socket: Socket, max: number): void {
  const message = `there are already ${max} open connections from this address (COFFER_MAX_CONNECTIONS_PER_ADDRESS); close some first`;
  socket.on('error', () => {});
  // Read and drop what it sends, so closing does not reset the connection before it reads the answer.
  socket.resume();
  socket.end(rawTrpcErrorResponse(429, new TRPCError({ code: 'TOO_MANY_REQUESTS', message })));
  setTimeout(() => socket.destroy(), 5_000).unref();
}
