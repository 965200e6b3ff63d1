import { createHash } from 'node:crypto';
import { partKey, stagingPrefix } from '../../shared/keys.ts';
import { CofferError } from '../errors.ts';
import type { Storage } from '../storage/types.ts';

/** What the verifier needs of an upload's row. */
export interface UploadRef {
  id: string;
  tenantId: string;
  storageKey: string;
  contentType: string;
  sizeBytes: number;
  partSize: number;
  /** The assembly recorded for this upload, if any. */
  uploadId: string | null;
}

/** Parts that have not landed yet: the upload can still be completed once they have. */
export class MissingParts extends Error {
  readonly parts: number[];

  constructor(parts: number[]) {
    super(`parts not uploaded yet: ${summarize(parts)}`);
    this.parts = parts;
  }
}

export interface Verified {
  sha256: string;
  /** Writes the artifact's own object from the verified parts. Call it only once the checksum matched. */
  assemble(): Promise<void>;
}

export const partCount = (u: Pick<UploadRef, 'sizeBytes' | 'partSize'>) => Math.max(1, Math.ceil(u.sizeBytes / u.partSize));

export function partSizeOf(u: Pick<UploadRef, 'sizeBytes' | 'partSize'>, partNumber: number): number {
  const count = partCount(u);
  return partNumber < count ? u.partSize : u.sizeBytes - u.partSize * (count - 1);
}

/** Records an assembly for the upload; resolves with the one recorded (ours, or one recorded first). */
export type RecordAssembly = (u: UploadRef, uploadId: string) => Promise<string>;

/** Copies of parts into one upload's assembly in flight at once (server-side copies on S3). */
const COPY_CONCURRENCY = 4;
/** Part reads in flight at once across all uploads of this instance, so verification cannot starve requests. */
const READ_CONCURRENCY = 6;
/** Progress of an upload nobody has touched for this long is dropped (the next completion starts over). */
const IDLE_MS = 15 * 60 * 1000;
/**
 * After a nudge (parts were just signed), the verifier keeps looking for the next part this long,
 * backing off, so it follows a client sending part after part without being asked each time.
 */
const FOLLOW_MS = 30_000;

/**
 * Verifies uploads while they arrive: hashes each upload's parts in order as they land (a
 * completion then only verifies what is left, about one part), and copies every hashed part into
 * the upload's assembly on the artifact's own key, which only becomes an object when the
 * completion that checked the sha256 finishes it.
 *
 * State is per instance and only a cache: an instance that never saw the upload (another behind
 * the load balancer, or this one after a restart) verifies it from the stored parts, which stay
 * until the artifact is ready. Part objects are create-only and bound to their MD5, so the bytes
 * hashed are the bytes copied; the copy's etag is checked against the part's where both are MD5s.
 */
export class UploadVerifier {
  private readonly progress = new Map<string, Progress>();
  private readonly reads = new Semaphore(READ_CONCURRENCY);
  private readonly storage: Storage;
  private readonly record: RecordAssembly;

  constructor(storage: Storage, record: RecordAssembly) {
    this.storage = storage;
    this.record = record;
  }

  /** Hashes whatever has landed and follows the parts still coming, in the background. Failures only drop the progress. */
  nudge(u: UploadRef): void {
    this.sweep();
    this.of(u)
      .follow()
      ?.catch(() => this.forget(u.id));
  }

  /** Hashes every part (MissingParts when some have not landed) and returns the sha256 and the assembly step. */
  async verify(u: UploadRef): Promise<Verified> {
    const p = this.of(u);
    try {
      await p.advance(true);
      return { sha256: p.digest(), assemble: () => p.assemble() };
    } catch (err) {
      if (!(err instanceof MissingParts)) this.forget(u.id);
      throw err;
    }
  }

  forget(id: string): void {
    this.progress.delete(id);
  }

  /** Stops following and waits for reads and copies in flight, so nothing writes after shutdown. */
  async close(): Promise<void> {
    const all = [...this.progress.values()];
    this.progress.clear();
    await Promise.all(all.map((p) => p.stop()));
  }

  private of(u: UploadRef): Progress {
    let p = this.progress.get(u.id);
    if (!p || p.upload.partSize !== u.partSize) {
      p = new Progress(u, this.storage, this.reads, this.record);
      this.progress.set(u.id, p);
    }
    p.touched = Date.now();
    return p;
  }

  private sweep(): void {
    const before = Date.now() - IDLE_MS;
    for (const [id, p] of this.progress) if (p.touched < before) this.progress.delete(id);
  }
}

/** One upload's ordered hash, its assembly, and the copies into it. */
class Progress {
  touched = Date.now();
  /** Set while a completion waits for this progress: a follower stops waiting for parts. */
  private finishing = false;
  /** Until when a follower keeps waiting for the next part; moved on by every nudge. */
  private followUntil = 0;
  private following = false;
  /** Cuts a follower's wait short: a completion should not wait out the follower's back-off. */
  private wake: (() => void) | null = null;
  /** The sha256 of parts 1..next-1; a part is hashed into a copy that replaces it only once the part was read whole. */
  private hash = createHash('sha256');
  private sha256: string | null = null;
  private next = 1;
  private bytes = 0;
  private readonly partEtags = new Map<number, string | undefined>();
  private readonly copies = new Map<number, Promise<string>>();
  private readonly copySlots = new Semaphore(COPY_CONCURRENCY);
  private assembly: Promise<string> | null = null;
  private chain: Promise<void> = Promise.resolve();
  private readonly count: number;
  private readonly staging: string;
  readonly upload: UploadRef;
  private readonly storage: Storage;
  private readonly reads: Semaphore;
  private readonly record: RecordAssembly;

  constructor(upload: UploadRef, storage: Storage, reads: Semaphore, record: RecordAssembly) {
    this.upload = upload;
    this.storage = storage;
    this.reads = reads;
    this.record = record;
    this.count = partCount(upload);
    this.staging = stagingPrefix({ tenantId: upload.tenantId, artifactId: upload.id });
  }

  /** One follower at a time: a nudge while one runs only keeps it looking longer. */
  follow(): Promise<void> | undefined {
    this.followUntil = Date.now() + FOLLOW_MS;
    if (this.following) return undefined;
    this.following = true;
    return this.advance(false).finally(() => {
      this.following = false;
    });
  }

  /** Runs after whatever advance is already running, so parts are hashed once, in order. */
  advance(all: boolean): Promise<void> {
    if (all) {
      this.finishing = true;
      this.wake?.();
    }
    const run = this.chain.then(() => this.hashLanded(all));
    this.chain = run.catch(() => {});
    return run.finally(() => {
      if (all) this.finishing = false;
    });
  }

  async stop(): Promise<void> {
    this.followUntil = 0;
    this.wake?.();
    await this.chain;
    await Promise.allSettled([this.assembly, ...this.copies.values()]);
  }

  digest(): string {
    this.sha256 ??= this.hash.digest('hex');
    return this.sha256;
  }

  async assemble(): Promise<void> {
    const u = this.upload;
    if (this.count === 1) {
      const { etag } = await this.storage.copyObject(partKey(this.staging, 1), u.storageKey, { contentType: u.contentType });
      return checkCopy(1, this.partEtags.get(1), etag);
    }
    const uploadId = await this.assemblyId();
    const etags = await Promise.all(Array.from({ length: this.count }, (_, i) => this.copies.get(i + 1)!));
    await this.storage.completeMultipart(
      u.storageKey,
      uploadId,
      etags.map((etag, i) => ({ partNumber: i + 1, etag })),
    );
  }

  private async hashLanded(all: boolean): Promise<void> {
    for (let wait = 50; this.next <= this.count; ) {
      const n = this.next;
      const landed = await this.hashPart(n, all);
      if (!landed) {
        if (all) throw new MissingParts(await this.missingFrom(n));
        if (this.finishing || Date.now() > this.followUntil) return;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
        wait = Math.min(wait * 2, 400);
        continue;
      }
      wait = 50;
      this.next++;
      if (this.count > 1) {
        const copied = this.copy(n);
        copied.catch(() => {}); // awaited by assemble(); an unobserved rejection would crash the process
        this.copies.set(n, copied);
      }
    }
    if (this.bytes !== this.upload.sizeBytes) {
      throw new CofferError('SIZE_MISMATCH', `size check failed: ${this.bytes} bytes stored, ${this.upload.sizeBytes} declared`);
    }
  }

  /**
   * Feeds part `n` into the hash; false when it has not landed. A part of the wrong size while
   * following counts as not landed yet: some S3 servers (s3rver) show an object while its PUT is
   * still writing it. Only a completion (`final`) treats it as the stored size.
   */
  private async hashPart(n: number, final: boolean): Promise<boolean> {
    const release = await this.reads.acquire();
    try {
      const expected = partSizeOf(this.upload, n);
      const got = await this.storage.get(partKey(this.staging, n)).catch((err: unknown) => {
        if (err instanceof CofferError && err.code === 'NOT_FOUND') return null;
        throw err;
      });
      if (!got) return false;
      // Into a copy: a read that fails half-way (storage trouble, an abort removing the parts)
      // must leave the hash of the parts before it intact for the next attempt.
      const hash = this.hash.copy();
      let seen = 0;
      for await (const chunk of got.body) {
        seen += (chunk as Buffer).length;
        hash.update(chunk as Buffer);
      }
      if (seen !== expected) {
        if (!final) return false;
        throw new CofferError('SIZE_MISMATCH', `size check failed: part ${n} holds ${seen} bytes, ${expected} expected`);
      }
      this.hash = hash;
      this.bytes += seen;
      this.partEtags.set(n, got.etag);
      return true;
    } finally {
      release();
    }
  }

  private async copy(n: number): Promise<string> {
    const uploadId = await this.assemblyId();
    const release = await this.copySlots.acquire();
    try {
      const { etag } = await this.storage.copyPart(this.upload.storageKey, uploadId, {
        partNumber: n,
        sourceKey: partKey(this.staging, n),
        offset: (n - 1) * this.upload.partSize,
      });
      checkCopy(n, this.partEtags.get(n), etag);
      return etag;
    } finally {
      release();
    }
  }

  /** The recorded assembly, or a new one recorded now (another instance may have recorded one first: then that one). */
  private assemblyId(): Promise<string> {
    this.assembly ??= (async () => {
      if (this.upload.uploadId) return this.upload.uploadId;
      const { uploadId } = await this.storage.createMultipart(this.upload.storageKey, { contentType: this.upload.contentType });
      const recorded = await this.record(this.upload, uploadId).catch(async (err: unknown) => {
        await this.storage.abortMultipart(this.upload.storageKey, uploadId).catch(() => {});
        throw err;
      });
      if (recorded !== uploadId) await this.storage.abortMultipart(this.upload.storageKey, uploadId).catch(() => {});
      return recorded;
    })();
    this.assembly.catch(() => {}); // observed by the copies; an unhandled rejection would crash the process
    return this.assembly;
  }

  private async missingFrom(first: number): Promise<number[]> {
    const landed = new Set<number>();
    let token: string | undefined;
    do {
      const page = await this.storage.list(this.staging, { continuationToken: token });
      for (const o of page.items) landed.add(Number(o.key.slice(this.staging.length)));
      token = page.nextToken;
    } while (token);
    const missing: number[] = [];
    for (let n = first; n <= this.count; n++) if (!landed.has(n)) missing.push(n);
    return missing.length ? missing : [first];
  }
}

/**
 * The bytes copied into the assembly must be the bytes hashed. Part objects cannot be replaced
 * (create-only, MD5-bound), and this checks it where the backend gives MD5 etags for both.
 */
function checkCopy(n: number, hashed: string | undefined, copied: string | undefined): void {
  const md5 = (e: string | undefined) => (e && /^"?[0-9a-f]{32}"?$/.test(e) ? e.replace(/"/g, '') : null);
  const a = md5(hashed);
  const b = md5(copied);
  if (a && b && a !== b) throw new CofferError('CHECKSUM_MISMATCH', `sha256 check failed: part ${n} changed while it was being verified`);
}

function summarize(parts: number[]): string {
  const shown = parts.slice(0, 10).join(', ');
  return parts.length > 10 ? `${shown} and ${parts.length - 10} more` : shown;
}

/** A counting semaphore: acquire resolves with the release function. */
class Semaphore {
  private waiting: Array<() => void> = [];
  private free: number;

  constructor(free: number) {
    this.free = free;
  }

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
