import websocket from '@fastify/websocket';
import { type FastifyTRPCPluginOptions, fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import { getWSConnectionHandler, type WSSHandlerOptions } from '@trpc/server/adapters/ws';
import Fastify, { type FastifyInstance } from 'fastify';
import { safeEqual } from './auth/key-format.ts';
import { contextFactory } from './context.ts';
import type { Deps } from './deps.ts';
import { CofferError, toTRPCError } from './errors.ts';
import { bodyDeadline, capConnectionsPerAddress, connectionDeadlines } from './http/connections.ts';
import { registerConsole } from './http/console.ts';
import { registerFsRoutes } from './http/fs-routes.ts';
import { restApi } from './http/rest.ts';
import { answerClientError, answerInTrpcShape } from './http/trpc-errors.ts';
import { gatedContext, gateSocket } from './http/ws-gate.ts';
import { clientIp, createRequestGuards, recordClientIps, takeIpToken } from './limits/index.ts';
import { loggerOptions, redactUrl } from './logger.ts';
import { registryFor } from './metrics.ts';
import { type AppRouter, appRouter } from './routers/_app.ts';
import { checkHealth } from './services/health.ts';
import { closeUploadVerifier } from './services/uploads.ts';
import { FsStorage } from './storage/fs.ts';
import { wireEncoder } from './ws-fanout.ts';
import { createSocketRegistry } from './ws-sessions.ts';

export interface AppOptions {
  /** false in tests that want quiet output. */
  logger?: boolean;
  /** Where log lines go instead of stdout: tests read them back to check redaction. */
  logStream?: NodeJS.WritableStream;
}

/** Builds the HTTP + WebSocket app without listening: main.ts listens, tests use port 0. */
export async function buildApp(deps: Deps, opts: AppOptions = {}): Promise<FastifyInstance> {
  // JSON payloads are checked against maxInlineBytes by the service, which names the limit;
  // leave room for superjson's envelope and JSON escaping so that check is the one that answers.
  const bodyLimit = deps.config.limits.maxInlineBytes * 2 + 1024 * 1024;
  const app = Fastify({
    logger: opts.logger === false ? false : loggerOptions(deps.config.logLevel, opts.logStream),
    bodyLimit,
    trustProxy: deps.config.guards.trustProxy,
    // The tRPC route is `/trpc/:path`, and a batch's path lists every procedure ("a.b,c.d,...").
    routerOptions: { maxParamLength: deps.config.guards.maxBatchSize * 64 },
    forceCloseConnections: 'idle',
    clientErrorHandler: answerClientError,
    http: connectionDeadlines(deps.config.guards),
    keepAliveTimeout: deps.config.guards.idleTimeoutSeconds * 1000,
  });
  capConnectionsPerAddress(app, deps.config.guards);
  const guards = createRequestGuards(deps.config.guards);
  const sockets = createSocketRegistry(deps);
  app.addHook('onClose', async () => sockets.close());
  recordClientIps(app);

  await app.register(websocket, { options: { maxPayload: deps.config.guards.wsMaxMessageBytes } });
  await app.register(async (scope) => {
    answerInTrpcShape(scope, bodyLimit);
    bodyDeadline(scope, deps.config.guards);
    const trpcOptions = {
      router: appRouter,
      createContext: contextFactory(deps, guards, sockets),
      // Bodies Fastify does not parse itself would otherwise be unbounded.
      maxBodySize: bodyLimit,
      keepAlive: { enabled: true, pingMs: 30_000, pongWaitMs: 5_000 },
      // tRPC's JSON encoding, which also lets live events learn their subscription's framing (ws-fanout.ts).
      experimental_encoder: wireEncoder,
      onError({ error, path }) {
        if (error.code === 'INTERNAL_SERVER_ERROR') app.log.error({ err: error.cause ?? error, path }, 'internal error');
      },
      responseMeta: ({ errors }) => retryAfterHeader(errors),
    } satisfies FastifyTRPCPluginOptions<AppRouter>['trpcOptions'];
    await scope.register(fastifyTRPCPlugin, { prefix: '/trpc', trpcOptions } satisfies FastifyTRPCPluginOptions<AppRouter>);
    // The WebSocket route the plugin would add with useWSS, with server/http/ws-gate.ts in front.
    // Typed for HTTP, the options take the raw request and the socket as the plugin's own WebSocket route hands them over (see context.ts).
    const createContext = gatedContext(trpcOptions.createContext);
    const onConnection = getWSConnectionHandler({ ...trpcOptions, createContext } as unknown as WSSHandlerOptions<AppRouter>);
    scope.get('/trpc', { websocket: true }, (socket, req) => {
      gateSocket(socket, req.raw, guards);
      onConnection(socket, req.raw);
    });
  });

  await app.register(
    async (scope) => {
      bodyDeadline(scope, deps.config.guards);
      await scope.register(restApi(deps, guards));
    },
    { prefix: '/api/v1' },
  );
  if (deps.storage instanceof FsStorage) registerFsRoutes(app, deps.storage, guards);
  registerConsole(app, deps.storage);
  app.addHook('onClose', () => closeUploadVerifier(deps.storage));
  // Fastify's own 404 logs and answers the URL as it came, signature included (a /files URL
  // behind a proxy prefix that is not stripped lands here).
  app.setNotFoundHandler((req, reply) => {
    const route = `${req.method}:${redactUrl(req.url)}`;
    req.log.info(`Route ${route} not found`);
    return reply.code(404).send({ message: `Route ${route} not found`, error: 'Not Found', statusCode: 404 });
  });

  const metrics = registryFor(deps);
  app.get('/metrics', async (req, reply) => {
    try {
      takeIpToken(guards, clientIp(req));
    } catch {
      return reply.code(429).header('retry-after', '60').send('rate limited\n');
    }
    const token = deps.config.metricsToken;
    if (token && !safeEqual(req.headers.authorization ?? '', `Bearer ${token}`)) {
      return reply.code(401).type('text/plain').send('/metrics needs Authorization: Bearer <COFFER_METRICS_TOKEN>\n');
    }
    return reply.type(metrics.contentType).send(await metrics.metrics());
  });

  app.get('/healthz', async (req, reply) => {
    try {
      takeIpToken(guards, clientIp(req));
    } catch (err) {
      const retryAfter = err instanceof CofferError ? err.retryAfterSeconds : undefined;
      return reply
        .code(429)
        .header('retry-after', String(retryAfter ?? 60))
        .send({ ok: false, error: toTRPCError(err).message });
    }
    const health = await checkHealth(deps);
    return reply.code(health.ok ? 200 : 503).send({ ok: health.ok });
  });

  return app;
}

/** The longest Retry-After among a response's rate-limit errors (a batch can hold several). */
function retryAfterHeader(errors: ReadonlyArray<{ cause?: unknown }>): { headers?: Record<string, string> } {
  const wait = Math.max(0, ...errors.map((e) => (e.cause instanceof CofferError ? (e.cause.retryAfterSeconds ?? 0) : 0)));
  return wait > 0 ? { headers: { 'retry-after': String(wait) } } : {};
}
