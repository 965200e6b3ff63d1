import path from 'node:path';
import { CofferError } from '../errors.ts';

/** Top-level directories the fs backend keeps for itself; no key may live under them. */
export const RESERVED_DIRS = ['.tmp', '.multipart', '.etags'] as const;

/**
 * Maps an object key to a file path under `root`, refusing anything that could escape it or
 * collide with the backend's own files. Keys are posix paths; we check every segment instead of
 * normalising, because a normalised `a/../b` would silently alias another key.
 */
export function resolveKeyPath(root: string, key: string): string {
  const segments = key.split('/');
  const bad =
    key.length === 0 ||
    key.length > 1024 ||
    key.includes('\0') ||
    key.includes('\\') ||
    key.startsWith('/') ||
    segments.some((s) => s === '' || s === '.' || s === '..') ||
    (RESERVED_DIRS as readonly string[]).includes(segments[0]!);
  if (bad) throw new CofferError('BAD_INPUT', 'invalid object key');
  const resolved = path.resolve(root, ...segments);
  // Belt and braces: the checks above already rule this out.
  if (!resolved.startsWith(path.resolve(root) + path.sep)) throw new CofferError('BAD_INPUT', 'invalid object key');
  return resolved;
}
