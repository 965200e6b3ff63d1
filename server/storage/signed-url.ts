import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a signed URL allows; every field is covered by the signature. */
export type SignedGrant =
  | { op: 'get'; key: string; filename?: string; contentType?: string }
  | { op: 'put'; key: string; contentType: string; contentLength: number }
  | { op: 'part'; key: string; uploadId: string; partNumber: number; contentLength: number };

export type SignedQuery = Record<string, string | undefined>;

/**
 * HMAC-SHA256 signed URLs for the fs backend, served by server/http/fs-routes.ts. They play the
 * role of S3 presigned URLs: whoever holds one may do exactly the granted operation until `exp`.
 */
export interface UrlSigner {
  sign(grant: SignedGrant, expiresIn: number): string;
  /** The grant, or null for a missing, tampered or expired signature (callers answer 403 either way). */
  verify(key: string, query: SignedQuery): SignedGrant | null;
}

export const FILES_PATH = '/files/';

export function createUrlSigner(secret: string, publicUrl: () => string): UrlSigner {
  const mac = (fields: string[]) => createHmac('sha256', secret).update(JSON.stringify(fields)).digest('hex');
  return {
    sign(grant, expiresIn) {
      const params = { ...toParams(grant), exp: String(Math.floor(Date.now() / 1000) + expiresIn) };
      const query = new URLSearchParams({ ...params, sig: mac(canonical(grant.key, params)) });
      return `${publicUrl().replace(/\/+$/, '')}${FILES_PATH}${encodeKey(grant.key)}?${query}`;
    },
    verify(key, query) {
      const given = Buffer.from(query.sig ?? '', 'utf8');
      const expected = Buffer.from(mac(canonical(key, query)), 'utf8');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
      if (!(Number(query.exp) >= Date.now() / 1000)) return null;
      return fromParams(key, query);
    },
  };
}

/** Each path segment percent-encoded, so the key comes back intact from the router. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

const FIELDS = ['op', 'exp', 'fn', 'ct', 'len', 'upload', 'part'] as const;

/** Fixed order, absent fields as "", JSON-encoded: no two different grants share a string. */
function canonical(key: string, params: SignedQuery): string[] {
  return ['coffer-v1', key, ...FIELDS.map((f) => params[f] ?? '')];
}

function toParams(grant: SignedGrant): Record<string, string> {
  switch (grant.op) {
    case 'get':
      return {
        op: 'get',
        ...(grant.filename !== undefined && { fn: grant.filename }),
        ...(grant.contentType !== undefined && { ct: grant.contentType }),
      };
    case 'put':
      return { op: 'put', ct: grant.contentType, len: String(grant.contentLength) };
    case 'part':
      return { op: 'part', upload: grant.uploadId, part: String(grant.partNumber), len: String(grant.contentLength) };
  }
}

function fromParams(key: string, q: SignedQuery): SignedGrant | null {
  switch (q.op) {
    case 'get':
      return { op: 'get', key, filename: q.fn, contentType: q.ct };
    case 'put':
      return { op: 'put', key, contentType: q.ct ?? '', contentLength: Number(q.len) };
    case 'part':
      return { op: 'part', key, uploadId: q.upload ?? '', partNumber: Number(q.part), contentLength: Number(q.len) };
    default:
      return null;
  }
}
