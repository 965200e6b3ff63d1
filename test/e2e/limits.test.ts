import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCofferClient, isCofferError } from '../../client/src/index.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

type ErrorBody = { error: { json: { message: string; data: { code: string; httpStatus: number; retryAfterSeconds: number | null } } } };

const get = (server: TestServer, path: string, token?: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/trpc/${path}`, { headers: { ...(token && { authorization: `Bearer ${token}` }), ...headers } });

describe('rate limits', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { COFFER_RATE_LIMIT_PER_MINUTE: '60', COFFER_RATE_LIMIT_ANON_PER_MINUTE: '3' } });
  });
  afterAll(() => server?.close());

  it('limits each API key separately, answering 429 with Retry-After and the limit named', async () => {
    const [t, other] = await Promise.all([server.newTenant(), server.newTenant()]);
    // 60 in the bucket, plus what refills (1/s) while a loaded machine answers the burst.
    const started = performance.now();
    const statuses = await Promise.all(
      Array.from({ length: 80 }, () => get(server, 'artifact.eventCursor', t.apiKey).then((r) => r.status)),
    );
    const elapsed = (performance.now() - started) / 1000;
    const ok = statuses.filter((s) => s === 200).length;
    expect(ok).toBeGreaterThanOrEqual(60);
    expect(ok).toBeLessThanOrEqual(60 + Math.ceil(elapsed));
    expect(statuses.filter((s) => s !== 200).every((s) => s === 429)).toBe(true);
    let res = await get(server, 'artifact.eventCursor', t.apiKey);
    while (res.status === 200) res = await get(server, 'artifact.eventCursor', t.apiKey);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.json.data).toMatchObject({ code: 'TOO_MANY_REQUESTS', retryAfterSeconds: expect.any(Number) });
    expect(body.error.json.message).toMatch(/60 requests per minute per API key \(COFFER_RATE_LIMIT_PER_MINUTE\)/);
    expect((await get(server, 'artifact.eventCursor', other.apiKey)).status).toBe(200);
    // The client retries limited queries after Retry-After; mutations it leaves to the caller.
    // A counting fetch shows the retry; the bucket is drained right before each try (it refills 1/s).
    const seen: number[] = [];
    const counting: typeof fetch = async (...args) => {
      const r = await fetch(...args);
      seen.push(r.status);
      return r;
    };
    const c = createCofferClient({ url: server.url, token: t.apiKey, fetch: counting });
    for (let attempt = 0; attempt < 5 && seen[0] !== 429; attempt++) {
      seen.length = 0;
      while ((await get(server, 'artifact.eventCursor', t.apiKey)).status !== 429);
      await expect(c.artifact.eventCursor.query()).resolves.toMatchObject({ lastEventId: expect.any(String) });
    }
    expect(seen[0]).toBe(429);
    expect(seen.at(-1)).toBe(200);
    // Drained right before the mutation: on a loaded machine a fixed burst may not outrun the refill.
    while ((await get(server, 'artifact.eventCursor', t.apiKey)).status !== 429);
    await expectTrpcError(
      t.client.artifact.put.mutate({ kind: 'attachment', payload: 1 }),
      'TOO_MANY_REQUESTS',
      /COFFER_RATE_LIMIT_PER_MINUTE/,
    );
  });

  it('limits failed-auth calls and /healthz per client address', async () => {
    for (let i = 0; i < 3; i++) expect((await get(server, 'artifact.list', 'cof_nope')).status).toBe(401);
    const res = await get(server, 'artifact.list', 'cof_nope');
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await res.json()) as ErrorBody).error.json.message).toMatch(/COFFER_RATE_LIMIT_ANON_PER_MINUTE/);
    // A valid key from the same address is not held back by the failures.
    const t = await server.newTenant();
    await expect(t.client.artifact.list.query({})).resolves.toBeTruthy();
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(429);
    expect(health.headers.get('retry-after')).toMatch(/^\d+$/);
  });
});

describe('client address behind a trusted proxy', () => {
  let trusting: TestServer;
  let direct: TestServer;
  beforeAll(async () => {
    const env = { COFFER_RATE_LIMIT_ANON_PER_MINUTE: '1' };
    [trusting, direct] = await Promise.all([startTestServer({ env: { ...env, COFFER_TRUST_PROXY: 'true' } }), startTestServer({ env })]);
  });
  afterAll(() => Promise.all([trusting?.close(), direct?.close()]));

  it('keys anonymous limits on X-Forwarded-For only when COFFER_TRUST_PROXY is set', async () => {
    const via = (s: TestServer, ip: string) => get(s, 'artifact.list', undefined, { 'x-forwarded-for': ip }).then((r) => r.status);
    expect([await via(trusting, '10.0.0.1'), await via(trusting, '10.0.0.2'), await via(trusting, '10.0.0.1')]).toEqual([401, 401, 429]);
    expect([await via(direct, '10.0.0.1'), await via(direct, '10.0.0.2')]).toEqual([401, 429]);
  });
});

describe('subscription cap', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { COFFER_MAX_SUBSCRIPTIONS_PER_KEY: '2' } });
  });
  afterAll(() => server?.close());

  /** Resolves 'started' or with the error of a WebSocket subscription. */
  const subscribe = (client: TestServer['admin']) => {
    let unsubscribe = () => {};
    const outcome = new Promise<unknown>((resolve) => {
      const sub = client.artifact.onEvent.subscribe({}, { onStarted: () => resolve('started'), onError: resolve, onData: () => {} });
      unsubscribe = () => sub.unsubscribe();
    });
    return { outcome, unsubscribe: () => unsubscribe() };
  };

  it('caps concurrent subscriptions per key and frees a slot when one ends', async () => {
    const t = await server.newTenant();
    const first = subscribe(t.client);
    const second = subscribe(t.client);
    expect(await Promise.all([first.outcome, second.outcome])).toEqual(['started', 'started']);
    const third = await subscribe(t.client).outcome;
    expect(isCofferError(third) && third.data.code).toBe('TOO_MANY_REQUESTS');
    expect((third as Error).message).toMatch(/2 open subscriptions.*COFFER_MAX_SUBSCRIPTIONS_PER_KEY/);
    // Another key of the same tenant has its own slots.
    const other = await server.admin.admin.createApiKey.mutate({ tenantId: t.tenantId, name: 'b', scopes: ['read'] });
    const otherSub = subscribe(server.client(other.key));
    expect(await otherSub.outcome).toBe('started');
    first.unsubscribe();
    let fourth: unknown;
    for (let i = 0; i < 20 && fourth !== 'started'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      fourth = await subscribe(t.client).outcome;
    }
    expect(fourth).toBe('started');
  });

  it('counts SSE subscriptions too, and releases them when the request is aborted', async () => {
    const t = await server.newTenant();
    const open = async () => {
      const res = await get(server, 'artifact.onEvent?input=%7B%22json%22%3A%7B%7D%7D', t.apiKey, {});
      const reader = res.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      return { first, close: () => reader.cancel() };
    };
    const a = await open();
    const b = await open();
    const c = await open();
    expect(a.first + b.first).not.toMatch(/TOO_MANY_REQUESTS/);
    expect(c.first).toMatch(/TOO_MANY_REQUESTS/);
    await Promise.all([a.close(), b.close(), c.close()]);
    let again = '';
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const d = await open();
      again = d.first;
      await d.close();
      if (!/TOO_MANY_REQUESTS/.test(again)) break;
    }
    expect(again).not.toMatch(/TOO_MANY_REQUESTS/);
  });
});

describe('request limits', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { COFFER_MAX_INLINE_BYTES: '1000', COFFER_MAX_BATCH_SIZE: '50' } });
  });
  afterAll(() => server?.close());

  it('answers an oversized body with a typed PAYLOAD_TOO_LARGE the client can read', async () => {
    const t = await server.newTenant();
    const huge = 'x'.repeat(1024 * 1024 + 4000);
    const err = await expectTrpcError(t.client.artifact.put.mutate({ kind: 'attachment', payload: huge }), 'PAYLOAD_TOO_LARGE');
    expect(err.message).toMatch(/limit of 1050576 bytes/);
    // Under the body limit but over the inline limit: the service names its own limit.
    await expectTrpcError(
      t.client.artifact.put.mutate({ kind: 'attachment', payload: 'y'.repeat(5000) }),
      'PAYLOAD_TOO_LARGE',
      /inline limit is 1000 bytes/,
    );
  });

  it('refuses non-JSON bodies (multipart would bypass the body limit) with a typed 415', async () => {
    const t = await server.newTenant();
    for (const type of ['multipart/form-data; boundary=x', 'text/plain', 'application/octet-stream']) {
      const res = await fetch(`${server.url}/trpc/artifact.put`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': type },
        body: '--x--',
      });
      expect(res.status, type).toBe(415);
      expect(((await res.json()) as ErrorBody).error.json.data.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('caps batch size, naming the limit, while the client splits big batches itself', async () => {
    const t = await server.newTenant();
    const path = Array.from({ length: 51 }, () => 'artifact.eventCursor').join(',');
    const res = await get(server, `${path}?batch=1&input=%7B%7D`, t.apiKey);
    expect(res.status).toBe(413);
    const body = (await res.json()) as ErrorBody[];
    expect(body[0]!.error.json.data.code).toBe('PAYLOAD_TOO_LARGE');
    expect(body[0]!.error.json.message).toMatch(/51 calls exceeds the limit of 50 calls per request \(COFFER_MAX_BATCH_SIZE\)/);
    // 120 calls in one tick: the client batches them by 50, long paths and all.
    const ids = Array.from({ length: 120 }, () => crypto.randomUUID());
    const results = await Promise.allSettled(ids.map((id) => t.client.artifact.getDownloadUrl.query({ id })));
    expect(results.every((r) => r.status === 'rejected' && isCofferError(r.reason) && r.reason.data.code === 'NOT_FOUND')).toBe(true);
  });
});
