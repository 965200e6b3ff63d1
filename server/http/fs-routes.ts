import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { COFFER_ERROR_CODES } from '../../shared/errors.ts';
import { CofferError } from '../errors.ts';
import { clientIp, type RequestGuards, takeIpToken } from '../limits/index.ts';
import { attachmentDisposition } from '../storage/content-disposition.ts';
import type { FsStorage } from '../storage/fs.ts';
import { FILES_PATH, type SignedQuery } from '../storage/signed-url.ts';

type FilesRequest = FastifyRequest<{ Params: { '*': string }; Querystring: SignedQuery }>;

const STATUS: Record<string, number> = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  SERVICE_UNAVAILABLE: 503,
};

/**
 * Serves the fs backend's signed URLs (server/storage/signed-url.ts), standing in for the S3
 * endpoints a presigned URL would hit: GET/HEAD to download, PUT for the parts of an upload.
 * Runs in its own encapsulated context so the body parsers and error handler here affect no
 * other route: uploads are streamed from the raw request, never buffered.
 */
export function registerFsRoutes(app: FastifyInstance, storage: FsStorage, guards?: RequestGuards): void {
  app.register(async (scope) => {
    // Valid signed URLs are capabilities the per-key limits already paid for (a big upload is
    // hundreds of part PUTs), so only failed signatures spend the caller's address bucket.
    if (guards) scope.decorateRequest('guards', { getter: () => guards });
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
    scope.setErrorHandler((err, req, reply) => reply.code(statusOf(err)).send({ error: publicMessage(err, req) }));
    // An explicit HEAD route: Fastify's automatic one would drain a stream or report length 0.
    scope.get(`${FILES_PATH}*`, { exposeHeadRoute: false }, (req: FilesRequest, reply) => serveGet(storage, req, reply));
    scope.head(`${FILES_PATH}*`, (req: FilesRequest, reply) => serveGet(storage, req, reply));
    scope.put(`${FILES_PATH}*`, (req: FilesRequest, reply) => servePut(storage, req, reply));
  });
}

/** CofferErrors map by code; Fastify's own 4xx (malformed request) keep their status. */
function statusOf(err: unknown): number {
  if (err instanceof CofferError) return STATUS[COFFER_ERROR_CODES[err.code]] ?? 500;
  const status = (err as { statusCode?: number }).statusCode;
  return status !== undefined && status >= 400 && status < 500 ? status : 500;
}

/** CofferError messages are safe to show by contract; anything else could carry a path. */
function publicMessage(err: unknown, req: FastifyRequest): string {
  const status = statusOf(err);
  if (status >= 500) req.log.error({ err }, 'fs storage route failed');
  if (err instanceof CofferError) return err.message;
  return status < 500 ? 'bad request' : 'internal error';
}

/** One body for every signature failure, so a caller learns nothing about why. Failures are rate limited per address. */
function forbidden(req: FastifyRequest, reply: FastifyReply) {
  const guards = (req as FastifyRequest & { guards?: RequestGuards }).guards;
  try {
    if (guards) takeIpToken(guards, clientIp(req));
  } catch (err) {
    const { message, retryAfterSeconds } = err as CofferError;
    return reply
      .code(429)
      .header('retry-after', String(retryAfterSeconds ?? 60))
      .send({ error: message });
  }
  return reply.code(403).send({ error: 'signature invalid or expired' });
}

/**
 * A client that stops sending an upload's body mid-way would hold the socket and a temp file
 * forever (Fastify sets no request timeout); after this long without a byte the socket is
 * destroyed, the write fails and the temp file is removed.
 */
const UPLOAD_IDLE_TIMEOUT_MS = 60_000;

async function serveGet(storage: FsStorage, req: FilesRequest, reply: FastifyReply) {
  const key = req.params['*'];
  const grant = storage.signer.verify(key, req.query);
  if (grant?.op !== 'get') return forbidden(req, reply);
  const info = await storage.head(key);
  if (!info) throw new CofferError('NOT_FOUND', 'object not found');
  const size = info.sizeBytes;
  const range = parseRange(req.headers.range, size);
  reply
    .header('accept-ranges', 'bytes')
    .header('content-type', grant.contentType || 'application/octet-stream')
    // Served from Coffer's own origin: never let a browser render or sniff stored content.
    .header('content-disposition', attachmentDisposition(grant.filename ?? path.posix.basename(key)))
    .header('x-content-type-options', 'nosniff')
    // A browser that renders it anyway (an old one, a viewer tab) runs no script in this origin.
    .header('content-security-policy', 'sandbox');
  if (range === 'unsatisfiable') return reply.code(416).header('content-range', `bytes */${size}`).send();
  if (range) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`);
  reply.header('content-length', range ? range.end - range.start + 1 : size);
  if (req.method === 'HEAD') return reply.send();
  const { body } = await storage.get(key, range ?? undefined);
  return reply.send(body);
}

/**
 * A part write: the signed grant says which key, how many bytes and which MD5. Like S3, the
 * request must carry the signed Content-Length and Content-MD5 (a different one is a signature
 * failure); a body whose digest differs is 400 BadDigest, an existing key 412, a closed upload 404.
 */
async function servePut(storage: FsStorage, req: FilesRequest, reply: FastifyReply) {
  const key = req.params['*'];
  const grant = storage.signer.verify(key, req.query);
  if (grant?.op !== 'create') return forbidden(req, reply);
  if (Number(req.headers['content-length'] ?? Number.NaN) !== grant.contentLength) return forbidden(req, reply);
  if (req.headers['content-md5'] !== grant.md5) return forbidden(req, reply);
  req.raw.setTimeout(UPLOAD_IDLE_TIMEOUT_MS, () => req.raw.destroy(new Error('upload idle timeout')));
  const { etag } = await storage.createFromUrl(key, req.raw, { contentLength: grant.contentLength, md5: grant.md5 });
  return reply.code(200).header('etag', etag).send();
}

/**
 * A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range. Anything else (absent, malformed,
 * multi-range, last < first) is ignored and the whole object served, as RFC 9110 allows.
 */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return null;
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start >= size ? 'unsatisfiable' : { start, end };
}
