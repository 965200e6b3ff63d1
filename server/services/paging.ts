import { z } from 'zod';
import { CofferError } from '../errors.ts';

/**
 * Keyset pages, one way for every list: the query fetches `limit + 1` rows after the cursor's
 * key; the extra row only says there is a next page. Cursors are opaque to callers: base64url of
 * the JSON array of the last row's key values.
 */
export function toPage<R, T>(rows: R[], limit: number, present: (row: R) => T, keyOf: (row: R) => string[]) {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { items: page.map(present), nextCursor: rows.length > limit && last ? encodeCursor(keyOf(last)) : null };
}

function encodeCursor(values: string[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

function decodeCursor<T extends z.ZodTuple>(cursor: string, shape: T): z.output<T> {
  try {
    return shape.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new CofferError('BAD_INPUT', 'invalid cursor: pass the nextCursor of a previous page unchanged');
  }
}

/** Lists ordered newest first by (created_at, id). */
export const byCreation = {
  key: (row: { createdAt: Date; id: string }) => [row.createdAt.toISOString(), row.id],
  after(cursor: string | undefined): { createdAt: Date; id: string } | undefined {
    if (cursor === undefined) return undefined;
    const [createdAt, id] = decodeCursor(cursor, z.tuple([z.iso.datetime(), z.uuid()]));
    return { createdAt: new Date(createdAt), id };
  },
};

/** Lists ordered by a caller-chosen text id (projects). */
export const byTextId = (idSchema: z.ZodString) => ({
  key: (row: { id: string }) => [row.id],
  after: (cursor: string | undefined): string | undefined =>
    cursor === undefined ? undefined : decodeCursor(cursor, z.tuple([idSchema]))[0],
});
