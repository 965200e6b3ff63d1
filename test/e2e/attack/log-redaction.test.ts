import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../support/server.ts';

describe('attack: signed URLs in the logs', () => {
  let server: TestServer;
  const lines: string[] = [];
  beforeAll(async () => {
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    // info: the level production runs at, where Fastify logs "Route ... not found".
    server = await startTestServer({ backend: 'fs', env: { LOG_LEVEL: 'info' }, logStream: stream });
  });
  afterAll(() => server?.close());

  it('logs unmatched URLs (a proxy prefix left on, a wrong method) without their signature', async () => {
    const t = await server.newTenant();
    const art = await t.client.artifact.put.mutate({ kind: 'attachment', payload: { secret: 'plans' } });
    const { url } = await t.client.artifact.getDownloadUrl.query({ id: art.id });
    const signed = new URL(url);
    const sig = signed.searchParams.get('sig')!;
    const prefixed = `${signed.origin}/coffer${signed.pathname}${signed.search}`;
    const notFound = await fetch(prefixed);
    expect(notFound.status).toBe(404);
    expect(await notFound.text()).not.toContain(sig);
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(404);
    await new Promise((r) => setTimeout(r, 100));

    const log = lines.join('\n');
    expect(log).toMatch(/not found/); // the lines in question were written, so the next check means something
    expect(log).toContain('/coffer/files/');
    expect(log).not.toContain(sig);
    // The signature was what made the URL usable: with it redacted, the logged URL downloads nothing.
    const logged = /\/coffer(\/files\/[^\s"]+)/.exec(log)?.[1];
    expect(logged).toBeDefined();
    expect((await fetch(`${signed.origin}${logged}`)).status).toBe(403);
  });
});
