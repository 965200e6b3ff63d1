import websocket from '@fastify/websocket';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import { contextFactory } from './context.ts';
import type { Deps } from './deps.ts';
import { registerFsRoutes } from './http/fs-routes.ts';
import { loggerOptions } from './logger.ts';
import { appRouter, type AppRouter } from './routers/_app.ts';
import { checkHealth } from './services/health.ts';
import { FsStorage } from './storage/fs.ts';

export interface AppOptions {
  /** false in tests that want quiet output. */
  logger?: boolean;
}

/** Builds the HTTP + WebSocket app without listening: main.ts listens, tests use port 0. */
export async function buildApp(deps: Deps, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger === false ? false : loggerOptions(deps.config.logLevel),
    // JSON payloads are checked against maxInlineBytes by the service, which names the limit;
    // leave room for superjson's envelope and JSON escaping so that check is the one that answers.
    bodyLimit: deps.config.limits.maxInlineBytes * 2 + 1024 * 1024,
    forceCloseConnections: 'idle',
  });

  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });
  await app.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    useWSS: true,
    trpcOptions: {
      router: appRouter,
      createContext: contextFactory(deps),
      keepAlive: { enabled: true, pingMs: 30_000, pongWaitMs: 5_000 },
      onError({ error, path }) {
        if (error.code === 'INTERNAL_SERVER_ERROR') app.log.error({ err: error.cause ?? error, path }, 'internal error');
      },
    },
  } satisfies FastifyTRPCPluginOptions<AppRouter>);

  if (deps.storage instanceof FsStorage) registerFsRoutes(app, deps.storage);

  app.get('/healthz', async (_req, reply) => {
    const health = await checkHealth(deps);
    return reply.code(health.ok ? 200 : 503).send({ ok: health.ok });
  });

  return app;
}
