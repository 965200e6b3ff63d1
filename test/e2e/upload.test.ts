import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB } from '../../shared/constants.ts';
import { stagingPrefix } from '../../shared/keys.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';
import { md5, partOf, putBytes, putPart, randomBody, sha256, signParts } from '../support/upload.ts';

const env = {
  COFFER_PART_SIZE: String(5 * MiB),
  COFFER_MAX_UPLOAD_BYTES: String(32 * MiB),
  COFFER_WARN_UPLOAD_BYTES: String(10 * MiB),
};

describe.each(BACKENDS)('direct uploads on %s', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend, env });
  });
  afterAll(() => server?.close());

  const rowOf = (id: string) => server.systemDb.query.artifacts.findFirst({ where: (a, { eq }) => eq(a.id, id) });
  /** Nothing of the artifact is left in storage: no object at its key, no parts. */
  const noBytesLeft = async (id: string) => {
    const row = await rowOf(id);
    const parts = await server.deps.storage.list(stagingPrefix({ tenantId: row!.tenantId, artifactId: id }));
    return (await server.deps.storage.head(row!.storageKey)) === null && parts.items.length === 0;
  };

  it('uploads a small file as one signed part, verifies it and serves it back', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(100_000);
    const { artifact, upload, warnings } = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
      sha256: sha256(bytes),
      filename: 'report final.bin',
    });
    expect(artifact.status).toBe('pending');
    expect(upload).toMatchObject({ partSize: 5 * MiB, partCount: 1 });
    expect(upload.expiresAt.getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);
    expect(warnings).toEqual([]);
    await putBytes(t.client, artifact.id, upload, bytes);
    const ready = await t.client.artifact.completeUpload.mutate({ id: artifact.id });
    expect(ready).toMatchObject({ status: 'ready', sizeBytes: bytes.length, sha256: sha256(bytes), filename: 'report final.bin' });
    await expect(t.client.artifact.completeUpload.mutate({ id: artifact.id })).resolves.toMatchObject({ status: 'ready' });
    // The parts are gone once the artifact is ready; its own object holds the bytes.
    expect((await t.client.artifact.getUpload.query({ id: artifact.id })).parts).toEqual([]);

    const dl = await t.client.artifact.getDownloadUrl.query({ id: artifact.id });
    const res = await fetch(dl.url, { headers: { range: 'bytes=10-19' } });
    expect(res.status).toBe(206);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes.subarray(10, 20));
    expect(res.headers.get('content-disposition')).toMatch(/attachment; filename="report final.bin"/);
  });

  it('uploads in parts signed one by one, lists what landed, and names the parts still missing', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(11 * MiB + 123);
    const created = await t.client.artifact.createUpload.mutate({
      kind: 'build_snapshot',
      contentType: 'application/zip',
      sizeBytes: bytes.length,
      sha256: sha256(bytes),
    });
    expect(created.upload).toMatchObject({ partSize: 5 * MiB, partCount: 3 });
    expect(created.warnings[0]).toMatch(/warning size/);
    const id = created.artifact.id;
    await putBytes(t.client, id, created.upload, bytes, [1, 3]);
    const state = await t.client.artifact.getUpload.query({ id });
    expect(state.parts.map((p) => [p.partNumber, p.sizeBytes])).toEqual([
      [1, 5 * MiB],
      [3, MiB + 123],
    ]);
    expect(state.parts[0]!.etag.replace(/"/g, '')).toBe(Buffer.from(md5(partOf(created.upload, bytes, 1)), 'base64').toString('hex'));
    await expectTrpcError(t.client.artifact.completeUpload.mutate({ id }), 'PRECONDITION_FAILED', /parts not uploaded yet: 2; PUT them/);
    expect(await t.client.artifact.getInfo.query({ id })).toMatchObject({ status: 'pending' });
    await putBytes(t.client, id, created.upload, bytes, [2]);
    const ready = await t.client.artifact.completeUpload.mutate({ id });
    expect(ready.status).toBe('ready');
    const dl = await t.client.artifact.getDownloadUrl.query({ id: ready.id });
    expect(sha256(new Uint8Array(await (await fetch(dl.url)).arrayBuffer()))).toBe(sha256(bytes));
    expect((await rowOf(id))!.uploadId).toBeTruthy(); // assembled by the server, not by the client
  });

  it('refuses bad part requests with typed errors', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(1000);
    const { artifact } = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
    });
    await expectTrpcError(
      t.client.artifact.signParts.mutate({ id: artifact.id, parts: [{ partNumber: 2, md5: md5(bytes) }] }),
      'BAD_REQUEST',
      /part 2 does not exist: this upload has 1 part/,
    );
    await expectTrpcError(
      t.client.artifact.signParts.mutate({ id: artifact.id, parts: [{ partNumber: 1, md5: 'not-an-md5' }] }),
      'BAD_REQUEST',
      /base64 MD5/,
    );
    await expectTrpcError(t.client.artifact.signParts.mutate({ id: artifact.id, parts: [] }), 'BAD_REQUEST');
    const other = await server.newTenant();
    await expectTrpcError(
      other.client.artifact.signParts.mutate({ id: artifact.id, parts: [{ partNumber: 1, md5: md5(bytes) }] }),
      'NOT_FOUND',
    );
    await expectTrpcError(other.client.artifact.getUpload.query({ id: artifact.id }), 'NOT_FOUND');
  });

  it('lets the bucket refuse a part whose bytes do not match the Content-MD5 it was signed with', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(4096);
    const { artifact, upload } = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
      sha256: sha256(bytes),
    });
    const [part] = await signParts(t.client, artifact.id, upload, bytes);
    const damaged = new Uint8Array(bytes);
    damaged[100]! ^= 1;
    const res = await putPart(part!, damaged);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/BadDigest/);
    expect((await t.client.artifact.getUpload.query({ id: artifact.id })).parts).toEqual([]);
    expect((await putPart(part!)).status).toBe(200);
    await expect(t.client.artifact.completeUpload.mutate({ id: artifact.id })).resolves.toMatchObject({ status: 'ready' });
  });

  it('fails an upload whose bytes do not hash to the declared sha256, removes them and says which check failed', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(6 * MiB);
    const declared = sha256(randomBody(10));
    const { artifact, upload } = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
      sha256: declared,
    });
    await putBytes(t.client, artifact.id, upload, bytes);
    await expectTrpcError(t.client.artifact.completeUpload.mutate({ id: artifact.id }), 'PRECONDITION_FAILED', /sha256 check failed/);
    expect(await t.client.artifact.getInfo.query({ id: artifact.id })).toMatchObject({
      status: 'failed',
      failureReason: expect.stringMatching(new RegExp(`${declared} declared`)),
    });
    expect(await noBytesLeft(artifact.id)).toBe(true);
    await expectTrpcError(t.client.artifact.getDownloadUrl.query({ id: artifact.id }), 'PRECONDITION_FAILED');
    await expectTrpcError(t.client.artifact.completeUpload.mutate({ id: artifact.id }), 'PRECONDITION_FAILED', /upload is failed/);
  });

  it.each([
    ['one part', 100_000],
    ['parts', 6 * MiB + 7],
  ])('takes the sha256 at completeUpload instead of createUpload (%s)', async (_mode, size) => {
    const t = await server.newTenant();
    const bytes = randomBody(size);
    const { artifact, upload } = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
    });
    expect(artifact).toMatchObject({ status: 'pending', sha256: '' });
    await putBytes(t.client, artifact.id, upload, bytes);
    const ready = await t.client.artifact.completeUpload.mutate({ id: artifact.id, sha256: sha256(bytes) });
    expect(ready).toMatchObject({ status: 'ready', sha256: sha256(bytes) });
    // A retried completion with the same checksum is a retry; with another it is refused and changes nothing.
    await expect(t.client.artifact.completeUpload.mutate({ id: artifact.id, sha256: sha256(bytes) })).resolves.toMatchObject({
      status: 'ready',
    });
    await expectTrpcError(
      t.client.artifact.completeUpload.mutate({ id: artifact.id, sha256: 'b'.repeat(64) }),
      'PRECONDITION_FAILED',
      /already ready/,
    );
    expect(await t.client.artifact.getInfo.query({ id: artifact.id })).toMatchObject({ status: 'ready', sha256: sha256(bytes) });
  });

  it('refuses a completion with the sha256 declared at neither call, naming the fix, and keeps the upload pending', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(100_000);
    const { artifact, upload } = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
    });
    await putBytes(t.client, artifact.id, upload, bytes);
    await expectTrpcError(
      t.client.artifact.completeUpload.mutate({ id: artifact.id }),
      'BAD_REQUEST',
      /no sha256 declared: pass it to completeUpload/,
    );
    expect(await t.client.artifact.getInfo.query({ id: artifact.id })).toMatchObject({ status: 'pending' });
    await expect(t.client.artifact.completeUpload.mutate({ id: artifact.id, sha256: sha256(bytes) })).resolves.toMatchObject({
      status: 'ready',
    });
  });

  it('fails an upload whose sha256 is declared at both calls differently, and removes its parts; the same one twice is fine', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(6 * MiB);
    const declare = () =>
      t.client.artifact.createUpload.mutate({
        kind: 'attachment',
        contentType: 'application/octet-stream',
        sizeBytes: bytes.length,
        sha256: sha256(bytes),
      });
    const twice = await declare();
    await putBytes(t.client, twice.artifact.id, twice.upload, bytes);
    await expectTrpcError(
      t.client.artifact.completeUpload.mutate({ id: twice.artifact.id, sha256: 'c'.repeat(64) }),
      'PRECONDITION_FAILED',
      /declared twice and differently/,
    );
    expect(await t.client.artifact.getInfo.query({ id: twice.artifact.id })).toMatchObject({
      status: 'failed',
      failureReason: expect.stringMatching(/declared twice/),
    });
    expect(await noBytesLeft(twice.artifact.id)).toBe(true);

    const same = await declare();
    await putBytes(t.client, same.artifact.id, same.upload, bytes);
    await expect(t.client.artifact.completeUpload.mutate({ id: same.artifact.id, sha256: sha256(bytes) })).resolves.toMatchObject({
      status: 'ready',
    });
  });

  it('lets version.create leave the snapshot sha256 to completeUpload, and keeps idempotency retries sound', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(100_000);
    const base = { projectId: 'p1', source: 'build' as const, idempotencyKey: 'k1' };
    const first = await t.client.version.create.mutate({ ...base, snapshot: { sizeBytes: bytes.length, contentType: 'application/zip' } });
    expect(first.version).toMatchObject({ status: 'uploading', snapshot: { sha256: '' } });
    // The first call left it to completion: a retry that declares one would have it dropped.
    await expectTrpcError(
      t.client.version.create.mutate({ ...base, snapshot: { sizeBytes: bytes.length, sha256: sha256(bytes) } }),
      'CONFLICT',
      /idempotency key/,
    );
    const retry = await t.client.version.create.mutate({ ...base, snapshot: { sizeBytes: bytes.length } });
    expect(retry.version.id).toBe(first.version.id);
    expect(retry.upload).toMatchObject({ partSize: first.upload!.partSize, partCount: first.upload!.partCount });
    const artifactId = first.version.snapshotArtifactId!;
    await putBytes(t.client, artifactId, retry.upload!, bytes);
    await t.client.artifact.completeUpload.mutate({ id: artifactId, sha256: sha256(bytes) });
    // Verified now: a retry declaring the same sha256 is a retry, another one is CONFLICT.
    const again = await t.client.version.create.mutate({ ...base, snapshot: { sizeBytes: bytes.length, sha256: sha256(bytes) } });
    expect(again.version).toMatchObject({ status: 'ready', snapshot: { sha256: sha256(bytes) } });
    expect(again.upload).toBeUndefined();
    await expectTrpcError(
      t.client.version.create.mutate({ ...base, snapshot: { sizeBytes: bytes.length, sha256: 'd'.repeat(64) } }),
      'CONFLICT',
      /idempotency key/,
    );
  });

  it('refuses an oversized upload before a byte moves, naming the limit', async () => {
    const t = await server.newTenant();
    await expectTrpcError(
      t.client.artifact.createUpload.mutate({ kind: 'attachment', contentType: 'application/octet-stream', sizeBytes: 33 * MiB }),
      'PAYLOAD_TOO_LARGE',
      /COFFER_MAX_UPLOAD_BYTES/,
    );
    expect((await t.client.artifact.list.query({})).items).toEqual([]);
  });

  it('aborts a pending upload: its parts go, a second abort answers the same, and it cannot be completed', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(6 * MiB);
    const { artifact, upload } = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
      sha256: sha256(bytes),
    });
    await putBytes(t.client, artifact.id, upload, bytes, [1]);
    const aborted = await t.client.artifact.abortUpload.mutate({ id: artifact.id });
    expect(aborted).toMatchObject({ status: 'failed', failureReason: 'aborted by the client' });
    await expect(t.client.artifact.abortUpload.mutate({ id: artifact.id })).resolves.toMatchObject({ status: 'failed' });
    expect(await noBytesLeft(artifact.id)).toBe(true);
    await expectTrpcError(t.client.artifact.completeUpload.mutate({ id: artifact.id }), 'PRECONDITION_FAILED', /aborted by the client/);
    await expectTrpcError(
      t.client.artifact.signParts.mutate({ id: artifact.id, parts: [{ partNumber: 2, md5: md5(bytes) }] }),
      'PRECONDITION_FAILED',
      /start a new one/,
    );
  });
});

describe.each(BACKENDS)('slow uploads on %s', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    // Part URLs live three seconds: an upload slower than that must still complete.
    server = await startTestServer({ backend, env: { ...env, COFFER_UPLOAD_URL_EXPIRY: '3' } });
  });
  afterAll(() => server?.close());

  it('completes an upload that runs far longer than its URLs live, signing each part as it goes', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(10 * MiB + 5);
    const { artifact, upload } = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
      sha256: sha256(bytes),
    });
    const [stale] = await signParts(t.client, artifact.id, upload, bytes, [1]);
    await sleep(4_100);
    expect((await putPart(stale!)).status).toBe(403); // its URL expired
    for (const n of [1, 2, 3]) {
      await putBytes(t.client, artifact.id, upload, bytes, [n]);
      await sleep(1_600); // the whole upload lasts well past one URL's life
    }
    await expect(t.client.artifact.completeUpload.mutate({ id: artifact.id })).resolves.toMatchObject({ status: 'ready' });
  });

  it('counts an upload’s life from its last activity: signing a part moves it on', async () => {
    const t = await server.newTenant();
    const { artifact, upload } = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: 10,
    });
    await sleep(50);
    const { parts } = await t.client.artifact.signParts.mutate({ id: artifact.id, parts: [{ partNumber: 1, md5: md5(randomBody(10)) }] });
    expect(parts[0]).toMatchObject({ partNumber: 1, method: 'PUT', sizeBytes: 10 });
    const state = await t.client.artifact.getUpload.query({ id: artifact.id });
    expect(state.expiresAt!.getTime()).toBeGreaterThan(upload.expiresAt.getTime());
  });
});
