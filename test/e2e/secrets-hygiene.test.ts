import { PassThrough } from 'node:stream';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseApiKey } from '../../server/auth/key-format.ts';
import { apiKeys } from '../../server/db/schema/index.ts';
import { toTRPCError } from '../../server/errors.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('secrets hygiene', () => {
  let server: TestServer;
  const lines: string[] = [];
  beforeAll(async () => {
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    // debug: every request line, every error, as production would log at its most verbose.
    server = await startTestServer({ backend: 'fs', env: { LOG_LEVEL: 'debug' }, logStream: stream });
  });
  afterAll(() => server?.close());

  it('logs requests, failed auth and signed downloads without credentials or signatures', async () => {
    const t = await server.newTenant();
    const art = await t.client.artifact.put.mutate({ kind: 'attachment', payload: { hello: 'world' } });
    const { url } = await t.client.artifact.getDownloadUrl.query({ id: art.id });
    expect((await fetch(url)).status).toBe(200);
    const sig = new URL(url).searchParams.get('sig')!;
    expect((await fetch(url.replace(sig, '0'.repeat(sig.length)))).status).toBe(403);
    // Parsed, not split on '_': the secret is base64url, which has '_' in it (and 1 in 64 starts with one).
    const key = parseApiKey(t.apiKey)!;
    const wrongSecret = `cof_${key.prefix}_${'Z'.repeat(43)}`;
    await expectTrpcError(server.client(wrongSecret).artifact.list.query({}), 'UNAUTHORIZED');
    await expectTrpcError(server.client(`${server.adminToken}x`).artifact.list.query({}), 'UNAUTHORIZED');
    await expect(
      new Promise((resolve, reject) => {
        const sub = t.client.artifact.onEvent.subscribe({}, { onStarted: () => resolve(sub.unsubscribe()), onError: reject });
      }),
    ).resolves.toBeUndefined();
    // An internal error is logged with its cause: make one reach the logger.
    await expectTrpcError(t.client.artifact.list.query({ entityId: 'nul\u0000byte' }), 'BAD_REQUEST');
    await new Promise((r) => setTimeout(r, 100));

    const log = lines.join('\n');
    expect(log).toContain('/files/'); // the signed route was logged, so the check below means something
    expect(log).toContain('[redacted]');
    const secrets = [server.adminToken, t.apiKey, key.secret, 'Z'.repeat(43), sig, server.deps.config.signingSecret!];
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThanOrEqual(16); // an empty or short "secret" would match anything
      expect(log).not.toContain(secret);
    }
    expect(log).not.toMatch(/authorization/i);
  });

  it('never shows callers raw Postgres errors: SQL, constraint names and values become fixed text', async () => {
    const db = server.systemDb;
    const invalidSyntax = await db.execute(sql`select ${'not-a-uuid'}::uuid`).catch((e: unknown) => e);
    const [someKey] = await db.select().from(apiKeys).limit(1);
    const duplicate = await db
      .insert(apiKeys)
      .values({ ...someKey!, id: crypto.randomUUID() })
      .catch((e: unknown) => e);
    for (const [err, code] of [
      [invalidSyntax, 'BAD_REQUEST'],
      [duplicate, 'CONFLICT'],
    ] as const) {
      expect(err).toBeInstanceOf(Error);
      const mapped = toTRPCError(err);
      expect(mapped.code).toBe(code);
      expect(mapped.message).not.toMatch(/select|insert|api_keys|uuid|constraint|not-a-uuid|prefix/i);
    }
  });

  it('answers a NUL byte (which Postgres cannot store) as a typed 400, never a 500 with SQL', async () => {
    const t = await server.newTenant();
    const res = await fetch(`${server.url}/trpc/artifact.put`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ json: { kind: 'attachment', payload: 1, metadata: { k: 'v\u0000' }, entityId: 'e\u0000' } }),
    });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).not.toMatch(/insert|"artifacts"|0x00|\bat .*\.ts:\d+/i);
  });
});
