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

describe('client retries', () => {
  let server: TestServer;
  let token: string;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'fs' });
    token = (await server.newTenant()).apiKey;
  });
  afterAll(async () => server?.close());

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
