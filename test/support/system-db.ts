import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { Db } from '../../server/db/index.ts';
import * as schema from '../../server/db/schema/index.ts';

/**
 * A pool for tests that read or arrange any tenant's rows directly. It connects as the owner of
 * the tables with `app.bypass_rls` on for the whole session (the owner-only policy of migration
 * 0004), without wrapping every assertion in a transaction. Test code only: the service never
 * logs in as the owner (server/db/roles.ts).
 */
export function createOwnerDb(url: string): { db: Db; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: url, max: 2, options: '-c app.bypass_rls=on' });
  pool.on('error', () => {});
  return { db: drizzle({ client: pool, schema, casing: 'snake_case' }), pool };
}
