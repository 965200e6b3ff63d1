import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyOf, healthFrom, openTcp, openWs } from '../../support/raw-wire.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';

type ErrorBody = { error: { json: { message: string; data: { code: string; httpStatus: number } } } };

describe('attack: slow and idle connections', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'fs', env: { COFFER_BODY_TIMEOUT_SECONDS: '1', COFFER_IDLE_TIMEOUT_SECONDS: '1' } });
  });
  afterAll(() => server?.close());

  it('answers a /trpc body that never finishes with a tRPC-shaped 408 naming COFFER_BODY_TIMEOUT_SECONDS, and closes it', async () => {
    const t = await server.newTenant();
    const head = [
      'POST /trpc/artifact.put HTTP/1.1',
      'Host: x',
      `Authorization: Bearer ${t.apiKey}`,
      'Content-Type: application/json',
      'Content-Length: 1000',
      '',
      '{"json":{"kind":"attachment","payload":',
    ].join('\r\n');
    const slow = await openTcp(server.url, head, '127.0.0.6');
    // Dribbling bytes does not extend the deadline.
    const drip = setInterval(() => slow.socket.write(' '), 200);
    const closed = await slow.closed(4000);
    clearInterval(drip);
    expect(closed.closed).toBe(true);
    expect(closed.afterMs).toBeLessThan(3000);
    expect(slow.text()).toMatch(/^HTTP\/1\.1 408/);
    const body = bodyOf(slow.text()) as ErrorBody;
    expect(body.error.json.data.code).toBe('TIMEOUT');
    expect(body.error.json.message).toMatch(/COFFER_BODY_TIMEOUT_SECONDS/);
  });

  it('closes connections that send no request, or only part of its head, within COFFER_IDLE_TIMEOUT_SECONDS', async () => {
    const silent = await openTcp(server.url, undefined, '127.0.0.6');
    const partial = await openTcp(server.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', '127.0.0.6');
    const drip = setInterval(() => partial.socket.write('X-A: b\r\n'), 200);
    const [a, b] = await Promise.all([silent.closed(4000), partial.closed(4000)]);
    clearInterval(drip);
    expect(a).toMatchObject({ closed: true });
    expect(b).toMatchObject({ closed: true });
    expect(Math.max(a.afterMs, b.afterMs)).toBeLessThan(3000);
  });

  it('leaves a slow but complete request and a quiet authenticated WebSocket alone', async () => {
    const t = await server.newTenant();
    const socket = await openWs(server.url, { token: t.apiKey });
    await new Promise((r) => setTimeout(r, 2000));
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
    socket.ws.close();
    // The body deadline counts from the request's head; a body sent in time is served.
    const body = JSON.stringify({ json: { kind: 'attachment', payload: 1 } });
    const conn = await openTcp(
      server.url,
      `POST /trpc/artifact.put HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    );
    await new Promise((r) => setTimeout(r, 500));
    conn.socket.write(body);
    await conn.closed(4000);
    expect(conn.text()).toMatch(/^HTTP\/1\.1 200/);
  });
});

describe('attack: connection exhaustion from one address', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'fs', env: { COFFER_MAX_CONNECTIONS_PER_ADDRESS: '10' } });
  });
  afterAll(() => server?.close());

  it('refuses connections past COFFER_MAX_CONNECTIONS_PER_ADDRESS with a tRPC-shaped 429, serves other addresses, frees slots on close', async () => {
    const held = await Promise.all(Array.from({ length: 10 }, () => openTcp(server.url, undefined, '127.0.0.7')));
    const refused = await openTcp(server.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', '127.0.0.7');
    expect((await refused.closed(2000)).closed).toBe(true);
    expect(refused.text()).toMatch(/^HTTP\/1\.1 429/);
    const body = bodyOf(refused.text()) as ErrorBody;
    expect(body.error.json.data.code).toBe('TOO_MANY_REQUESTS');
    expect(body.error.json.message).toMatch(/10 open connections from this address \(COFFER_MAX_CONNECTIONS_PER_ADDRESS\)/);
    // WebSockets are connections too.
    await expect(openWs(server.url, { localAddress: '127.0.0.7' })).rejects.toThrow();
    expect((await healthFrom(server.url, '127.0.0.8')).status).toBe(200);
    for (const c of held) c.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await healthFrom(server.url, '127.0.0.7')).status).toBe(200);
  });
});
