import type { FastifyServerOptions } from 'fastify';

/** Query parameters that make a URL usable by whoever reads the log. */
const SECRET_PARAMS = /([?&](?:sig|token|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=)[^&]*/gi;

export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1[redacted]');
}

/** Fastify's pino, pretty only on a TTY, with credentials and URL signatures redacted. */
export function loggerOptions(level: string, stream?: NodeJS.WritableStream): FastifyServerOptions['logger'] {
  return {
    level,
    ...(stream && { stream }),
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        '*.token',
        '*.apiKey',
        '*.key',
        '*.secretAccessKey',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req: (req: { method: string; url: string; id: string }) => ({ method: req.method, url: redactUrl(req.url), reqId: req.id }),
    },
    ...(process.stdout.isTTY && !stream
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } }
      : {}),
  };
}
