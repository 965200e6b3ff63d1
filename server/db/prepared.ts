import type { DbOrTx } from './index.ts';

/**
 * A drizzle prepared statement, built once per Db (each pooled connection's transaction Db lives
 * as long as the connection, server/db/index.ts) instead of on every call: building a query's SQL
 * was a tenth of artifact.put's CPU. The statement is named, so each connection also parses and
 * plans it once. Only for statements of one fixed shape; `name` must be unique per shape.
 */
export function prepared<T>(db: DbOrTx, name: string, build: (db: DbOrTx, name: string) => T): T {
  let mine = statements.get(db);
  if (!mine) {
    mine = new Map();
    statements.set(db, mine);
  }
  let statement = mine.get(name) as T | undefined;
  if (statement === undefined) {
    statement = build(db, name);
    mine.set(name, statement);
  }
  return statement;
}

const statements = new WeakMap<DbOrTx, Map<string, unknown>>();
