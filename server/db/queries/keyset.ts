import { type Column, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../index.ts';

export type KeysetTable = 'artifacts' | 'versions' | 'api_keys';

/**
 * Where a page newest first starts: the exact created_at of the cursor's row. A cursor carries
 * created_at to the millisecond (a JavaScript Date), but Postgres keeps microseconds, so compared
 * with the cursor's value, rows created in the same millisecond as the cursor's row yet before it
 * were skipped (concurrent uploads do that). The exact value is read from the row itself, in the
 * caller's transaction (row-level security keeps it to the tenant); the cursor's own value stands
 * in only when that row is gone. A separate statement: folded into the page's query as a
 * subquery, it kept PostgreSQL from using it in the index condition (a 100-row page scanned the
 * whole tenant: 8 -> 326 ms over 1M rows, npm run bench -- list).
 */
export async function keysetStart(db: DbOrTx, table: KeysetTable, after: { createdAt: Date; id: string }): Promise<string> {
  const found = await db.execute<{ at: string }>(sql`select created_at::text as at from ${sql.raw(table)} where id = ${after.id}::uuid`);
  return found.rows[0]?.at ?? after.createdAt.toISOString();
}

/** The drizzle condition: rows before the cursor's row in (created_at, id) order, from keysetStart's value. */
export const olderThan = (createdAt: Column, idColumn: Column, at: string, id: string): SQL =>
  sql`(${createdAt}, ${idColumn}) < (${at}::timestamptz, ${id}::uuid)`;
