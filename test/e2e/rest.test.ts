import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';

describe.each(BACKENDS)('REST /api/v1 (%s)', (backend) => {
  let server: TestServer;
  let key: string;
  let otherKey: string;
  const api = (path: string, init: RequestInit & { key?: string | null } = {}) => {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
    const k = init.key === undefined ? key : init.key;
    if (k) headers.authorization = `Bearer ${k}`;
    if (init.body) headers['content-type'] = 'application/json';
    return fetch(`${server.url}/api/v1${path}`, { ...init, headers, redirect: 'manual' });
  };

  beforeAll(async () => {
    server = await startTestServer({ backend });
    key = (await server.newTenant('rest a')).apiKey;
    otherKey = (await server.newTenant('rest b')).apiKey;
  });
  afterAll(() => server.close());

  it('answers 401 with a JSON error body without a key', async () => {
    const res = await api('/artifacts', { key: null });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringContaining('Bearer') });
  });

  it("answers 404 for another tenant's artifact", async () => {
    const put = await api('/artifacts', { method: 'POST', body: JSON.stringify({ kind: 'agent_trace', payload: { a: 1 } }) });
    expect(put.status).toBe(200);
    const { id } = (await put.json()) as { id: string };
    const res = await api(`/artifacts/${id}`, { key: otherKey });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'NOT_FOUND', cofferCode: 'NOT_FOUND' });
  });

  it('answers 400 with a message naming the field on bad input', async () => {
    const res = await api('/versions', { method: 'POST', body: JSON.stringify({ projectId: '../x', source: 'build' }) });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('BAD_REQUEST');
    expect(body.message).toContain('projectId');
  });

  it('answers 413 for an oversized body', async () => {
    const big = 'x'.repeat(server.deps.config.limits.maxInlineBytes * 2 + 2 * 1024 * 1024);
    const res = await api('/artifacts', { method: 'POST', body: JSON.stringify({ kind: 'agent_trace', payload: big }) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it("answers 403 naming the missing scope to a read-only key's writes, and writes nothing", async () => {
    const { client, tenantId } = await server.newTenant('rest read-only');
    const readOnly = (await server.admin.admin.createApiKey.mutate({ tenantId, name: 'ro', scopes: ['read'] })).key;
    const res = await api('/artifacts', { key: readOnly, method: 'POST', body: JSON.stringify({ kind: 'agent_trace', payload: {} }) });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining("lacks the 'write' scope") });
    expect((await client.artifact.list.query({})).items).toHaveLength(0);
    expect((await api('/artifacts', { key: readOnly })).status).toBe(200);
  });

  it('pins a version and aborts an upload', async () => {
    const created = await api('/versions', {
      method: 'POST',
      body: JSON.stringify({ projectId: 'rest-site', source: 'manual', message: 'm' }),
    });
    const { version } = (await created.json()) as { version: { id: string } };
    const pin = await api(`/versions/${version.id}/pin`, { method: 'POST', body: JSON.stringify({ pinned: true }) });
    expect(pin.status).toBe(200);
    expect(await (await api(`/versions/${version.id}`)).json()).toMatchObject({ id: version.id, pinned: true });
    const sha = 'a'.repeat(64);
    const up = await api('/uploads', {
      method: 'POST',
      body: JSON.stringify({ kind: 'attachment', contentType: 'text/plain', sizeBytes: 3, sha256: sha }),
    });
    const { artifact } = (await up.json()) as { artifact: { id: string } };
    expect((await api(`/uploads/${artifact.id}/abort`, { method: 'POST' })).status).toBe(200);
    // Signing a part of the aborted upload (valid input: md5 of "abc") is refused for what happened to it.
    const again = await api(`/uploads/${artifact.id}/sign-parts`, {
      method: 'POST',
      body: JSON.stringify({ parts: [{ partNumber: 1, md5: 'kAFQmDzST7DWlj99KOF/cg==' }] }),
    });
    expect([404, 412]).toContain(again.status);
    expect(((await again.json()) as { message: string }).message).toMatch(/not found|aborted/);
  });

  it('answers 404 JSON for an unknown route', async () => {
    const res = await api('/nope');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('openapi.json') });
  });

  it('puts, reads (JSON and ?raw=1), lists and deletes an artifact', async () => {
    const put = await api('/artifacts', { method: 'POST', body: JSON.stringify({ kind: 'agent_trace', payload: { hello: 'rest' } }) });
    const { id } = (await put.json()) as { id: string };
    expect(await (await api(`/artifacts/${id}`)).json()).toMatchObject({ payload: { hello: 'rest' } });
    const raw = await api(`/artifacts/${id}?raw=1`);
    expect(raw.status).toBe(302);
    const bytes = await fetch(raw.headers.get('location') as string);
    expect(await bytes.json()).toEqual({ hello: 'rest' });
    const list = (await (await api('/artifacts?limit=10&kind=agent_trace')).json()) as { items: Array<{ id: string }> };
    expect(list.items.map((a) => a.id)).toContain(id);
    expect((await api(`/artifacts/${id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await api(`/artifacts/${id}/info`)).status).toBe(404);
  });

  it('rate-limits REST calls like tRPC ones, with Retry-After', async () => {
    const limited = await startTestServer({ backend, env: { COFFER_RATE_LIMIT_PER_MINUTE: '5' } });
    try {
      const k = (await limited.newTenant('rest limited')).apiKey;
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 12; i++) {
        const res = await fetch(`${limited.url}/api/v1/artifacts`, { headers: { authorization: `Bearer ${k}` } });
        statuses.push(res.status);
        if (res.status === 429) {
          retryAfter = res.headers.get('retry-after');
          expect(await res.json()).toMatchObject({ code: 'TOO_MANY_REQUESTS', cofferCode: 'RATE_LIMITED' });
        }
      }
      expect(statuses).toContain(429);
      expect(Number(retryAfter)).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });

  it('serves health listing which settings are present, and the OpenAPI document', async () => {
    const health = (await (await api('/storage/health')).json()) as { settings: Record<string, boolean> };
    expect(typeof health.settings).toBe('object');
    const doc = (await (await api('/openapi.json', { key: null })).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/api/v1/uploads/{id}/sign-parts');
  });
});
