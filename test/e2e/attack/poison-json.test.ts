import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifacts } from '../../../server/db/schema/index.ts';
import { BACKENDS, startTestServer, type TestServer } from '../../support/server.ts';

type Answer = { status: number; body: { error?: { json: { message: string; data: { code: string } } } } };

/**
 * The real client's superjson refuses to send these keys at all, so an attacker writes the JSON
 * by hand: a plain JSON body is valid superjson input.
 */
async function post(server: TestServer, key: string, path: string, json: string): Promise<Answer> {
  const res = await fetch(`${server.url}/trpc/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: `{"json":${json}}`,
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

const nest = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

describe.each(BACKENDS)('attack: JSON the wire format cannot send back, on %s', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend });
  });
  afterAll(() => server?.close());

  const rowsOf = (tenantId: string) => server.systemDb.select().from(artifacts).where(eq(artifacts.tenantId, tenantId));

  it.each(['__proto__', 'constructor', 'prototype'])(
    'refuses a %s key at any depth with BAD_REQUEST naming its path, committing nothing',
    async (key) => {
      const t = await server.newTenant();
      const cases: Array<[string, string, RegExp]> = [
        ['artifact.put', `{"kind":"attachment","payload":1,"metadata":{"${key}":{"y":1}}}`, new RegExp(`metadata\\.${key}`)],
        [
          'artifact.put',
          `{"kind":"attachment","payload":1,"metadata":{"a":[{"b":{"${key}":1}}]}}`,
          new RegExp(`metadata\\.a\\.0\\.b\\.${key}`),
        ],
        ['artifact.put', `{"kind":"attachment","payload":{"${key}":{"polluted":true}}}`, new RegExp(`payload\\.${key}`)],
        ['artifact.put', `{"kind":"attachment","payload":[1,{"x":{"${key}":null}}]}`, new RegExp(`payload\\.1\\.x\\.${key}`)],
        [
          'artifact.createUpload',
          `{"kind":"attachment","contentType":"text/plain","sizeBytes":1,"metadata":{"m":{"${key}":1}}}`,
          new RegExp(`metadata\\.m\\.${key}`),
        ],
      ];
      for (const [path, json, named] of cases) {
        const ans = await post(server, t.apiKey, path, json);
        expect(ans.status, json).toBe(400);
        expect(ans.body.error?.json.data.code).toBe('BAD_REQUEST');
        expect(ans.body.error?.json.message).toMatch(named);
      }
      expect(await rowsOf(t.tenantId)).toHaveLength(0);
      // The tenant's reads still answer.
      await expect(t.client.artifact.list.query({})).resolves.toEqual({ items: [], nextCursor: null });
      expect(Object.keys(Object.prototype)).toEqual([]);
    },
  );

  it('refuses payloads nested deeper than the wire format can answer, before storing them', async () => {
    const t = await server.newTenant();
    // Around 2,000 levels the unfixed server stored some and then answered their artifact.get with a 500.
    for (const depth of [101, 1500, 2000, 2500, 3000]) {
      const ans = await post(server, t.apiKey, 'artifact.put', `{"kind":"attachment","payload":${nest(depth)}}`);
      expect(ans.status).toBe(400);
      expect(ans.body.error?.json.message).toMatch(/payload nests deeper than 100 levels/);
    }
    // Far deeper (a 750 KB body): refused quickly, whichever layer notices first.
    const hostile = await post(server, t.apiKey, 'artifact.put', `{"kind":"attachment","payload":${nest(150_000)}}`);
    expect(hostile.status).toBe(400);
    expect(await rowsOf(t.tenantId)).toHaveLength(0);
    // At the limit, the artifact is stored and read back.
    const ok = await post(server, t.apiKey, 'artifact.put', `{"kind":"attachment","payload":${nest(100)}}`);
    expect(ok.status).toBe(200);
    const [row] = await rowsOf(t.tenantId);
    await expect(t.client.artifact.get.query({ id: row!.id })).resolves.toMatchObject({ artifact: { id: row!.id } });
  });
});
