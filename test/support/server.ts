import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { inject } from 'vitest';
import WS from 'ws';
import { type CofferClient, createCofferClient } from '../../client/src/index.ts';
import { buildApp } from '../../server/app.ts';
import { type Config, loadConfig } from '../../server/config/index.ts';
import type { Db } from '../../server/db/index.ts';
import type { Deps } from '../../server/deps.ts';
import { startRuntime } from '../../server/runtime.ts';
import { createStorage } from '../../server/storage/index.ts';
import type { Storage } from '../../server/storage/types.ts';
import { ensureBucket, type SeparateBucket } from './bucket.ts';
import { createOwnerDb } from './system-db.ts';

export type Backend = 's3' | 'fs';
export const BACKENDS: Backend[] = ['s3', 'fs'];

export interface TestServer {
  url: string;
  adminToken: string;
  deps: Deps;
  /** The Fastify app, for tests that reach the WebSocket server (e.g. to drop connections). */
  app: FastifyInstance;
  admin: CofferClient;
  /** A client for a fresh tenant, so tests never share data. */
  newTenant(name?: string): Promise<{ tenantId: string; apiKey: string; keyId: string; client: CofferClient }>;
  client(token: string): CofferClient;
  /**
   * For tests that inspect or arrange rows directly: every tenant's rows, as the tables' owner
   * (`deps.db` sees none outside withTenant, which is the point). See test/support/system-db.ts.
   */
  readonly systemDb: Db;
  close(): Promise<void>;
}

const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

/**
 * A real Coffer on port 0, against the run's Postgres and the chosen storage backend.
 * `overrides` tweak config; `storage` replaces the backend (e.g. one pointed at a dead endpoint).
 */
export async function startTestServer(
  opts: {
    backend?: Backend;
    env?: Record<string, string>;
    storage?: (s: Storage) => Storage /** The app's clock (lifecycle tests move it). */;
    now?: () => Date /** Log lines go here (at LOG_LEVEL) instead of nowhere. */;
    logStream?: NodeJS.WritableStream;
    /**
     * A bucket of the run's S3 server for this server alone (created if missing), for tests whose
     * sweeps would otherwise reach other files' objects.
     */
    bucket?: SeparateBucket;
  } = {},
): Promise<TestServer> {
  const backend = opts.backend ?? 's3';
  const dataDir = await mkdtemp(join(tmpdir(), 'coffer-test-'));
  const base = loadConfig({ COFFER_DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...opts.env });
  const config: Config = {
    ...base,
    databaseUrl: inject('databaseUrl'),
    storage:
      backend === 's3' ? { ...inject('s3'), ...(opts.bucket && { bucket: opts.bucket }) } : { kind: 'fs', root: join(dataDir, 'objects') },
    adminToken: ADMIN_TOKEN,
    signingSecret: 'test-signing-secret-0123456789abcdef0123456789',
  };
  if (config.storage.kind === 's3' && opts.bucket) await ensureBucket(config.storage);
  const runtime = await startRuntime(inject('databaseRoles'), { poolMax: 5, listenerBackoffMs: { min: 50, max: 500 } });
  let url = '';
  const real = createStorage(config.storage, { signingSecret: config.signingSecret!, publicUrl: () => url });
  const storage = opts.storage ? opts.storage(real) : real;
  const { db, systemDb, events, credentials } = runtime;
  await events.ready;
  const deps: Deps = { config, db, systemDb, storage, events, credentials, now: opts.now ?? (() => new Date()) };
  const app = await buildApp(deps, opts.logStream ? { logStream: opts.logStream } : { logger: false });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
  const clients: CofferClient[] = [];
  const client = (token: string) => {
    // As @coffer/client/node does: the runtime's WebSocket on Node 22+ (CI's Node 24 run), `ws` on Node 20.
    const c = createCofferClient({ url, token, WebSocket: globalThis.WebSocket ?? (WS as unknown as typeof globalThis.WebSocket) });
    clients.push(c);
    return c;
  };
  const admin = client(ADMIN_TOKEN);
  let system: ReturnType<typeof createOwnerDb> | undefined;
  return {
    url,
    adminToken: ADMIN_TOKEN,
    deps,
    app,
    admin,
    client,
    get systemDb() {
      system ??= createOwnerDb(config.databaseUrl!);
      return system.db;
    },
    async newTenant(name = 'test tenant') {
      const { tenant, apiKey } = await admin.admin.createTenant.mutate({ name });
      return { tenantId: tenant.id, apiKey: apiKey.key, keyId: apiKey.id, client: client(apiKey.key) };
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await app.close();
      await runtime.close();
      await system?.pool.end();
      // Retried: a request still in flight when the app closed may write a part a moment later.
      await rm(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    },
  };
}
