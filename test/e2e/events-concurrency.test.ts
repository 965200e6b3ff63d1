import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CofferClient } from '../../client/src/index.ts';
import { type Db, withTenant } from '../../server/db/index.ts';
import { events } from '../../server/db/schema/index.ts';
import { NOTIFY_GAP_MS } from '../../server/events/announcer.ts';
import { appendEvent, appendEvents } from '../../server/events/append.ts';
import { decodeEventPointers, EVENTS_CHANNEL } from '../../server/events/notification.ts';
import type { CofferEvent } from '../../shared/schemas/events.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The event log takes no lock (server/events/append.ts): one tenant's writers commit in any
 * order. Subscribers must still get every event exactly once, ids increasing, no gap, on the
 * writing instance and on another one, live and resumed. Writers hold their transactions open for
 * shifting times after writing, so later ids keep committing before earlier ones.
 */
let a: TestServer;
let b: TestServer;
beforeAll(async () => {
  [a, b] = await Promise.all([startTestServer(), startTestServer()]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One event in a transaction that stays open `holdMs`; with `early` it takes its transaction id
 * first (as a service's own row write does), so that its event sorts before those of transactions
 * that start after it but commit before it.
 */
async function write(db: Db, tenantId: string, holdMs: number, early: boolean): Promise<void> {
  await withTenant(db, tenantId, async (tx) => {
    if (early) await tx.execute(sql`select pg_current_xact_id()`);
    await appendEvent(tx, tenantId, { type: 'artifact_deleted', artifactId: randomUUID(), data: { kind: 'agent_trace' } });
    await sleep(holdMs);
  });
}

/** Every event id the tenant has, as committed. */
async function committedIds(tenantId: string): Promise<number[]> {
  const rows = await a.systemDb.select({ id: events.id }).from(events).where(eq(events.tenantId, tenantId));
  return rows.map((r) => r.id);
}

/** Collects a stream's events until `n` arrived. */
async function collect(client: CofferClient, n: number, filter: { lastEventId?: string }, signal: AbortSignal): Promise<CofferEvent[]> {
  const out: CofferEvent[] = [];
  for await (const e of client.events(filter, { signal })) {
    out.push(e);
    if (out.length === n) break;
  }
  return out;
}

function expectExactly(got: CofferEvent[], committed: number[]) {
  const ids = got.map((e) => e.id);
  for (let i = 1; i < ids.length; i++) expect(ids[i]!, `ids increase at ${i}`).toBeGreaterThan(ids[i - 1]!);
  expect(ids).toEqual([...committed].sort((x, y) => x - y));
}

describe('many concurrent writers of one tenant', () => {
  it('every subscriber, on either instance, live or resumed, sees every event once, in increasing id order (5 rounds)', async () => {
    for (let round = 0; round < 5; round++) {
      const t = await a.newTenant();
      const onB = b.client(t.apiKey);
      const { lastEventId: start } = await t.client.artifact.eventCursor.query();
      const writers = 16;
      const perWriter = 12;
      const total = writers * perWriter;
      const stop = new AbortController();
      const streams = [
        collect(t.client, total, { lastEventId: start }, stop.signal),
        collect(t.client, total, { lastEventId: start }, stop.signal),
        collect(onB, total, { lastEventId: start }, stop.signal),
        collect(onB, total, { lastEventId: start }, stop.signal),
      ];
      await sleep(200); // subscribed and live before the writes start
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          const db = w % 2 ? b.deps.db : a.deps.db;
          for (let i = 0; i < perWriter; i++) await write(db, t.tenantId, ((w * 7 + i * 3 + round) % 6) * 3, (w + i) % 3 === 0);
        }),
      );
      const committed = await committedIds(t.tenantId);
      expect(committed).toHaveLength(total);
      const timeout = setTimeout(() => stop.abort(), 20_000);
      const results = await Promise.all(streams);
      for (const got of results) expectExactly(got, committed);
      // A subscriber resuming from the middle gets exactly the rest.
      const sorted = [...committed].sort((x, y) => x - y);
      const middle = sorted[total / 2 - 1]!;
      const rest = await collect(onB, total / 2, { lastEventId: String(middle) }, stop.signal);
      expectExactly(rest, sorted.slice(total / 2));
      clearTimeout(timeout);
      stop.abort();
    }
  }, 120_000);

  it("keeps a transaction's events in the order they were appended, and commits none if their insert fails", async () => {
    const t = await a.newTenant();
    const news = Array.from({ length: 40 }, (_, i) => ({
      type: 'artifact_deleted' as const,
      artifactId: randomUUID(),
      data: { kind: `k${i}` },
    }));
    await withTenant(a.deps.db, t.tenantId, async (tx) => {
      await appendEvents(tx, t.tenantId, news.slice(0, 10));
      await appendEvents(tx, t.tenantId, news.slice(10));
    });
    const rows = await a.systemDb.select().from(events).where(eq(events.tenantId, t.tenantId)).orderBy(events.id);
    expect(rows.map((r) => r.artifactId)).toEqual(news.map((e) => e.artifactId));
    // A value the insert refuses (artifact_id is a uuid): the COMMIT behind it rolls back, and the error reaches the caller.
    const bad = withTenant(a.deps.db, t.tenantId, async (tx) => {
      await appendEvent(tx, t.tenantId, { type: 'artifact_deleted', artifactId: randomUUID(), data: { kind: 'fine' } });
      await appendEvent(tx, t.tenantId, { type: 'artifact_deleted', artifactId: 'not-a-uuid', data: { kind: 'bad' } });
    });
    await expect(bad).rejects.toMatchObject({ code: '22P02' });
    expect(await committedIds(t.tenantId)).toHaveLength(40);
  });

  it('writers of one tenant do not wait for each other', async () => {
    const t = await a.newTenant();
    // Two transactions of the same tenant, each holding its event uncommitted: with a per-tenant
    // write lock the second could not write until the first committed.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = withTenant(a.deps.db, t.tenantId, async (tx) => {
      await tx.execute(sql`select pg_current_xact_id()`); // a write transaction, as a service's
      await appendEvent(tx, t.tenantId, { type: 'artifact_deleted', artifactId: randomUUID(), data: { kind: 'x' } });
      await held;
    });
    await sleep(50);
    const started = performance.now();
    await write(a.deps.db, t.tenantId, 0, false);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await committedIds(t.tenantId)).toHaveLength(1); // the second committed while the first is open
    release();
    await first;
    const [older, newer] = (await committedIds(t.tenantId)).sort((x, y) => x - y);
    expect(older).toBeLessThan(newer!); // ids follow the transactions' start, not their commit
  });

  it('a busy instance announces its commits in few NOTIFYs, and announces the newest id', async () => {
    const t = await a.newTenant();
    const listener = new pg.Client({ connectionString: inject('databaseRoles').app });
    await listener.connect();
    const heard: number[] = [];
    listener.on('notification', (n) => {
      for (const p of decodeEventPointers(n.payload ?? '')) if (p.tenantId === t.tenantId) heard.push(p.id);
    });
    await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
    try {
      // 16 writers committing back to back on one instance: hundreds of commits a second.
      const started = performance.now();
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          for (let i = 0; i < 20; i++) await write(a.deps.db, t.tenantId, 0, false);
        }),
      );
      const elapsed = performance.now() - started;
      const committed = await committedIds(t.tenantId);
      const newest = Math.max(...committed);
      await expect.poll(() => Math.max(...heard), { timeout: 5_000 }).toBe(newest);
      // One NOTIFY per commit, or per round trip of the last one, would be well over a hundred here.
      expect(committed).toHaveLength(320);
      // At most one per NOTIFY_GAP_MS (with room for timers that fire a little early), plus the trailing one.
      expect(heard.length).toBeLessThanOrEqual(Math.ceil((elapsed * 1.2) / NOTIFY_GAP_MS) + 2);
    } finally {
      await listener.end();
    }
  });
});
