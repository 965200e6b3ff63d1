import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCofferClient } from '../../client/src/node.ts';
import { untilRan } from '../support/cleanup.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { putBytes, randomBody, sha256 } from '../support/upload.ts';

const TOKEN = 'metrics-token-0123456789';

/** The value of every sample of `family` (lines `family{...} value` or `family value`). */
function samples(text: string, family: string): number[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${family}{`) || l.startsWith(`${family} `))
    .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
}

describe('Prometheus metrics at /metrics', () => {
  let server: TestServer;
  const scrape = (auth?: string) => fetch(`${server.url}/metrics`, { headers: auth ? { authorization: auth } : {} });

  beforeAll(async () => {
    server = await startTestServer({ env: { COFFER_METRICS_TOKEN: TOKEN } });
  });
  afterAll(() => server?.close());

  it('asks for the token when one is set', async () => {
    expect((await scrape()).status).toBe(401);
    expect((await scrape('Bearer wrong-token-0123456789')).status).toBe(401);
    const ok = await scrape(`Bearer ${TOKEN}`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('shows a non-zero value in every family after some activity', async () => {
    const t = await server.newTenant('metrics');
    const listener = createCofferClient({ url: server.url, token: t.apiKey });
    const stop = new AbortController();
    const heard = (async () => {
      for await (const _e of listener.events({}, { signal: stop.signal })) return;
    })();
    // events() reads its cursor before it subscribes: once counted, it will hear the put.
    await expect.poll(() => server.deps.events.size, { timeout: 10_000 }).toBe(1);
    await t.client.artifact.put.mutate({ kind: 'agent_trace', payload: { steps: [1] } });
    await heard;
    const bytes = randomBody(4096);
    const good = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
      sha256: sha256(bytes),
    });
    await putBytes(t.client, good.artifact.id, good.upload, bytes);
    await t.client.artifact.completeUpload.mutate({ id: good.artifact.id });
    const bad = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
      sha256: sha256(randomBody(8)),
    });
    await putBytes(t.client, bad.artifact.id, bad.upload, bytes);
    await expectTrpcError(t.client.artifact.completeUpload.mutate({ id: bad.artifact.id }), 'PRECONDITION_FAILED', /sha256/);
    // A dry run: it finishes a run (the metric) without failing other test files' stale uploads.
    await untilRan(() => server.admin.storage.runCleanup.mutate({ job: 'stale-uploads', dryRun: true }));
    stop.abort();
    await listener.close();

    const text = await (await scrape(`Bearer ${TOKEN}`)).text();
    const families = {
      coffer_request_duration_seconds_count: 'request duration',
      coffer_upload_bytes_total: 'upload bytes',
      coffer_upload_verification_seconds_count: 'verification time',
      coffer_upload_failures_total: 'verification failures',
      coffer_artifacts: 'artifacts by status',
      coffer_events_appended_total: 'events appended',
      coffer_events_delivered_total: 'events delivered',
      coffer_event_delivery_lag_seconds_count: 'subscriber lag',
      coffer_db_pool_connections: 'pool usage',
      coffer_cleanup_runs_total: 'cleanup runs',
    };
    for (const family of Object.keys(families)) expect(Math.max(0, ...samples(text, family)), family).toBeGreaterThan(0);
    expect(text).toMatch(
      /coffer_request_duration_seconds_count\{procedure="artifact.completeUpload",outcome="PRECONDITION_FAILED"\} [1-9]/,
    );
    expect(text).toMatch(/coffer_upload_failures_total\{reason="checksum"\} [1-9]/);
    expect(text).toMatch(/coffer_cleanup_runs_total\{job="stale-uploads",outcome="completed"\} [1-9]/);
    expect(text).toContain('# TYPE coffer_subscribers gauge');
  });
});
