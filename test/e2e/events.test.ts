import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ArtifactNotReadyError, type CofferClient } from '../../client/src/index.ts';
import { poolOf } from '../../server/db/index.ts';
import { events as eventsTable } from '../../server/db/schema/index.ts';
import { Inbox } from '../../server/events/inbox.ts';
import { openEventStream } from '../../server/events/subscription.ts';
import { runCleanup } from '../../server/lifecycle/jobs.ts';
import { tenantScope } from '../../server/tenant-scope.ts';
import type { CofferEvent } from '../../shared/schemas/events.ts';
import { untilRan } from '../support/cleanup.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { putBytes, randomBody, sha256 } from '../support/upload.ts';

let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  [a, b] = await Promise.all([startTestServer(), startTestServer()]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

/** The same tenant on both instances: writes go to A, subscriptions to B. */
async function tenantOnBoth() {
  const t = await a.newTenant();
  return { ...t, onA: t.client, onB: b.client(t.apiKey) };
}

/** Resolves with `value` after `ms`, unless cleared by the test finishing first. */
function after<T>(ms: number, value: T): Promise<T> {
  return new Promise((r) => setTimeout(() => r(value), ms).unref());
}

/**
 * Reads `n` events, failing after `ms` instead of hanging. Streams are ended with their
 * AbortSignal, not `return()`: an async generator queues `return()` behind a pending `next()`.
 */
async function take(it: AsyncIterator<CofferEvent>, n: number, ms = 15_000): Promise<CofferEvent[]> {
  const out: CofferEvent[] = [];
  const timeout = after(ms, 'timeout' as const);
  while (out.length < n) {
    const next = await Promise.race([it.next(), timeout]);
    if (next === 'timeout') throw new Error(`timed out after ${out.length} of ${n} events`);
    if (next.done) throw new Error(`stream ended after ${out.length} of ${n} events`);
    out.push(next.value);
  }
  return out;
}

/** Nothing arrives within `ms`. */
async function expectQuiet(next: Promise<unknown>, ms = 500) {
  expect(await Promise.race([next, after(ms, 'quiet')])).toBe('quiet');
}

const put = (c: CofferClient, i = 0) => c.artifact.put.mutate({ kind: 'agent_trace', payload: { i } });

function expectExactlyOnceInOrder(events: CofferEvent[], artifactIds: string[]) {
  const ids = events.map((e) => e.id);
  expect(ids).toEqual([...ids].sort((x, y) => x - y));
  expect(new Set(ids).size).toBe(ids.length);
  expect(new Set(events.map((e) => e.artifactId))).toEqual(new Set(artifactIds));
  expect(events).toHaveLength(artifactIds.length);
}

describe('artifact.onEvent across instances', () => {
  it('delivers an upload completed on A to a subscriber on B', async () => {
    const t = await tenantOnBoth();
    const got = new Promise<CofferEvent>((resolve, reject) => {
      const started = new Promise<void>((onStarted) => {
        const sub = t.onB.artifact.onEvent.subscribe(
          { types: ['artifact_uploaded'] },
          {
            onStarted: () => onStarted(),
            onData: ({ data }) => {
              sub.unsubscribe();
              resolve(data);
            },
            onError: reject,
          },
        );
      });
      void started.then(() => put(t.onA)).catch(reject);
    });
    const event = await got;
    expect(event.type).toBe('artifact_uploaded');
    expect(event.type === 'artifact_uploaded' && event.data.kind).toBe('agent_trace');
    expect(event.createdAt).toBeInstanceOf(Date);
  });

  it('delivers what commits after "started" while the subscriber\'s instance is still placing the stream (5 rounds)', async () => {
    // The first subscriber of a tenant on an instance waits for one query (where the stream starts).
    // "started" must not reach the client before that query has run: a put committed in between
    // would be counted as history and never delivered. B's pool is held so that query waits.
    const pool = poolOf(b.deps.db);
    for (let round = 0; round < 5; round++) {
      const t = await tenantOnBoth();
      const held = await Promise.all(Array.from({ length: pool.options.max }, () => pool.connect()));
      const freed = new Promise((r) => setTimeout(r, 300)).then(() => {
        for (const c of held) c.release();
      });
      const got = new Promise<CofferEvent>((resolve, reject) => {
        const sub = t.onB.artifact.onEvent.subscribe(
          { types: ['artifact_uploaded'] },
          {
            onStarted: () => void put(t.onA).catch(reject),
            onData: ({ data }) => {
              sub.unsubscribe();
              resolve(data);
            },
            onError: reject,
          },
        );
      });
      const event = await Promise.race([got, new Promise((r) => setTimeout(() => r('no event within 5 s'), 5_000).unref())]);
      await freed;
      expect(event).toMatchObject({ type: 'artifact_uploaded' });
    }
  });

  it('lets go of a subscription its client stopped while the stream was being placed', async () => {
    const t = await tenantOnBoth();
    const pool = poolOf(b.deps.db);
    const held = await Promise.all(Array.from({ length: pool.options.max }, () => pool.connect()));
    try {
      const sub = t.onB.artifact.onEvent.subscribe({}, { onData: () => {} });
      await expect.poll(() => b.deps.events.size).toBe(1); // registered, waiting for B's pool
      sub.unsubscribe();
      await new Promise((r) => setTimeout(r, 100)); // the stop reaches B before its pool frees
    } finally {
      for (const c of held) c.release();
    }
    await expect.poll(() => b.deps.events.size).toBe(0);
  });

  it('resumes after B drops the socket mid-burst: 200 events, each exactly once, in order', async () => {
    const t = await tenantOnBoth();
    const stop = new AbortController();
    const it = t.onB.events({ types: ['artifact_uploaded'] }, { signal: stop.signal });
    const first = it.next(); // starts the subscription
    const ids: string[] = [];
    let dropped = 0;
    const writer = (async () => {
      for (let i = 0; i < 200; i += 5) {
        const batch = await Promise.all(Array.from({ length: 5 }, (_, j) => put(t.onA, i + j)));
        ids.push(...batch.map((x) => x.id));
        if (i === 80) {
          for (const ws of b.app.websocketServer.clients) {
            ws.terminate();
            dropped++;
          }
        }
      }
    })();
    const events = [(await first).value as CofferEvent, ...(await take(it, 199, 20_000))];
    await writer;
    expect(dropped).toBeGreaterThan(0);
    expectExactlyOnceInOrder(events, ids);
    await expectQuiet(it.next(), 300);
    stop.abort();
  });

  it('never shows one tenant the events of another, whatever the filter', async () => {
    const one = await tenantOnBoth();
    const two = await tenantOnBoth();
    const mine = await put(one.onA);
    const stop = new AbortController();
    const forged = two.onB.events({ artifactId: mine.id, lastEventId: '0' }, { signal: stop.signal });
    const all = two.onB.events({ lastEventId: '0' }, { signal: stop.signal });
    const pendingForged = forged.next();
    const pendingAll = all.next();
    await Promise.all(Array.from({ length: 5 }, () => put(one.onA)));
    const own = await put(two.onA);
    const [first] = await take({ next: () => pendingAll }, 1);
    expect(first?.artifactId).toBe(own.id);
    await expectQuiet(pendingForged);
    stop.abort();
  });

  it('applies filters to the backfill and to live events alike', async () => {
    const t = await tenantOnBoth();
    const putKind = (kind: string) => t.onA.artifact.put.mutate({ kind, payload: {} });
    await putKind('agent_trace');
    const old = await putKind('attachment');
    const stop = new AbortController();
    const it = t.onB.events({ kinds: ['attachment'], types: ['artifact_uploaded'], lastEventId: '0' }, { signal: stop.signal });
    const [backfilled] = await take(it, 1);
    expect(backfilled?.artifactId).toBe(old.id);
    await putKind('agent_trace');
    const live = await putKind('attachment');
    const [next] = await take(it, 1);
    expect(next?.artifactId).toBe(live.id);
    stop.abort();
  });

  it('refuses an invalid lastEventId with BAD_REQUEST', async () => {
    const t = await tenantOnBoth();
    for (const lastEventId of ['abc', '-1', '1.5', '999999999999999']) {
      const it = t.onB.events({ lastEventId });
      await expectTrpcError(it.next(), 'BAD_REQUEST');
    }
  });

  it("refuses a lastEventId past the tenant's own newest event, and names no id (audit: a global counter leaked)", async () => {
    const t = await tenantOnBoth();
    const other = await tenantOnBoth();
    // A cursor counts only events below the cluster-wide horizon, which a write transaction still
    // open anywhere (other test files share the database) holds back: wait for it to pass.
    const cursorPast = (c: CofferClient, id: number) =>
      vi.waitFor(
        async () => {
          const { lastEventId } = await c.artifact.eventCursor.query();
          expect(Number(lastEventId)).toBeGreaterThan(id);
          return lastEventId;
        },
        { timeout: 15_000, interval: 50 },
      );
    const first = await put(t.onA);
    const own = await cursorPast(t.onA, 0);
    for (let i = 0; i < 3; i++) await put(other.onA); // other tenants' activity moves the ids on
    const theirs = await cursorPast(other.onA, Number(own));
    // An id this tenant was never given is refused, although other tenants' events reached it...
    const err = await expectTrpcError(t.onB.events({ lastEventId: theirs }).next(), 'BAD_REQUEST', /newest event/);
    // ...and no answer carries an id: neither the one sent back nor anything to compare it with.
    expect(err.message).not.toMatch(/\d{2,}/);
    const huge = await expectTrpcError(t.onB.events({ lastEventId: '999999999999999' }).next(), 'BAD_REQUEST');
    expect(huge.message).not.toMatch(/\d{2,}/);
    // The tenant's own cursor resumes. The cursor stays below writes still in flight anywhere, so
    // the first put's event may come once more before the fresh one; nothing else may.
    const stop = new AbortController();
    const it = t.onB.events({ lastEventId: own }, { signal: stop.signal });
    const next = it.next();
    const fresh = await put(t.onA);
    const seen = [(await next).value?.artifactId];
    if (seen[0] !== fresh.id) seen.push((await it.next()).value?.artifactId);
    expect(seen.at(-1)).toBe(fresh.id);
    expect(seen.length === 1 || seen[0] === first.id).toBe(true);
    stop.abort();
  });

  it('reports a failed checksum as artifact_failed', async () => {
    const t = await tenantOnBoth();
    const stop = new AbortController();
    const it = t.onB.events({ types: ['artifact_failed'] }, { signal: stop.signal });
    const next = it.next();
    const body = randomBody(2048);
    const { artifact, upload } = await t.onA.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: body.length,
      sha256: sha256(randomBody(16)),
    });
    await putBytes(t.onA, artifact.id, upload, body);
    await expectTrpcError(t.onA.artifact.completeUpload.mutate({ id: artifact.id }), 'PRECONDITION_FAILED');
    const { value } = await next;
    expect(value).toMatchObject({
      type: 'artifact_failed',
      artifactId: artifact.id,
      data: { kind: 'attachment', reason: expect.stringMatching(/sha256/) },
    });
    stop.abort();
  });
});

describe('waitUntilReady', () => {
  async function pendingUpload(c: CofferClient, declared?: string) {
    const body = randomBody(1024);
    const created = await c.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: body.length,
      sha256: declared ?? sha256(body),
    });
    await putBytes(c, created.artifact.id, created.upload, body);
    return created.artifact;
  }

  it('returns at once for an artifact that is already ready', async () => {
    const t = await tenantOnBoth();
    const ready = await put(t.onA);
    const before = b.deps.events.size;
    const started = performance.now();
    const got = await t.onB.waitUntilReady({ artifactId: ready.id });
    expect(got.status).toBe('ready');
    expect(performance.now() - started).toBeLessThan(1000);
    expect(b.deps.events.size).toBe(before); // it never subscribed
  });

  it('resolves when the upload is completed, on another instance', async () => {
    const t = await tenantOnBoth();
    const artifact = await pendingUpload(t.onA);
    const waiting = t.onB.waitUntilReady({ artifactId: artifact.id }, { timeoutMs: 15_000 });
    await new Promise((r) => setTimeout(r, 200));
    await t.onA.artifact.completeUpload.mutate({ id: artifact.id });
    expect(await waiting).toMatchObject({ id: artifact.id, status: 'ready' });
  });

  it('rejects with the reason when the upload fails', async () => {
    const t = await tenantOnBoth();
    const artifact = await pendingUpload(t.onA, sha256(randomBody(8)));
    const waiting = t.onB.waitUntilReady({ artifactId: artifact.id }, { timeoutMs: 15_000 });
    waiting.catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    await t.onA.artifact.completeUpload.mutate({ id: artifact.id }).catch(() => {});
    const err = await waiting.then(
      () => expect.fail('expected a rejection'),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ArtifactNotReadyError);
    expect((err as ArtifactNotReadyError).reason).toMatch(/sha256 check failed/);
  });

  it('waits for a version: ready when its snapshot is completed', async () => {
    const t = await tenantOnBoth();
    const body = randomBody(4096);
    const { version, upload } = await t.onA.version.create.mutate({
      projectId: 'events-test',
      source: 'build',
      snapshot: { sizeBytes: body.length, sha256: sha256(body) },
    });
    const waiting = t.onB.waitUntilReady({ versionId: version.id }, { timeoutMs: 15_000 });
    await putBytes(t.onA, version.snapshotArtifactId!, upload!, body);
    await new Promise((r) => setTimeout(r, 200));
    await t.onA.artifact.completeUpload.mutate({ id: version.snapshotArtifactId! });
    expect(await waiting).toMatchObject({ id: version.id, status: 'ready' });
    expect((await t.onB.waitUntilReady({ versionId: version.id })).status).toBe('ready'); // already ready: at once
  });

  it('times out with a TimeoutError', async () => {
    const t = await tenantOnBoth();
    const artifact = await pendingUpload(t.onA);
    await expect(t.onB.waitUntilReady({ artifactId: artifact.id }, { timeoutMs: 300 })).rejects.toMatchObject({ name: 'TimeoutError' });
  });
});

describe('resilience and limits', () => {
  it('re-establishes LISTEN after the listener is killed and loses no event', async () => {
    const t = await tenantOnBoth();
    const stop = new AbortController();
    const it = t.onB.events({ types: ['artifact_uploaded'] }, { signal: stop.signal });
    const first = it.next();
    const ids = [(await put(t.onA, -1)).id];
    await first;
    // Only this process's listeners (A's and B's): test files running beside this one keep theirs.
    const ours = `coffer-events-listener ${process.pid}`;
    const killed = await a.systemDb.execute<{ ok: boolean }>(
      sql`select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = ${ours}`,
    );
    expect(killed.rows.length).toBeGreaterThanOrEqual(2); // A's and B's listeners at least
    for (let i = 0; i < 30; i++) {
      ids.push((await put(t.onA, i)).id);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 100)); // spread writes over the outage and after it
    }
    const rest = await take(it, 30);
    expectExactlyOnceInOrder(rest, ids.slice(1));
    const listening = await a.systemDb.execute(sql`select 1 from pg_stat_activity where application_name = ${ours}`);
    expect(listening.rows.length).toBeGreaterThanOrEqual(2);
    stop.abort();
  });

  it('cuts off a subscriber whose socket cannot keep up (SLOW_CONSUMER) instead of buffering', async () => {
    const t = await a.newTenant();
    const tenant = tenantScope(a.deps.db, { tenantId: t.tenantId, keyId: t.keyId, scopes: ['read'] });
    const socket = { bufferedAmount: 0 };
    const stream = await openEventStream(
      { hub: a.deps.events },
      tenant,
      { lastEventId: '0' },
      { socket, limits: { maxBufferedBytes: 1000 } },
    );
    const gen = stream[Symbol.asyncIterator]();
    await put(t.client);
    await put(t.client);
    expect((await gen.next()).value).toBeDefined();
    socket.bufferedAmount = 5000; // the socket stopped draining
    await expect(gen.next()).rejects.toMatchObject({ code: 'TOO_MANY_REQUESTS', message: expect.stringMatching(/subscriber too slow/) });
    expect(a.deps.events.size).toBe(0);
  });

  it('closing a server closes its sockets and ends its subscriptions', async () => {
    const c = await startTestServer();
    const t = await c.newTenant();
    const stop = new AbortController();
    const it = t.client.events({}, { signal: stop.signal });
    void it.next().catch(() => {});
    await expect.poll(() => c.deps.events.size).toBe(1);
    const started = performance.now();
    await c.close();
    expect(performance.now() - started).toBeLessThan(5000);
    expect(c.deps.events.size).toBe(0);
    stop.abort();
  });

  it('a subscription that ends after the hub closed leaves its count at 0', async () => {
    // The socket of a closing server can end its subscription after the hub is gone (seen with
    // Node 24's WebSocket on a busy machine); removing it then must not count below zero.
    const c = await startTestServer();
    const t = await c.newTenant();
    const subscription = c.deps.events.subscribe(t.tenantId, new Inbox(10, () => true));
    expect(c.deps.events.size).toBe(1);
    await c.close();
    subscription.unsubscribe();
    expect(c.deps.events.size).toBe(0);
  });

  it('prunes events past retention as the event-log cleanup job, recorded like the others', async () => {
    const t = await a.newTenant();
    const day = 24 * 60 * 60 * 1000;
    await a.systemDb
      .insert(eventsTable)
      .values({ tenantId: t.tenantId, type: 'artifact_deleted', data: { kind: 'x' }, createdAt: new Date(Date.now() - 8 * day) });
    const fresh = await put(t.client);
    const mine = () =>
      a.systemDb.select({ artifactId: eventsTable.artifactId }).from(eventsTable).where(eq(eventsTable.tenantId, t.tenantId));
    const dry = await untilRan(() => runCleanup(a.deps, { job: 'event-log', dryRun: true, triggeredBy: 'test' }));
    expect(dry).toMatchObject({ status: 'ran', run: { job: 'event-log', status: 'completed', dryRun: true } });
    expect(await mine()).toHaveLength(2);
    const ran = await untilRan(() => runCleanup(a.deps, { job: 'event-log', triggeredBy: 'test', batchSize: 1 }));
    expect(ran.status === 'ran' && ran.run.deleted).toBeGreaterThanOrEqual(1);
    expect(await mine()).toEqual([{ artifactId: fresh.id }]);
    expect(
      await a.systemDb
        .select()
        .from(eventsTable)
        .where(and(eq(eventsTable.tenantId, t.tenantId), eq(eventsTable.type, 'artifact_deleted'))),
    ).toEqual([]);
  });
});
