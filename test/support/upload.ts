import { createHash, randomBytes } from 'node:crypto';
import type { CofferClient } from '../../client/src/index.ts';
import type { UploadPlan } from '../../shared/schemas/upload.ts';

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
export const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('base64');
export const randomBody = (n: number): Uint8Array<ArrayBuffer> => new Uint8Array(randomBytes(n));

/** The bytes of part `n` (1-based) under `plan`. */
export const partOf = (plan: Pick<UploadPlan, 'partSize'>, bytes: Uint8Array<ArrayBuffer>, n: number) =>
  bytes.subarray((n - 1) * plan.partSize, n * plan.partSize);

/** A part's signed URL, for tests that reuse or tamper with it. */
export interface SignedPart {
  partNumber: number;
  url: string;
  headers: Record<string, string>;
  body: Uint8Array<ArrayBuffer>;
}

/** Signs the given parts (all by default) the way a client would, without sending them. */
export async function signParts(
  client: CofferClient,
  id: string,
  plan: Pick<UploadPlan, 'partSize' | 'partCount'>,
  bytes: Uint8Array<ArrayBuffer>,
  only?: number[],
): Promise<SignedPart[]> {
  const numbers = only ?? Array.from({ length: plan.partCount }, (_, i) => i + 1);
  const { parts } = await client.artifact.signParts.mutate({
    id,
    parts: numbers.map((n) => ({ partNumber: n, md5: md5(partOf(plan, bytes, n)) })),
  });
  return parts.map((p) => ({ partNumber: p.partNumber, url: p.url, headers: p.headers, body: partOf(plan, bytes, p.partNumber) }));
}

/** PUTs one signed part as a browser or worker would; returns the response. */
export const putPart = (p: SignedPart, body: Uint8Array<ArrayBuffer> = p.body) => fetch(p.url, { method: 'PUT', headers: p.headers, body });

/** Sends bytes the way a browser or worker would: each part signed, then a plain HTTP PUT. */
export async function putBytes(
  client: CofferClient,
  id: string,
  plan: Pick<UploadPlan, 'partSize' | 'partCount'>,
  bytes: Uint8Array<ArrayBuffer>,
  only?: number[],
): Promise<void> {
  const signed = await signParts(client, id, plan, bytes, only);
  await Promise.all(
    signed.map(async (p) => {
      // A 5xx is retried, as S3 clients do (s3rver answers an occasional InternalError under load).
      let res = await putPart(p);
      for (let retry = 0; res.status >= 500 && retry < 3; retry++) {
        await res.body?.cancel();
        res = await putPart(p);
      }
      if (!res.ok) throw new Error(`part ${p.partNumber} PUT ${res.status}: ${await res.text()}`);
    }),
  );
}

/** createUpload → parts → completeUpload: a whole upload of `bytes`. */
export async function uploadBytes(
  client: CofferClient,
  bytes: Uint8Array<ArrayBuffer>,
  input: { kind?: string; contentType?: string; filename?: string; declare?: 'create' | 'complete' } = {},
) {
  const declareAtCreate = (input.declare ?? 'create') === 'create';
  const { artifact, upload } = await client.artifact.createUpload.mutate({
    kind: input.kind ?? 'attachment',
    contentType: input.contentType ?? 'application/octet-stream',
    sizeBytes: bytes.length,
    sha256: declareAtCreate ? sha256(bytes) : undefined,
    filename: input.filename,
  });
  await putBytes(client, artifact.id, upload, bytes);
  return client.artifact.completeUpload.mutate({ id: artifact.id, sha256: declareAtCreate ? undefined : sha256(bytes) });
}
