import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { expectTrpcError } from '../support/expect-error.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * A WebSocket authenticates once, when it opens. Revoking its key, or the end of a rotated key's
 * grace period, must reach every instance's open sockets within a second (and new calls and
 * subscriptions with the key must be refused), although keys are cached per instance.
 */
let a: TestServer;
let b: TestServer;
beforeAll(async () => {
  [a, b] = await Promise.all([startTestServer(), startTestServer()]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

interface OpenSocket {
  closed: Promise<number>;
  /** Sends a query on this socket and resolves with the raw answer. */
  call(path: string): Promise<string>;
}

/** A raw tRPC WebSocket with one live subscription. */
async function openSubscription(server: TestServer, token: string): Promise<OpenSocket> {
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/trpc?connectionParams=1`);
  const closed = new Promise<number>((resolve) => ws.on('close', () => resolve(performance.now())));
  const answers = new Map<number, (text: string) => void>();
  await new Promise<void>((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', () => {
      ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
      ws.send(JSON.stringify({ id: 1, method: 'subscription', params: { path: 'artifact.onEvent', input: { json: {} } } }));
    });
    ws.on('message', (data) => {
      const text = data.toString();
      const msg = JSON.parse(text) as { id: number; result?: { type: string } };
      if (msg.id === 1 && msg.result?.type === 'started') resolve();
      answers.get(msg.id)?.(text);
    });
  });
  let next = 100;
  return {
    closed,
    call(path) {
      const id = next++;
      return new Promise<string>((resolve) => {
        answers.set(id, resolve);
        ws.send(JSON.stringify({ id, method: 'query', params: { path, input: { json: null } } }));
      });
    },
  };
}

/** Keys are cached per instance: warm both caches with a call each. */
async function warm(token: string) {
  await a.client(token).artifact.list.query({});
  await b.client(token).artifact.list.query({});
}

describe('revoked and expired keys on open WebSockets', () => {
  it('revoking a key closes its sockets on every instance within a second, and refuses it afterwards', async () => {
    const t = await a.newTenant();
    await warm(t.apiKey);
    const [onA, onB] = await Promise.all([openSubscription(a, t.apiKey), openSubscription(b, t.apiKey)]);
    expect(await onB.call('artifact.eventCursor')).toContain('"result"'); // the socket works
    const revokedAt = performance.now();
    await a.admin.admin.revokeApiKey.mutate({ keyId: t.keyId });
    const [closedA, closedB] = await Promise.all([onA.closed, onB.closed]);
    expect(closedA - revokedAt).toBeLessThan(1000);
    expect(closedB - revokedAt).toBeLessThan(1000);
    // New calls and new subscriptions with the key are refused on both instances, cached or not.
    await expectTrpcError(a.client(t.apiKey).artifact.list.query({}), 'UNAUTHORIZED', /revoked/);
    await expectTrpcError(b.client(t.apiKey).artifact.list.query({}), 'UNAUTHORIZED', /revoked/);
    await expectTrpcError(b.client(t.apiKey).events({ lastEventId: '0' }).next(), 'UNAUTHORIZED', /revoked/);
  });

  it("a tenant revoking its own key (key.revoke) cuts that key's sockets everywhere", async () => {
    const t = await a.newTenant();
    const adminKey = await a.admin.admin.createApiKey.mutate({ tenantId: t.tenantId, name: 'keys', scopes: ['read', 'write', 'admin'] });
    await warm(t.apiKey);
    const onB = await openSubscription(b, t.apiKey);
    const revokedAt = performance.now();
    await a.client(adminKey.key).key.revoke.mutate({ keyId: t.keyId });
    expect((await onB.closed) - revokedAt).toBeLessThan(1000);
    await expectTrpcError(b.client(t.apiKey).artifact.list.query({}), 'UNAUTHORIZED', /revoked/);
  });

  it("a rotated key's sockets stay open through the grace period and close when it ends", async () => {
    const t = await a.newTenant();
    await warm(t.apiKey);
    const onB = await openSubscription(b, t.apiKey);
    const { previous } = await a.admin.admin.rotateApiKey.mutate({ keyId: t.keyId, graceSeconds: 2 });
    const expiresAt = previous.expiresAt!.getTime();
    const early = await Promise.race([onB.closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('open'), 1000))]);
    expect(early).toBe('open');
    expect(await onB.call('artifact.eventCursor')).toContain('"result"'); // still honoured within the grace period
    await onB.closed;
    expect(Date.now() - expiresAt).toBeLessThan(1000);
    await expectTrpcError(b.client(t.apiKey).artifact.list.query({}), 'UNAUTHORIZED', /expired/);
  });

  it("leaves other keys' sockets alone", async () => {
    const t = await a.newTenant();
    const other = await a.admin.admin.createApiKey.mutate({ tenantId: t.tenantId, name: 'other', scopes: ['read'] });
    const mine = await openSubscription(b, other.key);
    await a.admin.admin.revokeApiKey.mutate({ keyId: t.keyId });
    const state = await Promise.race([mine.closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('open'), 1000))]);
    expect(state).toBe('open');
    expect(await mine.call('artifact.eventCursor')).toContain('"result"');
  });
});
