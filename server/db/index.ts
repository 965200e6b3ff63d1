import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { ADVISORY_LOCKS } from './locks.ts';
import * as schema from './schema/index.ts';

export type Db = NodePgDatabase<typeof schema>;
/** A transaction handle; data-access functions take `Db | Tx` so they run inside a caller's transaction. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

const migrationsFolder = fileURLToPath(new URL('../../drizzle/migrations', import.meta.url));

/**
 * The role the service works as (created by migration 0004_rls): it owns no table and is not a
 * superuser, so row-level security binds it. The login user in DATABASE_URL owns the tables and
 * runs migrations; it must be a member of this role.
 */
export const APP_ROLE = 'coffer_app';

/**
 * The pool of the service. Every connection it opens works as APP_ROLE.
 *
 * The role is set in the connection's startup packet (`options=-c role=coffer_app`) rather than
 * by a `SET ROLE` from the pool's 'connect' event: a failing SET ROLE (role missing, membership
 * revoked) would be a rejected query while the queries queued behind it ran on as the owner, i.e.
 * it would fail open; a bad startup option fails the connection itself, i.e. closed. It also
 * costs no round trip, and `RESET ROLE` / `DISCARD ALL` return to coffer_app, not to the owner.
 */
export function createDb(url: string, opts: { max?: number } = {}): { db: Db; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: withAppRole(url), max: opts.max ?? 10, connectionTimeoutMillis: 5_000 });
  // An idle client that loses its server (restart, failover) emits 'error'; without a listener that kills the process.
  pool.on('error', () => {});
  // pg-pool listens for a client's errors only while it is idle. A client checked out for a
  // transaction whose connection dies (failover, pg_terminate_backend) emits 'error' with no
  // listener, which throws out of pg's socket handler and crashes the process. Its queries are
  // already rejected by then, and the pool drops it on release, so the event itself can be ignored.
  pool.on('connect', (client) => client.on('error', () => {}));
  return { db: drizzle({ client: pool, schema, casing: 'snake_case' }), pool };
}

/** Adds `-c role=coffer_app` to the URL's `options` (kept, if it has any: pg takes one from the URL over the config). */
function withAppRole(url: string): string {
  const u = new URL(url);
  const options = u.searchParams.get('options');
  u.searchParams.set('options', `${options ? `${options} ` : ''}-c role=${APP_ROLE}`);
  return u.toString();
}

/** Applies drizzle/migrations on one dedicated connection. drizzle's migrator takes no lock, so we do. */
export async function runMigrations(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [ADVISORY_LOCKS.migrations]);
    // Migrations run as the owner, past row-level security (coffer_system policy), so a data
    // migration sees every tenant's rows. This connection is not the pool's: it stays the owner.
    await client.query(`select set_config('app.bypass_rls', 'on', false)`);
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

/**
 * The narrow way past row-level security, for the paths that must cross tenants or run before a
 * tenant is known: API-key lookup in authentication, the admin-token services, event retention,
 * the lifecycle jobs' cross-tenant reads. One transaction that switches back to the login user
 * (the tables' owner: `role` = none) and sets `app.bypass_rls`, which the owner-only
 * `coffer_system` policy asks for; both revert at commit or rollback, so the pooled connection
 * is coffer_app again afterwards. Anything tenant-facing goes through withTenant instead.
 */
export function withSystem<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('role', 'none', true), set_config('app.bypass_rls', 'on', true)`);
    return fn(tx);
  });
}
