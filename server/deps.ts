import type { Config } from './config/index.ts';
import type { Db } from './db/index.ts';
import type { EventHub } from './events/hub.ts';
import type { Storage } from './storage/types.ts';

/** Everything the app needs from outside; main.ts builds it from config, tests build their own. */
export interface Deps {
  config: Config;
  db: Db;
  storage: Storage;
  /** Live events of every instance, fanned out through Postgres LISTEN/NOTIFY. */
  events: EventHub;
  /** Injected so lifecycle rules can be tested with a controlled clock. */
  now: () => Date;
}
