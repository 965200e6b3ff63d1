import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { CofferClient } from '../../client/src/index.ts';
import { fanoutStats } from '../../server/ws-fanout.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * Live events skip tRPC's per-subscriber serialization (server/ws-fanout.ts); what goes on the
 * wire must not change. A raw WebSocket client, speaking tRPC's protocol itself, receives the same
 * events once through the fast path (live) and once through tRPC's own path (a resumed backfill),
 * under the same request id: the frames must be identical, byte for byte.
 */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

interface RawSubscriber {
  frames: string[];
  started: Promise<void>;
  close(): void;
}

/** tRPC's WebSocket protocol by hand: connection params first, then one subscription. */
function rawSubscribe(token: string, request: Record<string, unknown>): RawSubscriber {
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/trpc?connectionParams=1`);
  const frames: string[] = [];
  const started = new Promise<void>((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', () => {
      ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
      ws.send(JSON.stringify(request));
    });
    ws.on('message', (data, isBinary) => {
      expect(isBinary).toBe(false); // tRPC sends text frames
      const text = data.toString();
      if (text.includes('"type":"started"')) resolve();
      else if (text.includes('"type":"data"')) frames.push(text);
      else if (text.includes('"error"')) reject(new Error(text));
    });
  });
  return { frames, started, close: () => ws.close() };
}

const subscription = (id: number | string, input: Record<string, unknown>, jsonrpc?: '2.0') => ({
  id,
  ...(jsonrpc ? { jsonrpc } : {}),
  method: 'subscription',
  params: { path: 'artifact.onEvent', input: { json: input } },
});

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function puts(client: CofferClient, n: number) {
  for (let i = 0; i < n; i++) await client.artifact.put.mutate({ kind: 'agent_trace', payload: { i, at: new Date().toISOString() } });
}

describe('fan-out on the wire', () => {
  for (const [label, id, jsonrpc] of [
    ['numeric ids', 7, undefined],
    ['string ids and jsonrpc 2.0', 'sub-1', '2.0'],
  ] as const) {
    it(`sends live events in exactly the bytes tRPC sends (${label})`, async () => {
      const t = await server.newTenant();
      const { lastEventId: before } = await t.client.artifact.eventCursor.query();
      const live = rawSubscribe(t.apiKey, subscription(id, {}, jsonrpc));
      await live.started;
      const directBefore = fanoutStats.directSends;
      await puts(t.client, 5);
      await until(() => live.frames.length === 5);
      expect(fanoutStats.directSends - directBefore).toBeGreaterThanOrEqual(3); // the first went through tRPC, to learn the id
      const replay = rawSubscribe(t.apiKey, subscription(id, { lastEventId: before }, jsonrpc));
      await replay.started;
      await until(() => replay.frames.length === 5);
      expect(live.frames).toEqual(replay.frames);
      // And the frames are what the plain client decodes (superjson: createdAt is a Date again).
      const first = JSON.parse(live.frames[0]!);
      expect(first).toMatchObject({ id, result: { type: 'data', id: expect.any(String) } });
      expect(first.result.data.meta.values).toMatchObject({ 'data.createdAt': ['Date'] });
      live.close();
      replay.close();
    });
  }

  it('a plain wsLink client gets live events, filtered, in order, from the fast path', async () => {
    const t = await server.newTenant();
    const subscriptions = () => server.deps.events.size;
    await expect.poll(subscriptions, { timeout: 10_000 }).toBe(0); // the raw sockets above have closed
    const stop = new AbortController();
    const it = t.client.events({ kinds: ['attachment'] }, { signal: stop.signal });
    const first = it.next();
    // events() reads its cursor before it subscribes: once counted, it gets every put below.
    await expect.poll(subscriptions, { timeout: 10_000 }).toBe(1);
    const directBefore = fanoutStats.directSends;
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      await t.client.artifact.put.mutate({ kind: 'agent_trace', payload: { i } });
      ids.push((await t.client.artifact.put.mutate({ kind: 'attachment', payload: { i } })).id);
    }
    const got = [(await first).value];
    for (let i = 1; i < 6; i++) got.push((await it.next()).value);
    expect(got.map((e) => e?.artifactId)).toEqual(ids);
    expect(fanoutStats.directSends - directBefore).toBeGreaterThanOrEqual(4);
    stop.abort();
  });
});
