import { type Column, type SQL, sql } from 'drizzle-orm';

/**
 * The keyset condition of lists paged newest first: rows before the cursor's row in
 * (created_at, id) order. A cursor carries created_at to the millisecond (a JavaScript Date), but
 * Postgres keeps microseconds, so compared with the cursor's value, rows created in the same
 * millisecond as the cursor's row yet before it were skipped (concurrent uploads do that). The
 * exact value is read from the cursor's row itself (row-level security keeps the lookup within the
 * tenant); the cursor's own value stands in only when that row is gone.
 *
 * `table` is the table's SQL name; `at` and `id` are SQL expressions for the cursor's values.
 */
export const olderThanRowText = (table: string, createdAt: string, idColumn: string, at: string, id: string) =>
  `(${createdAt}, ${idColumn}) < (coalesce((select c.created_at from ${table} c where c.id = ${id}), ${at}), ${id})`;

/** olderThanRowText for drizzle queries. */
export function olderThanRow(table: string, createdAt: Column, idColumn: Column, after: { createdAt: Date; id: string }): SQL {
  const id = sql`${after.id}::uuid`;
  return sql`(${createdAt}, ${idColumn}) < (coalesce((select c.created_at from ${sql.raw(table)} c where c.id = ${id}), ${after.createdAt.toISOString()}::timestamptz), ${id})`;
}
