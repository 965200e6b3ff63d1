import { setTimeout as sleep } from 'node:timers/promises';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CofferClient } from '../../client/src/index.ts';
import { artifacts } from '../../server/db/schema/index.ts';
import { MiB } from '../../shared/constants.ts';
import { stagingPrefix } from '../../shared/keys.ts';
import type { UploadPlan } from '../../shared/schemas/upload.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';
import { putBytes, putPart, randomBody, sha256, signParts } from '../support/upload.ts';

/**
 * The upload guarantees, tried as an attacker and as a flaky network would:
 * - no URL handed out for an upload can write an artifact's object, whatever happened to the upload;
 * - calls racing on one upload agree, and never leave `ready` without the verified bytes, nor bytes
 *   behind a `failed` or deleted artifact.
 */
const env = { COFFER_PART_SIZE: String(5 * MiB), COFFER_MAX_UPLOAD_BYTES: String(64 * MiB) };
const ROUNDS = Number(process.env.RACE_ROUNDS ?? 6);

type Started = { id: string; plan: UploadPlan; bytes: Uint8Array<ArrayBuffer> };

describe.each(BACKENDS)('upload guarantees on %s', (backend) => {
  let server: TestServer;
  let client: CofferClient;
  beforeAll(async () => {
    server = await startTestServer({ backend, env });
    client = (await server.newTenant()).client;
  });
  afterAll(() => server?.close());

  const rowOf = async (id: string) => (await server.systemDb.select().from(artifacts).where(eq(artifacts.id, id)))[0];
  const stagedParts = async (id: string, tenantId: string) =>
    (await server.deps.storage.list(stagingPrefix({ tenantId, artifactId: id }))).items.length;

  /**
   * The invariant: ready ⇒ the object hashes to the recorded sha256; anything else ⇒ no bytes
   * left. `partsMayReturn`: a reused S3 part URL may have recreated a part object (which no row
   * owns: the orphan sweep's, see lifecycle tests); it never reaches the artifact's object.
   */
  async function expectConsistent(id: string, bytes: Uint8Array, partsMayReturn = false) {
    const row = await rowOf(id);
    const noParts = async (tenantId: string) => {
      if (!partsMayReturn || backend === 'fs') expect(await stagedParts(id, tenantId)).toBe(0);
    };
    if (row?.status === 'ready') {
      expect(row.sha256).toBe(sha256(bytes));
      const { body } = await server.deps.storage.get(row.storageKey);
      expect(sha256(Buffer.concat(await body.toArray()))).toBe(row.sha256);
      await noParts(row.tenantId);
      return 'ready';
    }
    if (row) {
      expect(row.status).toBe('failed');
      expect(await server.deps.storage.head(row.storageKey)).toBeNull();
      await noParts(row.tenantId);
      return 'failed';
    }
    return 'deleted';
  }

  async function start(size: number, declare = true): Promise<Started> {
    const bytes = randomBody(size);
    const { artifact, upload } = await client.artifact.createUpload.mutate({
      kind: 'attachment',
      contentType: 'application/octet-stream',
      sizeBytes: size,
      sha256: declare ? sha256(bytes) : undefined,
    });
    return { id: artifact.id, plan: upload, bytes };
  }

  const settle = <T>(p: Promise<T>) =>
    p.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, code: (error as { data?: { code?: string } }).data?.code, error }),
    );

  describe('URLs die with their purpose', () => {
    /** Signs every part, sends them, then reuses the same URLs after `end` with other bytes and with the same bytes. */
    async function reuseAfter(s: Started, end: () => Promise<unknown>) {
      const signed = await signParts(client, s.id, s.plan, s.bytes);
      for (const p of signed) expect((await putPart(p)).status).toBe(200);
      const row = (await rowOf(s.id))!;
      // A part URL names a part object, never the artifact's own key.
      for (const p of signed) expect(decodeURIComponent(new URL(p.url).pathname)).not.toContain(row!.storageKey);
      await end();
      const answers: number[] = [];
      for (const p of signed) {
        const other = randomBody(p.body.length);
        answers.push((await putPart(p, other)).status, (await putPart(p)).status);
      }
      return { answers, signed, row };
    }

    it.each([
      ['a one-part upload', 200_000],
      ['a three-part upload', 10 * MiB + 17],
    ])('after ready, %s keeps the verified bytes whatever is sent to its URLs', async (_label, size) => {
      const s = await start(size);
      const { answers } = await reuseAfter(s, () => client.artifact.completeUpload.mutate({ id: s.id }));
      // Other bytes: the MD5 bound into the URL refuses them. The same bytes: refused (disk) or
      // recreate a part object no row owns (S3), never the artifact's object.
      for (const status of answers) expect([200, 400, 404, 412]).toContain(status);
      expect(answers.filter((_, i) => i % 2 === 0).every((status) => status === 400 || status === 404)).toBe(true);
      if (backend === 'fs') expect(answers.every((status) => status === 404)).toBe(true);
      expect(await expectConsistent(s.id, s.bytes, true)).toBe('ready');
      const dl = await client.artifact.getDownloadUrl.query({ id: s.id });
      expect(sha256(new Uint8Array(await (await fetch(dl.url)).arrayBuffer()))).toBe(sha256(s.bytes));
      await expect(client.artifact.get.query({ id: s.id })).rejects.toMatchObject({ data: { code: 'PRECONDITION_FAILED' } }); // binary, not inline
    });

    it.each([
      ['abort', (id: string) => client.artifact.abortUpload.mutate({ id })],
      ['delete', (id: string) => client.artifact.delete.mutate({ id })],
      ['a failed verification', (id: string) => client.artifact.completeUpload.mutate({ id, sha256: 'e'.repeat(64) }).catch(() => {})],
    ])('after %s, reused URLs cannot give the artifact bytes', async (_label, end) => {
      const s = await start(6 * MiB, false);
      const { row, answers } = await reuseAfter(s, () => end(s.id));
      expect(await server.deps.storage.head(row.storageKey)).toBeNull();
      if (backend === 'fs') {
        expect(answers.every((status) => status === 404)).toBe(true);
        expect(await stagedParts(s.id, row.tenantId)).toBe(0);
      }
      expect(await expectConsistent(s.id, s.bytes, true)).not.toBe('ready');
    });

    it('a snapshot and a diff pack get keys of their own; URLs of a replaced pack cannot reach the new one', async () => {
      const bytes = randomBody(100_000);
      const v1 = await client.version.create.mutate({ projectId: 'keys', source: 'build', snapshot: { sizeBytes: bytes.length } });
      const v2 = await client.version.create.mutate({ projectId: 'keys', source: 'build', snapshot: { sizeBytes: bytes.length } });
      const [a, b] = [await rowOf(v1.version.snapshotArtifactId!), await rowOf(v2.version.snapshotArtifactId!)];
      expect(a!.storageKey).not.toBe(b!.storageKey);
      expect(a!.storageKey).toContain(a!.id);

      const pair = { fromVersionId: v1.version.id, toVersionId: v2.version.id };
      const old = await client.version.putDiffPack.mutate({ ...pair, sizeBytes: bytes.length, sha256: sha256(bytes) });
      const oldParts = await signParts(client, old.artifact.id, old.upload, bytes);
      for (const p of oldParts) expect((await putPart(p)).status).toBe(200);
      await client.artifact.completeUpload.mutate({ id: old.artifact.id, sha256: 'f'.repeat(64) }).catch(() => {}); // fails
      const pack = randomBody(100_000);
      const replaced = await client.version.putDiffPack.mutate({ ...pair, sizeBytes: pack.length, sha256: sha256(pack) });
      expect(replaced.artifact.id).not.toBe(old.artifact.id);
      await putBytes(client, replaced.artifact.id, replaced.upload, pack);
      await client.artifact.completeUpload.mutate({ id: replaced.artifact.id });
      for (const p of oldParts) await putPart(p); // the old pack's URLs, reused
      const got = await client.version.getDiffPack.query(pair);
      expect(sha256(new Uint8Array(await (await fetch(got.url)).arrayBuffer()))).toBe(sha256(pack));
    });
  });

  describe('calls racing on one upload agree', () => {
    it(`16 identical completions in parallel: all answer ready, the bytes are the verified ones (${ROUNDS} rounds)`, async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const s = await start(round % 2 ? 10 * MiB + round : 300_000 + round);
        await putBytes(client, s.id, s.plan, s.bytes);
        const answers = await Promise.all(
          Array.from({ length: 16 }, (_, i) => sleep(i % 4).then(() => settle(client.artifact.completeUpload.mutate({ id: s.id })))),
        );
        expect(answers.map((a) => (a.ok ? a.value.status : a.code))).toEqual(Array(16).fill('ready'));
        expect(await expectConsistent(s.id, s.bytes)).toBe('ready');
      }
    }, 120_000);

    it(`a completion racing a differing completion: ready with the right bytes, or failed with nothing left (${ROUNDS} rounds)`, async () => {
      const outcomes = new Set<string>();
      for (let round = 0; round < ROUNDS; round++) {
        const s = await start(round % 2 ? 10 * MiB : 200_000, false);
        await putBytes(client, s.id, s.plan, s.bytes);
        const right = client.artifact.completeUpload.mutate({ id: s.id, sha256: sha256(s.bytes) });
        await sleep(round);
        const wrong = client.artifact.completeUpload.mutate({ id: s.id, sha256: 'a'.repeat(64) });
        const [r, w] = await Promise.all([settle(right), settle(wrong)]);
        const state = await expectConsistent(s.id, s.bytes);
        outcomes.add(state);
        expect(r.ok || w.ok).toBe(state === 'ready');
        expect(w.ok).toBe(false);
      }
      expect([...outcomes].every((o) => o === 'ready' || o === 'failed')).toBe(true);
    }, 120_000);

    it(`a completion racing an abort never leaves ready without bytes (${ROUNDS} rounds)`, async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const s = await start(round % 2 ? 10 * MiB : 200_000);
        await putBytes(client, s.id, s.plan, s.bytes);
        const complete = settle(client.artifact.completeUpload.mutate({ id: s.id }));
        await sleep(round * 2);
        const abort = settle(client.artifact.abortUpload.mutate({ id: s.id }));
        const [c, a] = await Promise.all([complete, abort]);
        const state = await expectConsistent(s.id, s.bytes);
        expect(c.ok).toBe(state === 'ready');
        expect(a.ok).toBe(state === 'failed');
      }
    }, 120_000);

    it(`a completion racing a delete: either wins whole, nothing is left half done (${ROUNDS} rounds)`, async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const s = await start(round % 2 ? 10 * MiB : 200_000);
        await putBytes(client, s.id, s.plan, s.bytes);
        const tenantId = (await rowOf(s.id))!.tenantId;
        const complete = settle(client.artifact.completeUpload.mutate({ id: s.id }));
        await sleep(round * 2);
        // A delete that meets a verification in progress is told to retry: a client retries after
        // a pause (a tight loop through a slow verification spends the key's rate-limit tokens).
        let deleted = await settle(client.artifact.delete.mutate({ id: s.id }));
        while (!deleted.ok && deleted.code === 'CONFLICT') {
          await sleep(25);
          deleted = await settle(client.artifact.delete.mutate({ id: s.id }));
        }
        await complete;
        expect(deleted).toMatchObject({ ok: true });
        expect(await rowOf(s.id)).toBeUndefined();
        expect(await stagedParts(s.id, tenantId)).toBe(0);
        const keys = await server.deps.storage.list(`tenants/${tenantId}/attachment/`);
        expect(keys.items.filter((k) => k.key.includes(s.id))).toEqual([]);
      }
    }, 120_000);

    it('takes over a verification whose verifier died, and finishes it from the stored parts', async () => {
      const s = await start(10 * MiB + 3);
      await putBytes(client, s.id, s.plan, s.bytes);
      // As a crash would leave it: verifying, its lease long expired.
      await server.systemDb
        .update(artifacts)
        .set({ status: 'verifying', updatedAt: new Date(Date.now() - 120_000) })
        .where(eq(artifacts.id, s.id));
      await expect(client.artifact.completeUpload.mutate({ id: s.id })).resolves.toMatchObject({ status: 'ready' });
      expect(await expectConsistent(s.id, s.bytes)).toBe('ready');
    });

    it('finishes with a new assembly when the recorded one is gone (a stalled verifier completed it)', async () => {
      const s = await start(10 * MiB + 3);
      await putBytes(client, s.id, s.plan, s.bytes);
      await client.artifact.signParts.mutate({ id: s.id, parts: [{ partNumber: 1, md5: 'AAAAAAAAAAAAAAAAAAAAAA==' }] }); // nudges the verifier
      await expect.poll(async () => (await rowOf(s.id))!.uploadId, { timeout: 30_000 }).toBeTruthy();
      const row = (await rowOf(s.id))!;
      // s3rver may answer InternalError while the verifier copies into the same assembly: retried, as S3 clients do.
      for (let attempt = 1; ; attempt++) {
        const aborted = await server.deps.storage.abortMultipart(row.storageKey, row.uploadId!).then(
          () => true,
          (err: unknown) => (attempt < 5 ? false : Promise.reject(err)),
        );
        if (aborted) break;
        await sleep(200);
      }
      await expect(client.artifact.completeUpload.mutate({ id: s.id })).resolves.toMatchObject({ status: 'ready' });
      expect(await expectConsistent(s.id, s.bytes)).toBe('ready');
    });
  });
});
