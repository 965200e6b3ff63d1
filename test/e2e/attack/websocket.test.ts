import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthFrom, openWs, wsCall } from '../../support/raw-wire.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';

/** `n` calls in one message, the way the audit packed ~13,500 into 1 MiB. */
const packed = (n: number, path = 'key.list', first = 0) =>
  JSON.stringify(Array.from({ length: n }, (_, i) => ({ id: first + i, method: 'query', params: { path, input: { json: {} } } })));

describe('attack: CPU over WebSocket', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'fs' });
  });
  afterAll(() => server?.close());

  it('closes an anonymous socket whose message carries more calls than COFFER_MAX_BATCH_SIZE, running none, while a bystander is served', async () => {
    const attacker = await openWs(server.url, { localAddress: '127.0.0.2' });
    const message = packed(13_000);
    expect(message.length).toBeLessThan(1024 * 1024);
    for (let i = 0; i < 3; i++) attacker.send(message);
    // Once the server is busy with the messages (on the unfixed server: answering them), a bystander asks.
    await Promise.race([attacker.answers(1), attacker.closed, new Promise((r) => setTimeout(r, 300))]);
    const health = await healthFrom(server.url, '127.0.0.3');
    expect(health.status).toBe(200);
    expect(health.ms).toBeLessThan(1500);
    const closed = await attacker.closedWithin(5000);
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/13000 calls.*COFFER_MAX_BATCH_SIZE/);
    expect(attacker.received).toHaveLength(0);
  });

  it('closes an anonymous socket once its address has spent COFFER_RATE_LIMIT_ANON_PER_MINUTE, before running more', async () => {
    const attacker = await openWs(server.url, { localAddress: '127.0.0.4' });
    for (let i = 0; i < 10; i++) attacker.send(packed(100, 'artifact.list', i * 100));
    const closed = await attacker.closedWithin(5000);
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/COFFER_RATE_LIMIT_ANON_PER_MINUTE/);
    // The first message fit the address's 120 calls a minute; the second did not and ran nowhere.
    expect(attacker.received.length).toBeLessThanOrEqual(120);
    expect(attacker.received.every((m) => m.error?.json.data.code === 'UNAUTHORIZED')).toBe(true);
    // Another socket from the same address cannot pay for a full message either.
    const again = await openWs(server.url, { localAddress: '127.0.0.4' });
    again.send(packed(100, 'artifact.list'));
    expect((await again.closedWithin(5000)).reason).toMatch(/COFFER_RATE_LIMIT_ANON_PER_MINUTE/);
    expect(again.received).toHaveLength(0);
  });

  it('answers an authenticated message over the batch cap with PAYLOAD_TOO_LARGE per call, running none of them', async () => {
    const t = await server.newTenant();
    const socket = await openWs(server.url, { token: t.apiKey });
    const calls = Array.from({ length: 101 }, (_, i) => wsCall(i + 1, 'artifact.put', { kind: 'attachment', payload: i }, 'mutation'));
    socket.send(calls);
    await socket.answers(101);
    expect(socket.received).toHaveLength(101);
    for (const m of socket.received) {
      expect(m.error?.json.data.code).toBe('PAYLOAD_TOO_LARGE');
      expect(m.error?.json.message).toMatch(/101 calls exceeds the limit of 100 calls per WebSocket message \(COFFER_MAX_BATCH_SIZE/);
    }
    expect(new Set(socket.received.map((m) => m.id)).size).toBe(101);
    expect((await t.client.artifact.list.query({})).items).toHaveLength(0);
    // At the cap (a reconnecting client resends all its subscriptions in one message) every call runs.
    socket.send(Array.from({ length: 100 }, (_, i) => wsCall(1000 + i, 'artifact.eventCursor')));
    await socket.answers(201);
    expect(socket.received.slice(101).every((m) => m.result !== undefined)).toBe(true);
    socket.ws.close();
  });
});

describe('attack: WebSockets without a credential', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'fs', env: { COFFER_WS_AUTH_TIMEOUT_SECONDS: '1' } });
  });
  afterAll(() => server?.close());

  it('closes sockets that have no valid credential after COFFER_WS_AUTH_TIMEOUT_SECONDS, keeps authenticated ones', async () => {
    const t = await server.newTenant();
    const silent = await openWs(server.url, { localAddress: '127.0.0.5' });
    const noParams = await openWs(server.url, { withholdParams: true, localAddress: '127.0.0.5' });
    const badKey = await openWs(server.url, { token: 'cof_nope', localAddress: '127.0.0.5' });
    badKey.send(wsCall(1, 'artifact.onEvent', {}, 'subscription'));
    const good = await openWs(server.url, { token: t.apiKey });
    good.send(wsCall(1, 'artifact.onEvent', {}, 'subscription'));

    for (const s of [silent, noParams, badKey]) {
      const closed = await s.closedWithin(4000);
      expect(closed.code).toBe(1008);
      expect(closed.reason).toMatch(/COFFER_WS_AUTH_TIMEOUT_SECONDS/);
      expect(closed.afterMs).toBeLessThan(4000);
    }
    // The bad key still learned why, before the socket closed.
    expect(badKey.received[0]?.error?.json.data.code).toBe('UNAUTHORIZED');
    await new Promise((r) => setTimeout(r, 500));
    expect(good.ws.readyState).toBe(good.ws.OPEN);
    expect(good.received[0]?.result).toEqual({ type: 'started' });
    good.ws.close();
  });
});
