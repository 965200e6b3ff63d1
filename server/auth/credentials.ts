import { sql } from 'drizzle-orm';
import { afterCommit, type Tx } from '../db/index.ts';
import type { ApiKeyRow } from '../db/queries/api-keys.ts';
import { KEYS_CHANNEL } from '../events/notification.ts';
import type { PubSub } from '../events/pubsub.ts';

/** What authentication keeps of a key row: never more than it needs to decide. */
export type CachedKey = Pick<ApiKeyRow, 'id' | 'tenantId' | 'scopes' | 'secretHash' | 'revokedAt' | 'expiresAt' | 'lastUsedAt'>;

/**
 * This instance's verified API keys, for a few seconds, so a request with a known key costs no
 * query; and the one place that hears when a key stops being valid. A revocation or rotation
 * announces itself (`announceKeyChange`): this instance drops the key at commit, the others when
 * the NOTIFY arrives (milliseconds), and `onChange` watchers (open WebSockets) re-check it. The
 * TTL bounds what a lost notification could cost; a listener reconnect drops everything.
 */
export interface Credentials {
  /** A cached key for `prefix`, if cached less than the TTL ago. */
  lookup(prefix: string): CachedKey | undefined;
  /** Counts key changes heard; `remember` takes the value read before the lookup query. */
  readonly generation: number;
  /** Caches `key`, unless some key changed since `generation` (the row may predate that change). */
  remember(prefix: string, key: CachedKey, generation: number): void;
  /** Drops `keyId` and tells the watchers. */
  changed(keyId: string): void;
  /** `null`: anything may have changed (notifications were lost). */
  onChange(watcher: (keyId: string | null) => void): () => void;
  /** Whether to record use now: at most once per key and minute, so requests do not write. */
  shouldTouch(keyId: string, lastUsedAt: Date | null, now: Date): boolean;
  close(): void;
}

export interface CredentialsOptions {
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

const TOUCH_EVERY_MS = 60_000;

export function createCredentials(pubsub: PubSub | null, opts: CredentialsOptions = {}): Credentials {
  const ttl = opts.ttlMs ?? 5_000;
  const max = opts.maxEntries ?? 10_000;
  const clock = opts.now ?? Date.now;
  const byPrefix = new Map<string, { key: CachedKey; at: number }>();
  const prefixOf = new Map<string, string>();
  const touched = new Map<string, number>();
  const watchers = new Set<(keyId: string | null) => void>();
  let generation = 0;

  const forget = (keyId: string) => {
    const prefix = prefixOf.get(keyId);
    if (prefix !== undefined) byPrefix.delete(prefix);
    prefixOf.delete(keyId);
  };
  const tell = (keyId: string | null) => {
    generation++;
    for (const w of watchers) w(keyId);
  };
  const changed = (keyId: string) => {
    forget(keyId);
    tell(keyId);
  };
  const unsubscribe = pubsub?.subscribe((m) => {
    if (m.type === 'key') changed(m.keyId);
    else if (m.type === 'reconnected') {
      byPrefix.clear();
      prefixOf.clear();
      tell(null);
    }
  });

  return {
    lookup(prefix) {
      const hit = byPrefix.get(prefix);
      if (!hit) return undefined;
      if (clock() - hit.at < ttl) return hit.key;
      byPrefix.delete(prefix);
      prefixOf.delete(hit.key.id);
      return undefined;
    },
    get generation() {
      return generation;
    },
    remember(prefix, key, seen) {
      if (seen !== generation) return;
      if (byPrefix.size >= max) {
        // The oldest entry (Map keeps insertion order); a flood of distinct keys cannot grow the cache.
        const [oldest] = byPrefix;
        if (oldest) {
          byPrefix.delete(oldest[0]);
          prefixOf.delete(oldest[1].key.id);
        }
      }
      const { id, tenantId, scopes, secretHash, revokedAt, expiresAt, lastUsedAt } = key;
      byPrefix.set(prefix, { key: { id, tenantId, scopes, secretHash, revokedAt, expiresAt, lastUsedAt }, at: clock() });
      prefixOf.set(key.id, prefix);
    },
    changed,
    onChange(watcher) {
      watchers.add(watcher);
      return () => void watchers.delete(watcher);
    },
    shouldTouch(keyId, lastUsedAt, now) {
      const last = Math.max(touched.get(keyId) ?? 0, lastUsedAt?.getTime() ?? 0);
      if (now.getTime() - last <= TOUCH_EVERY_MS) return false;
      if (touched.size >= max) touched.clear();
      touched.set(keyId, now.getTime());
      return true;
    },
    close() {
      unsubscribe?.();
      watchers.clear();
      byPrefix.clear();
    },
  };
}

/**
 * Announces that a key stopped being (or will stop being) valid: a revocation, or a rotation
 * setting its expiry. The NOTIFY is part of the writing transaction on purpose: it reaches the
 * other instances if and only if the change committed (key changes are rare, so their commits
 * queuing on NOTIFY's lock costs nothing). This instance drops the key as soon as it commits.
 */
export async function announceKeyChange(credentials: Credentials, tx: Tx, keyId: string): Promise<void> {
  await tx.execute(sql`select pg_notify(${KEYS_CHANNEL}, ${keyId})`);
  afterCommit(tx, () => credentials.changed(keyId));
}
