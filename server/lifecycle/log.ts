import Fastify, { type FastifyBaseLogger } from 'fastify';
import { loggerOptions } from '../logger.ts';

const loggers = new Map<string, FastifyBaseLogger>();

/**
 * A pino logger with the app's options (level, redaction, pretty on a TTY) for lifecycle code
 * that runs outside a request, such as the once-a-day cost alert. Fastify builds it, so it is the
 * same pino the app logs with, without a direct dependency on pino.
 */
export function lifecycleLog(level: string): FastifyBaseLogger {
  let log = loggers.get(level);
  if (!log) {
    log = Fastify({ logger: loggerOptions(level) }).log.child({ component: 'lifecycle' });
    loggers.set(level, log);
  }
  return log;
}
