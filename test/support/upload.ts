import { createHash, randomBytes } from 'node:crypto';
import type { UploadInstructions } from '../../shared/schemas/upload.ts';

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
export const randomBody = (n: number): Uint8Array<ArrayBuffer> => new Uint8Array(randomBytes(n));

/** Sends bytes the way a browser or worker would: plain HTTP PUTs to the signed URLs. */
export async function putBytes(upload: UploadInstructions, bytes: Uint8Array<ArrayBuffer>) {
  if (upload.mode === 'single') {
    const res = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: bytes });
    if (!res.ok) throw new Error(`PUT ${res.status}: ${await res.text()}`);
    return undefined;
  }
  return Promise.all(
    upload.parts.map(async (p) => {
      const start = (p.partNumber - 1) * upload.partSize;
      const res = await fetch(p.url, { method: 'PUT', body: bytes.subarray(start, start + p.sizeBytes) });
      if (!res.ok) throw new Error(`part ${p.partNumber} PUT ${res.status}: ${await res.text()}`);
      return { partNumber: p.partNumber, etag: res.headers.get('etag') ?? '' };
    }),
  );
}
