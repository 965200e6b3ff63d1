import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a signed URL allows; every field is covered by the signature. */
export type SignedGrant =
  | { op: 'get'; key: string; filename?: string; contentType?: string }
  /** Create `key` once, with exactly `contentLength` bytes whose Content-MD5 is `md5`. */
  | { op: 'create'; key: string; contentLength: number; md5: string };

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
  // `md5` came later: appended only to create grants, so download URLs signed before stay valid.
  const fields = ['coffer-v1', key, ...FIELDS.map((f) => params[f] ?? '')];
  return params.op === 'create' ? [...fields, params.md5 ?? ''] : fields;
}

function toParams(grant: SignedGrant): Record<string, string> {
  switch (grant.op) {
    case 'get':
      return {
        op: 'get',
        ...(grant.filename !== undefined && { fn: grant.filename }),
        ...(grant.contentType !== undefined && { ct: grant.contentType }),
      };
    case 'create':
      return { op: 'create', len: String(grant.contentLength), md5: grant.md5 };
  }
}

function fromParams(key: string, q: SignedQuery): SignedGrant | null {
  switch (q.op) {
    case 'get':
      return { op: 'get', key, filename: q.fn, contentType: q.ct };
    case 'create':
      return { op: 'create', key, contentLength: Number(q.len), md5: q.md5 ?? '' };
    default:
      return null;
  }
}
