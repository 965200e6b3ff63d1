import { z } from 'zod';
import { CofferError } from '../errors.ts';

/** Keyset cursors are opaque to callers: base64url of [createdAt ISO, id]. */
const cursorTuple = z.tuple([z.iso.datetime(), z.uuid()]);

export function encodeCursor(row: { createdAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify([row.createdAt.toISOString(), row.id])).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [createdAt, id] = cursorTuple.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { createdAt: new Date(createdAt), id };
  } catch {
    throw new CofferError('BAD_INPUT', 'invalid cursor: pass the nextCursor of a previous page unchanged');
  }
}
