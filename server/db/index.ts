import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import * as schema from './schema/index.ts';

export type Db = NodePgDatabase<typeof schema>;
/** A transaction handle; data-access functions take `Db | Tx` so they run inside a caller's transaction. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

const migrationsFolder = fileURLToPath(new URL('../../drizzle/migrations', import.meta.url));

export function createDb(url: string, opts: { max?: number } = {}): { db: Db; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, connectionTimeoutMillis: 5_000 });
  // An idle client that loses its server (restart, failover) emits 'error'; without a listener that kills the process.
  pool.on('error', () => {});
  // pg-pool listens for a client's errors only while it is idle. A client checked out for a
  // transaction whose connection dies (failover, pg_terminate_backend) emits 'error' with no
  // listener, which throws out of pg's socket handler and crashes the process. Its queries are
  // already rejected by then, and the pool drops it on release, so the event itself can be ignored.
  pool.on('connect', (client) => client.on('error', () => {}));
  return { db: drizzle({ client: pool, schema, casing: 'snake_case' }), pool };
}

/** Arbitrary constant: the advisory lock that serialises migrations across instances starting together. */
const MIGRATION_LOCK = 0x0c0ffe5;

/** Applies drizzle/migrations on one dedicated connection. drizzle's migrator takes no lock, so we do. */
export async function runMigrations(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await migrate(drizzle({ client, casing: 'snake_case' }), { migrationsFolder });
  } finally {
    await client.end(); // ending the session releases the lock
  }
}

/**
 * Runs a tenant's work in one transaction bound to that tenant (`app.tenant_id`, transaction-local).
 * Every tenant-scoped read and write goes through here, so row-level security policies and
 * events written in the same transaction apply without touching the queries.
 */
export function withTenant<T>(db: Db, tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('app.tenant_id', ${tenantId}, true)`);
    return fn(tx);
  });
}
