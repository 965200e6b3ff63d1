import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCofferClient, isCofferError } from '../../client/src/index.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/** A fetch whose first `failures` calls fail the way undici does, with `code` on the cause. */
function flakyFetch(failures: number, code = 'ECONNRESET') {
  const calls = { n: 0 };
  const fetchImpl: typeof fetch = async (input, init) => {
    if (calls.n++ < failures) throw new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
    return fetch(input, init);
  };
  return { calls, fetchImpl };
}

let server: TestServer;
let token: string;
beforeAll(async () => {
  server = await startTestServer({ backend: 'fs' });
  token = (await server.newTenant()).apiKey;
});
afterAll(async () => server?.close());

describe('client retries', () => {
  it('retries a query after network errors, with backoff', async () => {
    const { calls, fetchImpl } = flakyFetch(2);
    const c = createCofferClient({ url: server.url, token, fetch: fetchImpl });
    await expect(c.artifact.list.query({})).resolves.toMatchObject({ items: [] });
    expect(calls.n).toBe(3);
  });

  it('does not repeat a mutation the server may have run, only one whose connection was refused', async () => {
    const reset = flakyFetch(1);
    const c1 = createCofferClient({ url: server.url, token, fetch: reset.fetchImpl });
    await expect(c1.artifact.put.mutate({ kind: 'attachment', payload: 1 })).rejects.toThrow(/fetch failed/);
    expect(reset.calls.n).toBe(1);
    const refused = flakyFetch(1, 'ECONNREFUSED');
    const c2 = createCofferClient({ url: server.url, token, fetch: refused.fetchImpl });
    await expect(c2.artifact.put.mutate({ kind: 'attachment', payload: 1 })).resolves.toMatchObject({ status: 'ready' });
    expect(refused.calls.n).toBe(2);
  });

  it("passes the server's own errors through at once, typed", async () => {
    const { calls, fetchImpl } = flakyFetch(0);
    const c = createCofferClient({ url: server.url, token, fetch: fetchImpl });
    const err = await c.artifact.put.mutate({ kind: 123 as never, payload: 1 }).catch((e: unknown) => e);
    expect(calls.n).toBe(1);
    if (!isCofferError(err)) throw err;
    expect(err.data).toMatchObject({ code: 'BAD_REQUEST', zodError: { fieldErrors: { kind: [expect.any(String)] } } });
  });

  it('stops retrying when the call is aborted', async () => {
    const { calls, fetchImpl } = flakyFetch(100);
    const c = createCofferClient({ url: server.url, token, fetch: fetchImpl });
    const ctl = new AbortController();
    const call = c.artifact.list.query({}, { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 50);
    await expect(call).rejects.toThrow();
    const seen = calls.n;
    await new Promise((r) => setTimeout(r, 1500));
    expect(calls.n).toBe(seen);
    expect(seen).toBeLessThanOrEqual(2);
  });
});

describe('client HTTP link', () => {
  let empty: string; // a tenant of its own, with nothing stored
  beforeAll(async () => {
    empty = (await server.newTenant()).apiKey;
  });

  /** A fetch that records the URL of every request it sends (one already aborted is not sent). */
  function recordingClient() {
    const urls: string[] = [];
    const fetchImpl: typeof fetch = (input, init) => {
      if (!init?.signal?.aborted) urls.push(String(input));
      return fetch(input, init);
    };
    return { urls, client: createCofferClient({ url: server.url, token: empty, fetch: fetchImpl }) };
  }

  it('waitUntilReady rejects with its TimeoutError also when the timeout lands inside a call', async () => {
    // Every call takes 200 ms here, so a 50 ms timeout always lands inside the first one.
    const slowFetch: typeof fetch = async (input, init) => {
      await new Promise((r) => setTimeout(r, 200));
      return fetch(input, init);
    };
    const c = createCofferClient({ url: server.url, token, fetch: slowFetch });
    const id = '00000000-0000-4000-8000-000000000000';
    await expect(c.waitUntilReady({ artifactId: id }, { timeoutMs: 50 })).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('sends calls made together in one batch, errors and all, each with its own answer', async () => {
    const { urls, client } = recordingClient();
    const missing = crypto.randomUUID();
    const [list, gone, cursor] = await Promise.allSettled([
      client.artifact.list.query({}),
      client.artifact.get.query({ id: missing }),
      client.artifact.eventCursor.query(),
    ]);
    expect(urls).toHaveLength(1);
    expect(urls[0]).toMatch(/\/trpc\/artifact\.list,artifact\.get,artifact\.eventCursor\?batch=1&/);
    expect(list).toMatchObject({ status: 'fulfilled', value: { items: [] } });
    expect(gone.status === 'rejected' && isCofferError(gone.reason) && gone.reason.data.code).toBe('NOT_FOUND');
    expect(cursor.status).toBe('fulfilled');
  });

  it('sends a lone call at once, unbatched, with typed errors', async () => {
    const { urls, client } = recordingClient();
    await expect(client.artifact.list.query({})).resolves.toMatchObject({ items: [] });
    const err = await client.artifact.put.mutate({ kind: 123 as never, payload: 1 }).catch((e: unknown) => e);
    if (!isCofferError(err)) throw err;
    expect(err.data).toMatchObject({ code: 'BAD_REQUEST', zodError: { fieldErrors: { kind: [expect.any(String)] } } });
    expect(urls).toHaveLength(2);
    for (const url of urls) expect(url).not.toMatch(/batch=1/);
  });

  it('sends nothing for a call aborted before it went out, and still sends its neighbours', async () => {
    const { urls, client } = recordingClient();
    const ctl = new AbortController();
    const aborted = client.artifact.list.query({}, { signal: ctl.signal });
    const kept = client.artifact.eventCursor.query();
    ctl.abort();
    await expect(aborted).rejects.toThrow();
    await expect(kept).resolves.toBeDefined();
    expect(urls).toHaveLength(1);
    expect(urls[0]).toMatch(/\/trpc\/artifact\.eventCursor\?/);
  });
});
