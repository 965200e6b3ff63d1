import { and, eq, inArray } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CofferClient } from '../../client/src/index.ts';
import { artifacts } from '../../server/db/schema/index.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { type SwitchableStorage, startStallingServer, switchableStorage } from '../support/faulty-storage.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { putBytes, randomBody, sha256 } from '../support/upload.ts';

/** Every call must answer within this, however the dependencies misbehave. */
const BOUND_MS = 12_000;

let server: TestServer;
let storage: SwitchableStorage;
let stall: Awaited<ReturnType<typeof startStallingServer>>;
/** `admin` holds row locks inside transactions; `watcher` looks and kills from outside them (pg_stat_activity is snapshotted per transaction). */
let admin: pg.Client;
let watcher: pg.Client;
const tenants: string[] = [];
let scenarios = 0;

beforeAll(async () => {
  stall = await startStallingServer();
  storage = switchableStorage(stall.url);
  server = await startTestServer({
    storage: (real) => storage.wrap(real),
    env: { COFFER_PART_SIZE: String(5 * 1024 * 1024) },
  });
  admin = new pg.Client({ connectionString: inject('databaseUrl') });
  watcher = new pg.Client({ connectionString: inject('databaseUrl') });
  await Promise.all([admin.connect(), watcher.connect()]);
});
afterAll(async () => {
  console.info(`[faults] ${scenarios} fault scenarios, every answer typed and bounded, no ready row without its object`);
  await Promise.all([admin?.end(), watcher?.end()]);
  await server?.close();
  await stall?.close();
});

async function tenant() {
  const t = await server.newTenant();
  tenants.push(t.tenantId);
  return t;
}

/** Awaits `p`, which must fail with `code` within BOUND_MS. */
async function failsFast(p: Promise<unknown>, code: string) {
  const started = Date.now();
  const err = await expectTrpcError(p, code);
  expect(Date.now() - started).toBeLessThan(BOUND_MS);
  expect(err.message).not.toMatch(/127\.0\.0\.1|secret|select |insert |update /i);
  scenarios++;
  return err;
}

/** Terminates the app's backend that waits on a lock this test's connection holds. */
async function killBackendBlockedByUs(): Promise<void> {
  const me = (await admin.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
  for (let i = 0; i < 200; i++) {
    const { rows } = await watcher.query<{ pid: number }>('select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [me]);
    if (rows.length) {
      await watcher.query('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [rows.map((r) => r.pid)]);
      return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no app backend ever waited on our lock');
}

/** Holds a row lock while `during` runs, then releases it. */
async function withRowLock(table: 'artifacts' | 'api_keys', id: string, during: () => Promise<void>) {
  await admin.query('begin');
  try {
    await admin.query(`select 1 from ${table} where id = $1 for update`, [id]);
    await during();
  } finally {
    await admin.query('rollback');
  }
}

const uploadFor = (c: CofferClient, bytes: Uint8Array) =>
  c.artifact.createUpload.mutate({
    kind: 'attachment',
    contentType: 'application/octet-stream',
    sizeBytes: bytes.length,
    sha256: sha256(bytes),
  });

describe('storage slow or unreachable', () => {
  it.each(['stalled', 'dead'] as const)(
    'answers put, createUpload, completeUpload and downloads with typed, bounded errors (%s)',
    async (mode) => {
      const t = await tenant();
      const ready = await t.client.artifact.put.mutate({ kind: 'attachment', payload: { ok: 1 } });
      const small = randomBody(100);
      const pendingSmall = await uploadFor(t.client, small);
      await putBytes(t.client, pendingSmall.artifact.id, pendingSmall.upload, small);
      storage.mode = mode;
      try {
        await failsFast(t.client.artifact.put.mutate({ kind: 'attachment', payload: { a: 1 } }), 'SERVICE_UNAVAILABLE');
        // Starting an upload and signing its parts need nothing of the bucket (S3 signs locally): they answer.
        const big = await t.client.artifact.createUpload.mutate({
          kind: 'attachment',
          contentType: 'application/zip',
          sizeBytes: 20 * 1024 * 1024,
          sha256: 'a'.repeat(64),
        });
        await expect(
          t.client.artifact.signParts.mutate({ id: big.artifact.id, parts: [{ partNumber: 1, md5: 'AAAAAAAAAAAAAAAAAAAAAA==' }] }),
        ).resolves.toMatchObject({ parts: [{ partNumber: 1 }] });
        await failsFast(t.client.artifact.completeUpload.mutate({ id: pendingSmall.artifact.id }), 'SERVICE_UNAVAILABLE');
        await failsFast(t.client.artifact.get.query({ id: ready.id }), 'SERVICE_UNAVAILABLE');
        // Download URLs are signed locally: they are issued (and fail later, at storage) rather than hang.
        const started = Date.now();
        await expect(t.client.artifact.getDownloadUrl.query({ id: ready.id })).resolves.toMatchObject({ url: expect.any(String) });
        expect(Date.now() - started).toBeLessThan(BOUND_MS);
        scenarios++;
      } finally {
        storage.mode = 'real';
      }
      // Recovery: the pending upload stayed pending (retryable) and completes now.
      await expect(t.client.artifact.completeUpload.mutate({ id: pendingSmall.artifact.id })).resolves.toMatchObject({ status: 'ready' });
    },
    90_000,
  );
});

describe('database connection killed mid-request', () => {
  it("a key's first-use write is off the request's path: blocked, it delays nothing; killed, it fails nothing", async () => {
    const t = await tenant();
    const k = await server.admin.admin.createApiKey.mutate({ tenantId: t.tenantId, name: 'fresh', scopes: ['read'] });
    const c = server.client(k.key);
    // A fresh key's first use writes last_used_at: that UPDATE waits on our lock, and is killed.
    await withRowLock('api_keys', k.id, async () => {
      const call = c.artifact.list.query({});
      const blocked = new Promise((r) => setTimeout(() => r('still waiting after 2 s'), 2_000));
      expect(await Promise.race([call, blocked])).toMatchObject({ items: [] });
      await killBackendBlockedByUs();
      scenarios++;
    });
    await expect(c.artifact.list.query({})).resolves.toMatchObject({ items: [] });
  });

  it('inside a procedure: SERVICE_UNAVAILABLE, and a retry succeeds', async () => {
    const t = await tenant();
    const a = await t.client.artifact.put.mutate({ kind: 'attachment', payload: { x: 1 } });
    await withRowLock('artifacts', a.id, async () => {
      const call = t.client.artifact.delete.mutate({ id: a.id });
      await killBackendBlockedByUs();
      await failsFast(call, 'SERVICE_UNAVAILABLE');
    });
    await expect(t.client.artifact.delete.mutate({ id: a.id })).resolves.toMatchObject({ deleted: true });
  });

  it('between the object write and the row update: no ready row without its object, and the next put works', async () => {
    const t = await tenant();
    storage.afterPut = async (key) => {
      storage.afterPut = undefined;
      const id = key.split('/').at(-1)!.split('.')[0]!;
      // Lock the row, let put return; markReady's UPDATE then waits and is killed.
      await admin.query('begin');
      await admin.query('select 1 from artifacts where id = $1 for update', [id]);
      void killBackendBlockedByUs().finally(() => admin.query('rollback'));
    };
    await failsFast(t.client.artifact.put.mutate({ kind: 'attachment', payload: { crash: true } }), 'SERVICE_UNAVAILABLE');
    const rows = await server.systemDb.select().from(artifacts).where(eq(artifacts.tenantId, t.tenantId));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.status).toBe('pending'); // the object exists; the cleanup's stale-uploads pass reclaims it
    expect(await server.deps.storage.head(rows[0]!.storageKey)).not.toBeNull();
    await expect(t.client.artifact.put.mutate({ kind: 'attachment', payload: { after: true } })).resolves.toMatchObject({
      status: 'ready',
    });
  });
});

describe('after every fault', () => {
  it('has no ready row without its object', async () => {
    const ready = await server.systemDb
      .select()
      .from(artifacts)
      .where(and(inArray(artifacts.tenantId, tenants), eq(artifacts.status, 'ready')));
    expect(ready.length).toBeGreaterThan(0);
    for (const row of ready) expect(await server.deps.storage.head(row.storageKey), row.id).not.toBeNull();
  });
});
