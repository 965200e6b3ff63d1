import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Storage } from '../storage/types.ts';

/** Built by client/console/build.ts (the root `prepare` script); gitignored. */
const DIST = fileURLToPath(new URL('../../client/console/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

let assets: Promise<Map<string, Asset>> | undefined;

/**
 * The console's files, read once into memory (under 100 KB; source maps, if a build left one, are not served). Missing
 * when install scripts were skipped (`npm ci --ignore-scripts`): then built here, once, so
 * `npm start` on any fresh clone serves the console. A failed build is retried on the next request.
 */
function loadAssets(): Promise<Map<string, Asset>> {
  assets ??= readAssets().catch((err) => {
    assets = undefined;
    throw err;
  });
  return assets;
}

async function readAssets(): Promise<Map<string, Asset>> {
  const names = await readdir(DIST).catch(() => [] as string[]);
  if (!names.includes('index.html')) {
    const { buildConsole } = await import('../../client/console/build.ts');
    await buildConsole();
    return readAssets();
  }
  const entries = await Promise.all(
    names
      .filter((n) => TYPES[extname(n)])
      .map(async (name): Promise<[string, Asset]> => {
        const body = await readFile(join(DIST, name));
        return [
          name,
          { body, type: TYPES[extname(name)]!, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` },
        ];
      }),
  );
  return new Map(entries);
}

/**
 * Strict: scripts and styles only from files Coffer serves (no inline code, no CDNs), API calls
 * only to this origin and the storage's (the upload control PUTs parts to signed URLs, which may
 * live on the S3 endpoint's origin). Downloads are navigations, which connect-src does not
 * govern. CSP3 browsers let 'self' cover same-host WebSockets; the explicit ws(s) origin is for
 * browsers that predate that.
 */
export function consoleCsp(req: FastifyRequest, storageOrigin?: string | null): string {
  const host = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(req.host) ? req.host : null;
  const ws = host ? ` ${req.protocol === 'https' ? 'wss' : 'ws'}://${host}` : '';
  const storage = storageOrigin && /^https?:\/\/[A-Za-z0-9.:[\]-]+$/.test(storageOrigin) ? ` ${storageOrigin}` : '';
  return [
    "default-src 'self'",
    `connect-src 'self'${ws}${storage}`,
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

async function serve(req: FastifyRequest, reply: FastifyReply, name: string, storageOrigin: () => Promise<string | null>) {
  const asset = (await loadAssets()).get(name);
  if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
  reply
    .header('content-security-policy', consoleCsp(req, await storageOrigin()))
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    // Revalidate every time: a rebuilt console must show up without a hard reload.
    .header('cache-control', 'no-cache')
    .header('etag', asset.etag)
    .type(asset.type);
  if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  return reply.send(asset.body);
}

/**
 * The operator console (client/console): `/console` and its few built files, nothing else.
 * `storage` tells where signed URLs point, for the CSP: it is asked once, after the app listens
 * (the disk backend's URLs are on the public URL, known only then).
 */
export function registerConsole(app: FastifyInstance, storage: Pick<Storage, 'presignGet'>): void {
  let origin: Promise<string | null> | undefined;
  const storageOrigin = () => {
    origin ??= storage.presignGet('console-csp-probe', { expiresIn: 60 }).then(
      (url) => new URL(url).origin,
      () => null,
    );
    return origin;
  };
  app.get('/console', (req, reply) => serve(req, reply, 'index.html', storageOrigin));
  app.get('/console/', (req, reply) => serve(req, reply, 'index.html', storageOrigin));
  app.get<{ Params: { file: string } }>('/console/:file', (req, reply) => serve(req, reply, req.params.file, storageOrigin));
}
