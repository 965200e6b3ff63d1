import { fileURLToPath } from 'node:url';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { ADVISORY_LOCKS } from './locks.ts';
import * as schema from './schema/index.ts';

export type Db = NodePgDatabase<typeof schema>;
/**
 * A transaction: a Db bound to the one connection withTenant or withSystem holds. Data-access
 * functions take `DbOrTx` so they run inside a caller's transaction.
 */
export type Tx = Db;
export type DbOrTx = Db | Tx;
/** The system role's pool (server/db/roles.ts): past row-level security, so only withSystem takes it. */
export type SystemDb = Db & { readonly [systemBrand]: true };
declare const systemBrand: unique symbol;

const migrationsFolder = fileURLToPath(new URL('../../drizzle/migrations', import.meta.url));

export interface PoolOptions {
  max?: number;
  /** Shows in pg_stat_activity, so an operator can tell the pools apart. */
  name?: string;
}

/**
 * A pool and its Db. The URL's login role decides what the pool may do: the service's pool logs
 * in as coffer_app, the system pool as coffer_system (server/db/roles.ts), never as the owner.
 */
export function createDb(url: string, opts: PoolOptions = {}): { db: Db; pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: 5_000,
    application_name: opts.name ?? 'coffer',
    // Queries on one connection go out without waiting for the previous answer, so a transaction's
    // BEGIN travels with its first statement (inTransaction). Code that awaits each query, which
    // is all of Coffer, sees no difference.
    pipeline: true,
  });
  // An idle client that loses its server (restart, failover) emits 'error'; without a listener that kills the process.
  pool.on('error', () => {});
  // pg-pool listens for a client's errors only while it is idle. A client checked out for a
  // transaction whose connection dies (failover, pg_terminate_backend) emits 'error' with no
  // listener, which throws out of pg's socket handler and crashes the process. Its queries are
  // already rejected by then, and the pool drops it on release, so the event itself can be ignored.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = drizzle({ client: pool, schema, casing: 'snake_case' });
  pools.set(db, pool);
  return { db, pool };
}

/** The system role's pool: small, because only authentication misses, admin calls and jobs use it. */
export function createSystemDb(url: string, opts: PoolOptions = {}): { db: SystemDb; pool: pg.Pool } {
  const { db, pool } = createDb(url, { max: opts.max ?? 3, name: opts.name ?? 'coffer-system' });
  systemDbs.add(db);
  return { db: db as SystemDb, pool };
}

const pools = new WeakMap<Db, pg.Pool>();
const systemDbs = new WeakSet<Db>();

/** The pool a Db was built on (session-level work such as job locks needs a connection of its own). */
export function poolOf(db: Db): pg.Pool {
  const pool = pools.get(db);
  if (!pool) throw new Error('not a Db made by createDb');
  return pool;
}

/** Applies drizzle/migrations on one dedicated connection, as the owner. drizzle's migrator takes no lock, so we do. */
export async function runMigrations(ownerUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: ownerUrl, application_name: 'coffer-migrations' });
  await client.connect();
  try {
    await migrateOn(client);
  } finally {
    await client.end(); // ending the session releases the lock
  }
}

/** Migrations on `client` (the owner's session), under the migrations lock, past row-level security. */
export async function migrateOn(client: pg.Client): Promise<void> {
  await client.query('select pg_advisory_lock($1)', [ADVISORY_LOCKS.migrations]);
  // Migrations run as the owner, past row-level security (the owner-only coffer_system policy), so
  // a data migration sees every tenant's rows.
  await client.query(`select set_config('app.bypass_rls', 'on', false)`);
  await migrate(drizzle({ client, casing: 'snake_case' }), { migrationsFolder });
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Runs a tenant's work in one transaction bound to that tenant (`app.tenant_id`, transaction-local).
 * Every tenant-scoped read and write goes through here, so row-level security policies and
 * events written in the same transaction apply without touching the queries.
 */
export function withTenant<T>(db: Db, tenantId: string, fn: (tx: Tx) => Promise<T>, settings?: TxSettings): Promise<T> {
  return tenantTransaction(db, tenantId, fn, settings ?? {}, false);
}

/**
 * withTenant for work that only reads. The transaction is READ ONLY, so PostgreSQL refuses a write
 * in it, and its COMMIT has nothing to make durable: it is queued behind the reads and the result
 * returns without waiting for its answer, one database round trip sooner. The connection goes
 * back to the pool at once; the next transaction on it queues behind that COMMIT.
 */
export function readTenant<T>(db: Db, tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return tenantTransaction(db, tenantId, fn, {}, true);
}

function tenantTransaction<T>(db: Db, tenantId: string, fn: (tx: Tx) => Promise<T>, settings: TxSettings, readOnly: boolean): Promise<T> {
  const caller = readOnly ? 'readTenant' : 'withTenant';
  if (systemDbs.has(db)) throw new Error(`${caller} needs the service pool, not the system pool`);
  // The id goes into the statement text so BEGIN and the binding share one round trip (the simple
  // query protocol takes no parameters); it is a UUID, checked here, so it cannot carry SQL.
  if (!UUID_RE.test(tenantId)) throw new Error(`${caller}: the tenant id is not a UUID`);
  const more = Object.entries(settings).map(([name, value]) => `, set_config(${pg.escapeLiteral(name)}, ${pg.escapeLiteral(value)}, true)`);
  const begin = readOnly ? 'begin read only' : 'begin';
  return inTransaction(db, `${begin}; select set_config('app.tenant_id', '${tenantId}', true)${more.join('')}`, fn, { readOnly });
}

/** Transaction-local settings a tenant transaction starts with (e.g. coffer.plan_quotas, server/services/quota.ts). */
export type TxSettings = Readonly<Record<string, string>>;

/**
 * The narrow way past row-level security, for the paths that must cross tenants or run before a
 * tenant is known: API-key lookup in authentication, the admin-token services, event retention,
 * the lifecycle jobs' cross-tenant reads. It runs on the system pool, whose role has BYPASSRLS
 * and is neither the owner nor a superuser; the service's pool cannot get there at all.
 * Anything tenant-facing goes through withTenant instead.
 */
export function withSystem<T>(db: SystemDb, fn: (tx: Tx) => Promise<T>): Promise<T> {
  if (!systemDbs.has(db)) throw new Error('withSystem needs the system pool (createSystemDb)');
  return inTransaction(db, 'begin', fn);
}

interface TxState {
  db: Db;
  hooks: Array<() => void>;
  finalSql: string[];
  finalResults: Array<(result: pg.QueryResult) => void>;
}
/** The transaction a connection's Db is running, while it runs one. */
const running = new WeakMap<Tx, TxState>();
/** One drizzle instance per pooled connection, built on its first transaction. */
const bound = new WeakMap<pg.PoolClient, Tx>();

/**
 * Runs `fn` after the transaction `tx` commits (never after a rollback). For work that must not
 * hold the transaction open or must only happen once its writes are visible: announcing events,
 * dropping cached credentials.
 */
export function afterCommit(tx: Tx, hook: () => void): void {
  const state = running.get(tx);
  if (!state) throw new Error('afterCommit outside withTenant/withSystem');
  state.hooks.push(hook);
}

/**
 * Sends `statement` together with the COMMIT, in the same round trip, so writing it costs the
 * transaction no extra wait. The statement goes through the simple query protocol, which takes
 * no parameters: it must be literal SQL, every value escaped (pg's escapeLiteral). If it fails,
 * the transaction rolls back and the caller's withTenant/withSystem throws.
 */
export function withCommit(tx: Tx, statement: string, onResult: (result: pg.QueryResult) => void): void {
  const state = running.get(tx);
  if (!state) throw new Error('withCommit outside withTenant/withSystem');
  state.finalSql.push(statement);
  state.finalResults.push(onResult);
}

/**
 * Lets this transaction's COMMIT return before its WAL reaches disk (synchronous_commit off for
 * it alone, sent with the COMMIT), so the row locks it holds are released at memory speed instead
 * of after a disk flush. A database crash may lose it (PostgreSQL bounds that to the last ~0.6 s of
 * such commits, and any later synchronous commit makes it durable). Only for transactions whose
 * loss nobody would have relied on: see the callers.
 */
export function commitWithoutFlush(tx: Tx): void {
  withCommit(tx, 'set local synchronous_commit = off', () => {});
}

/** The pool-level Db a transaction runs on (so a hook can find that instance's listeners). */
export function dbOf(tx: Tx): Db {
  const state = running.get(tx);
  if (!state) throw new Error('dbOf outside withTenant/withSystem');
  return state.db;
}

/**
 * BEGIN (with whatever `begin` adds, in the same round trip), fn, COMMIT on one pooled connection;
 * ROLLBACK if anything throws. A connection that fails to roll back is destroyed, not pooled.
 */
async function inTransaction<T>(db: Db, begin: string, fn: (tx: Tx) => Promise<T>, opts: { readOnly?: boolean } = {}): Promise<T> {
  const client = await poolOf(db).connect();
  let tx = bound.get(client);
  if (!tx) {
    tx = drizzle({ client, schema, casing: 'snake_case' });
    bound.set(client, tx);
  }
  const state: TxState = { db, hooks: [], finalSql: [], finalResults: [] };
  running.set(tx, state);
  let result: T;
  let finals: pg.QueryResult[] = [];
  try {
    // Not awaited before fn: with the pool's pipelining, fn's first statement is written right
    // behind BEGIN and both are answered in one round trip. The server runs them in order, and
    // `begin` (BEGIN and set_configs of a checked UUID and escaped settings) cannot fail while the connection lives; a
    // dead connection fails fn's statements too. Its outcome is still checked before COMMIT.
    const begun = sharingOneWrite(client, () => client.query(begin));
    const [opened, done] = await Promise.allSettled([begun, (async () => fn(tx))()]);
    if (opened.status === 'rejected') throw opened.reason;
    if (done.status === 'rejected') throw done.reason;
    result = done.value;
    if (opts.readOnly && state.finalSql.length === 0 && state.hooks.length === 0) {
      // Nothing to lose: a read-only transaction whose reads all answered. A dead connection
      // fails this COMMIT too, and the pool drops it through its 'error' event. Its write waits
      // until the caller's answer has gone out (or joins the next BEGIN on this connection).
      sharingOneWrite(client, () => client.query('commit')).catch(() => {});
    } else if (state.finalSql.length === 0) await client.query('commit');
    else finals = (await client.query(`${state.finalSql.join(';\n')};\ncommit`)) as unknown as pg.QueryResult[];
  } catch (err) {
    running.delete(tx);
    const failed = await client.query('rollback').then(
      () => undefined,
      (e: Error) => e,
    );
    client.release(failed);
    throw err;
  }
  running.delete(tx);
  client.release();
  for (const hook of [...state.finalResults.map((done, i) => () => done(finals[i]!)), ...state.hooks]) {
    try {
      hook();
    } catch {
      // The transaction committed; a failing hook must not turn that into an error for the caller.
    }
  }
  return result;
}

/**
 * Runs `send` with the connection's socket corked until the callbacks already queued have run, so
 * what `send` writes leaves in one write together with whatever they write (a transaction's first
 * statement, built a few promise hops later), and after them (a read's answer to its caller). A
 * socket write is a system call that cost ~0.3 ms under profiling here; BEGIN alone was one per call.
 */
function sharingOneWrite<T>(client: pg.PoolClient, send: () => T): T {
  const socket = (client as unknown as { connection?: { stream?: import('node:net').Socket } }).connection?.stream;
  if (!socket) return send();
  socket.cork();
  try {
    return send();
  } finally {
    setImmediate(() => socket.uncork());
  }
}
