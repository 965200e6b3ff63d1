import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `cof_<prefix>_<secret>`. The prefix finds the row without revealing
 * anything; only sha256(secret) is stored, compared in constant time.
 */
const KEY_RE = /^cof_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

const sha256 = (s: string) => createHash('sha256').update(s).digest();

export function generateApiKey(): { key: string; prefix: string; secretHash: string } {
  const prefix = randomBytes(9)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '0')
    .slice(0, 12);
  const secret = randomBytes(32).toString('base64url');
  return { key: `cof_${prefix}_${secret}`, prefix, secretHash: hashSecret(secret) };
}

/** The prefix and secret of a well-formed key, or null. */
export function parseApiKey(token: string): { prefix: string; secret: string } | null {
  const m = KEY_RE.exec(token);
  return m ? { prefix: m[1]!, secret: m[2]! } : null;
}

export const hashSecret = (secret: string) => sha256(secret).toString('hex');

/**
 * Constant time in the contents and in the lengths: both sides are hashed to 32 bytes first, so
 * a wrong guess takes as long whatever its length, and the admin token's length does not leak.
 */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}
