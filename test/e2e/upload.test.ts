import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB } from '../../shared/constants.ts';
import { expectTrpcError } from '../support/expect-error.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';
import { putBytes, randomBody, sha256 } from '../support/upload.ts';

const env = {
  COFFER_MULTIPART_THRESHOLD: String(5 * MiB),
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

  it('uploads a small file with one signed PUT, verifies it and serves it back', async () => {
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
    expect(upload.mode).toBe('single');
    expect(warnings).toEqual([]);
    await putBytes(upload, bytes);
    const ready = await t.client.artifact.completeUpload.mutate({ id: artifact.id });
    expect(ready).toMatchObject({ status: 'ready', sizeBytes: bytes.length, filename: 'report final.bin' });
    await expect(t.client.artifact.completeUpload.mutate({ id: artifact.id })).resolves.toMatchObject({ status: 'ready' });

    const dl = await t.client.artifact.getDownloadUrl.query({ id: artifact.id });
    const res = await fetch(dl.url, { headers: { range: 'bytes=10-19' } });
    expect(res.status).toBe(206);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes.subarray(10, 20));
    expect(res.headers.get('content-disposition')).toMatch(/attachment; filename="report final.bin"/);
  });

  it('uploads a multipart file, parts straight to storage, with a size warning', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(11 * MiB + 123);
    const created = await t.client.artifact.createUpload.mutate({
      kind: 'build_snapshot',
      contentType: 'application/zip',
      sizeBytes: bytes.length,
      sha256: sha256(bytes),
    });
    expect(created.upload.mode).toBe('multipart');
    if (created.upload.mode !== 'multipart') return;
    expect(created.upload.parts.map((p) => p.sizeBytes)).toEqual([5 * MiB, 5 * MiB, MiB + 123]);
    expect(created.warnings[0]).toMatch(/warning size/);
    await expectTrpcError(t.client.artifact.completeUpload.mutate({ id: created.artifact.id }), 'BAD_REQUEST', /parts/);
    const parts = await putBytes(created.upload, bytes);
    const ready = await t.client.artifact.completeUpload.mutate({ id: created.artifact.id, parts });
    expect(ready.status).toBe('ready');
    const dl = await t.client.artifact.getDownloadUrl.query({ id: ready.id });
    expect(sha256(new Uint8Array(await (await fetch(dl.url)).arrayBuffer()))).toBe(sha256(bytes));
  });

  it('fails a corrupted upload, removes the object and says which check failed', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(4096);
    const declared = sha256(randomBody(10));
    const { artifact, upload } = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
      sha256: declared,
    });
    // The test backends (s3rver, Ceph 16, disk) accept the PUT; completeUpload must catch the mismatch.
    await putBytes(upload, bytes);
    await expectTrpcError(t.client.artifact.completeUpload.mutate({ id: artifact.id }), 'PRECONDITION_FAILED', /sha256 check failed/);
    const [failed] = (await t.client.artifact.list.query({})).items;
    expect(failed).toMatchObject({ id: artifact.id, status: 'failed', failureReason: expect.stringMatching(/sha256 check failed/) });
    const row = await server.systemDb.query.artifacts.findFirst({ where: (a, { eq }) => eq(a.id, artifact.id) });
    expect(await server.deps.storage.head(row!.storageKey)).toBeNull();
    await expectTrpcError(t.client.artifact.getDownloadUrl.query({ id: artifact.id }), 'PRECONDITION_FAILED');
  });

  it('fails a multipart upload whose size differs from the declared one', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(6 * MiB);
    const created = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
      sha256: sha256(bytes),
    });
    if (created.upload.mode !== 'multipart') throw new Error('expected multipart');
    // Upload only the first part and complete with it: the stored object is shorter than declared.
    const first = created.upload.parts[0]!;
    const res = await fetch(first.url, { method: 'PUT', body: bytes.subarray(0, first.sizeBytes) });
    expect(res.ok).toBe(true);
    const parts = [{ partNumber: 1, etag: res.headers.get('etag') ?? '' }];
    await expectTrpcError(
      t.client.artifact.completeUpload.mutate({ id: created.artifact.id, parts }),
      'PRECONDITION_FAILED',
      /size check failed/,
    );
    const failed = (await t.client.artifact.list.query({ status: 'failed' })).items;
    expect(failed.map((a) => a.id)).toEqual([created.artifact.id]);
    expect(failed[0]!.failureReason).toMatch(/size check failed/);
  });

  const removed = async (id: string) => {
    const row = await server.systemDb.query.artifacts.findFirst({ where: (a, { eq }) => eq(a.id, id) });
    return (await server.deps.storage.head(row!.storageKey)) === null;
  };

  it.each([
    ['one PUT', 100_000],
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
    const parts = await putBytes(upload, bytes);
    const ready = await t.client.artifact.completeUpload.mutate({ id: artifact.id, parts, sha256: sha256(bytes) });
    expect(ready).toMatchObject({ status: 'ready', sha256: sha256(bytes) });
    // A retried completion with the same checksum is a retry; with another it is refused and changes nothing.
    await expect(t.client.artifact.completeUpload.mutate({ id: artifact.id, parts, sha256: sha256(bytes) })).resolves.toMatchObject({
      status: 'ready',
    });
    await expectTrpcError(
      t.client.artifact.completeUpload.mutate({ id: artifact.id, sha256: 'b'.repeat(64) }),
      'PRECONDITION_FAILED',
      /already ready/,
    );
    expect(await t.client.artifact.getInfo.query({ id: artifact.id })).toMatchObject({ status: 'ready', sha256: sha256(bytes) });
  });

  it('fails an upload whose sha256 declared at completeUpload does not match, and removes the object', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(6 * MiB);
    const created = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
    });
    const parts = await putBytes(created.upload, bytes);
    const wrong = sha256(randomBody(10));
    await expectTrpcError(
      t.client.artifact.completeUpload.mutate({ id: created.artifact.id, parts, sha256: wrong }),
      'PRECONDITION_FAILED',
      /sha256 check failed/,
    );
    expect(await t.client.artifact.getInfo.query({ id: created.artifact.id })).toMatchObject({
      status: 'failed',
      failureReason: expect.stringMatching(new RegExp(`${wrong} declared`)),
    });
    expect(await removed(created.artifact.id)).toBe(true);
  });

  it('refuses a completion with the sha256 declared at neither call, naming the fix, and keeps the upload pending', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(100_000);
    const { artifact, upload } = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
    });
    await putBytes(upload, bytes);
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

  it('fails an upload whose sha256 is declared at both calls differently, and removes the object; the same one twice is fine', async () => {
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
    const twiceParts = await putBytes(twice.upload, bytes);
    await expectTrpcError(
      t.client.artifact.completeUpload.mutate({ id: twice.artifact.id, parts: twiceParts, sha256: 'c'.repeat(64) }),
      'PRECONDITION_FAILED',
      /declared twice and differently/,
    );
    expect(await t.client.artifact.getInfo.query({ id: twice.artifact.id })).toMatchObject({
      status: 'failed',
      failureReason: expect.stringMatching(/declared twice/),
    });
    expect(await removed(twice.artifact.id)).toBe(true);

    const same = await declare();
    const parts = await putBytes(same.upload, bytes);
    await expect(t.client.artifact.completeUpload.mutate({ id: same.artifact.id, parts, sha256: sha256(bytes) })).resolves.toMatchObject({
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
    await putBytes(retry.upload!, bytes);
    const artifactId = first.version.snapshotArtifactId!;
    await t.client.artifact.completeUpload.mutate({ id: artifactId, sha256: sha256(bytes) });
    // Verified now: a retry declaring the same sha256 is a retry, another one is CONFLICT.
    expect(
      (await t.client.version.create.mutate({ ...base, snapshot: { sizeBytes: bytes.length, sha256: sha256(bytes) } })).version,
    ).toMatchObject({ status: 'ready', snapshot: { sha256: sha256(bytes) } });
    await expectTrpcError(
      t.client.version.create.mutate({ ...base, snapshot: { sizeBytes: bytes.length, sha256: 'd'.repeat(64) } }),
      'CONFLICT',
      /idempotency key/,
    );
  });

  it('refuses an oversized upload before any byte moves, leaving no row', async () => {
    const t = await server.newTenant();
    await expectTrpcError(
      t.client.artifact.createUpload.mutate({
        kind: 'attachment',
        contentType: 'application/zip',
        sizeBytes: 33 * MiB,
        sha256: 'a'.repeat(64),
      }),
      'PAYLOAD_TOO_LARGE',
      /COFFER_MAX_UPLOAD_BYTES/,
    );
    await expectTrpcError(
      t.client.artifact.createUpload.mutate({ kind: 'attachment', contentType: 'application/zip', sizeBytes: -1, sha256: 'a'.repeat(64) }),
      'BAD_REQUEST',
    );
    await expectTrpcError(
      t.client.artifact.createUpload.mutate({ kind: 'attachment', contentType: 'application/zip', sizeBytes: 1, sha256: 'A'.repeat(64) }),
      'BAD_REQUEST',
      /sha256/,
    );
    await expectTrpcError(
      t.client.artifact.createUpload.mutate({
        kind: 'attachment',
        contentType: 'application/zip',
        sizeBytes: 1,
        sha256: 'a'.repeat(64),
        filename: '../../etc/passwd',
      }),
      'BAD_REQUEST',
      /file name/,
    );
    expect((await t.client.artifact.list.query({})).items).toEqual([]);
  });

  it('aborts a multipart upload and removes its parts', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(6 * MiB);
    const created = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: bytes.length,
      sha256: sha256(bytes),
    });
    if (created.upload.mode !== 'multipart') throw new Error('expected multipart');
    const parts = await putBytes(created.upload, bytes);
    const aborted = await t.client.artifact.abortUpload.mutate({ id: created.artifact.id });
    expect(aborted).toMatchObject({ status: 'failed', failureReason: 'aborted by the client' });
    await expectTrpcError(t.client.artifact.completeUpload.mutate({ id: created.artifact.id, parts }), 'PRECONDITION_FAILED', /failed/);
    const key = (await server.systemDb.query.artifacts.findFirst({ where: (a, { eq }) => eq(a.id, created.artifact.id) }))!.storageKey;
    expect(await server.deps.storage.head(key)).toBeNull();
  });

  it('keeps uploads tenant-scoped', async () => {
    const a = await server.newTenant();
    const b = await server.newTenant();
    const bytes = randomBody(1000);
    const { artifact } = await a.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'text/plain',
      sizeBytes: 1000,
      sha256: sha256(bytes),
    });
    await expectTrpcError(b.client.artifact.completeUpload.mutate({ id: artifact.id }), 'NOT_FOUND');
    await expectTrpcError(b.client.artifact.abortUpload.mutate({ id: artifact.id }), 'NOT_FOUND');
  });

  it('refuses tampered and expired upload URLs with 403', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(1000);
    const { upload } = await t.client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'text/plain',
      sizeBytes: 1000,
      sha256: sha256(bytes),
    });
    if (upload.mode !== 'single') throw new Error('expected single');
    const u = new URL(upload.url);
    const sigParam = u.searchParams.has('sig') ? 'sig' : 'X-Amz-Signature';
    const sig = u.searchParams.get(sigParam)!;
    u.searchParams.set(sigParam, (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1));
    expect((await fetch(u, { method: 'PUT', headers: upload.headers, body: bytes })).status).toBe(403);
  });
});
