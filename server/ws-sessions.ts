import type { WebSocket } from 'ws';
import type { Credentials } from './auth/credentials.ts';
import type { Principal } from './auth/principal.ts';
import { type SystemDb, withSystem } from './db/index.ts';
import { findApiKeyById } from './db/queries/api-keys.ts';

/**
 * Open WebSockets by API key, so that a key that stops being valid takes its sockets with it: a
 * WebSocket authenticates once, when it opens, and would otherwise keep a revoked or expired
 * key's access (its subscriptions, and new calls on it) for as long as it stays open.
 *
 * A socket is re-checked against the database when it is tracked (which also covers a change
 * that committed while its key was being authenticated), whenever its key changes on any
 * instance (Credentials.onChange: revocation, rotation), and when its key's expiry passes. Checks
 * of one key are coalesced, so a thousand sockets of one key cost a query or two.
 */
export interface SocketRegistry {
  track(socket: WebSocket, principal: Principal): void;
  close(): void;
}

export interface SocketRegistryDeps {
  systemDb: SystemDb;
  credentials: Credentials;
  now: () => Date;
}

interface KeySockets {
  sockets: Set<WebSocket>;
  timer?: NodeJS.Timeout;
  checking: boolean;
  again: boolean;
}

/** setTimeout's ceiling; a later expiry is re-armed when this fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** WebSocket close code 1008: policy violation. */
const POLICY_VIOLATION = 1008;

export function createSocketRegistry(deps: SocketRegistryDeps): SocketRegistry {
  const byKey = new Map<string, KeySockets>();

  async function check(keyId: string): Promise<void> {
    const entry = byKey.get(keyId);
    if (!entry) return;
    if (entry.checking) {
      entry.again = true;
      return;
    }
    entry.checking = true;
    try {
      do {
        entry.again = false;
        const row = await withSystem(deps.systemDb, (tx) => findApiKeyById(tx, keyId));
        const now = deps.now();
        if (!row || row.revokedAt) return cut(keyId, 'API key revoked');
        if (row.expiresAt && row.expiresAt <= now) return cut(keyId, 'API key expired (rotated)');
        arm(keyId, entry, row.expiresAt);
      } while (entry.again);
    } catch {
      // The database is unreachable: look again shortly rather than keep or cut on a guess.
      clearTimeout(entry.timer);
      entry.timer = setTimeout(() => void check(keyId), 1000).unref();
    } finally {
      entry.checking = false;
    }
  }

  function arm(keyId: string, entry: KeySockets, expiresAt: Date | null): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    if (!expiresAt) return;
    const wait = Math.min(Math.max(0, expiresAt.getTime() - deps.now().getTime()) + 5, MAX_TIMER_MS);
    entry.timer = setTimeout(() => void check(keyId), wait).unref();
  }

  function cut(keyId: string, why: string): void {
    const entry = byKey.get(keyId);
    if (!entry) return;
    byKey.delete(keyId);
    clearTimeout(entry.timer);
    for (const socket of entry.sockets) {
      socket.close(POLICY_VIOLATION, why);
      // A peer that does not answer the close handshake is dropped anyway.
      setTimeout(() => socket.terminate(), 1000).unref();
    }
  }

  const unwatch = deps.credentials.onChange((keyId) => {
    if (keyId) void check(keyId);
    else for (const id of byKey.keys()) void check(id);
  });

  return {
    track(socket, principal) {
      if (principal.kind !== 'tenant') return;
      const { keyId } = principal;
      let entry = byKey.get(keyId);
      if (!entry) {
        entry = { sockets: new Set(), checking: false, again: false };
        byKey.set(keyId, entry);
      }
      const mine = entry;
      mine.sockets.add(socket);
      socket.once('close', () => {
        mine.sockets.delete(socket);
        if (mine.sockets.size === 0 && byKey.get(keyId) === mine) {
          clearTimeout(mine.timer);
          byKey.delete(keyId);
        }
      });
      void check(keyId);
    },
    close() {
      unwatch();
      for (const entry of byKey.values()) clearTimeout(entry.timer);
      byKey.clear();
    },
  };
}
