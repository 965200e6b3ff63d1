import type { Credentials } from './auth/credentials.ts';
import type { Config } from './config/index.ts';
import type { Db, SystemDb } from './db/index.ts';
import type { EventHub } from './events/hub.ts';
import type { Storage } from './storage/types.ts';

/** Everything the app needs from outside; main.ts builds it from config, tests build their own. */
export interface Deps {
  config: Config;
  /** The service's pool (coffer_app): row-level security applies; tenant work goes through withTenant. */
  db: Db;
  /** The system pool (coffer_system, BYPASSRLS): only withSystem takes it. */
  systemDb: SystemDb;
  storage: Storage;
  /** Live events of every instance, fanned out through Postgres LISTEN/NOTIFY. */
  events: EventHub;
  /** Verified API keys, cached briefly; hears revocations from every instance. */
  credentials: Credentials;
  /** Injected so lifecycle rules can be tested with a controlled clock. */
  now: () => Date;
}
