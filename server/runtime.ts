import type pg from 'pg';
import { type Credentials, createCredentials } from './auth/credentials.ts';
import { createDb, createSystemDb, type Db, type SystemDb } from './db/index.ts';
import { assertRole, type RoleUrls } from './db/roles.ts';
import { createEventHub, type EventHub } from './events/hub.ts';
import { createPgPubSub } from './events/pubsub.ts';

/** The database side of one instance: both pools, the listener, the event hub and the key cache. */
export interface Runtime {
  db: Db;
  systemDb: SystemDb;
  events: EventHub;
  credentials: Credentials;
  pool: pg.Pool;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Connections of the service's pool. */
  poolMax?: number;
  /** Listener connection losses (it reconnects by itself). */
  onListenerError?: (err: unknown) => void;
  /** Tests reconnect faster. */
  listenerBackoffMs?: { min: number; max: number };
}

/**
 * Opens the pools and checks their roles (server/db/roles.ts), which also opens a first
 * connection of each before the first request needs one, and starts listening. main.ts, the
 * test harness and the benches all start an instance through here.
 */
export async function startRuntime(urls: RoleUrls, opts: RuntimeOptions = {}): Promise<Runtime> {
  const { db, pool } = createDb(urls.app, { max: opts.poolMax });
  const { db: systemDb, pool: systemPool } = createSystemDb(urls.system);
  try {
    await Promise.all([assertRole(pool, 'app'), assertRole(systemPool, 'system')]);
  } catch (err) {
    await Promise.all([pool.end(), systemPool.end()]);
    throw err;
  }
  const pubsub = createPgPubSub({
    url: urls.app,
    onError: opts.onListenerError,
    minBackoffMs: opts.listenerBackoffMs?.min,
    maxBackoffMs: opts.listenerBackoffMs?.max,
  });
  const credentials = createCredentials(pubsub);
  const events = createEventHub(db, systemDb, pubsub);
  return {
    db,
    systemDb,
    events,
    credentials,
    pool,
    async close() {
      credentials.close();
      await events.close(); // closes the listener too
      await Promise.all([pool.end().catch(() => {}), systemPool.end().catch(() => {})]);
    },
  };
}
