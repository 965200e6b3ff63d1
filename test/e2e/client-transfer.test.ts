import { spawn } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCofferClient,
  IntegrityError,
  type NodeCofferClient,
  type TransferProgress,
  withNodeHelpers,
} from '../../client/src/node.ts';
import type { Storage } from '../../server/storage/types.ts';
import { MiB } from '../../shared/constants.ts';
import { type FlakyProxy, signUploadsVia, startFlakyProxy } from '../support/flaky-proxy.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';
import { randomBody, sha256 } from '../support/upload.ts';

const env = { COFFER_PART_SIZE: String(5 * MiB) };
const SIZE = 12 * MiB + 4321; // three parts

/** Records progress and checks it only ever grows and never passes the total. */
function progressLog() {
  const seen: TransferProgress[] = [];
  return {
    seen,
    onProgress: (p: TransferProgress) => {
      const last = seen.at(-1);
      if (last && p.sentBytes < last.sentBytes) throw new Error('progress went backwards');
      if (p.sentBytes > p.totalBytes) throw new Error('progress passed the total');
      seen.push(p);
    },
  };
}

/**
 * fetch can leave a socket it connected for an aborted PUT without ever writing to it; Node's
 * server counts such a socket as awaiting headers, not idle, and app.close() would wait out
 * headersTimeout (60 s) for it. Tests that abort PUTs drop every connection before closing.
 */
const dropConnections = (server?: TestServer) => server?.app.server.closeAllConnections();

const storageKey = async (server: TestServer, id: string) =>
  (await server.systemDb.query.artifacts.findFirst({ where: (a, { eq }) => eq(a.id, id) }))!.storageKey;

describe.each(BACKENDS)('client upload and download helpers on %s', (backend) => {
  let server: TestServer;
  let dir: string;
  let bytes: Uint8Array<ArrayBuffer>;
  let file: string;
  const tenant = async (): Promise<NodeCofferClient> =>
    withNodeHelpers((await server.newTenant()).client, { url: server.url, resumeDir: dir });

  beforeAll(async () => {
    server = await startTestServer({ backend, env });
    dir = await mkdtemp(join(tmpdir(), 'coffer-transfer-'));
    bytes = randomBody(SIZE);
    file = join(dir, 'source.bin');
    await writeFile(file, bytes);
  });
  afterAll(async () => {
    dropConnections(server);
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const sources = {
    path: () => file,
    Buffer: () => Buffer.from(bytes),
    Blob: () => new Blob([bytes]),
    Readable: () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < SIZE; i += 1_000_000) yield bytes.subarray(i, i + 1_000_000);
        })(),
      ),
  };

  it.each(Object.keys(sources) as Array<keyof typeof sources>)(
    'uploads from a %s in parts and downloads it back verified',
    async (name) => {
      const client = await tenant();
      const progress = progressLog();
      const artifact = await client.upload(sources[name](), {
        kind: 'attachment',
        filename: 'source.bin',
        onProgress: progress.onProgress,
      });
      expect(artifact).toMatchObject({ status: 'ready', sizeBytes: SIZE, sha256: sha256(bytes), filename: 'source.bin' });
      expect(progress.seen.at(-1)).toEqual({ sentBytes: SIZE, totalBytes: SIZE });
      expect(progress.seen.length).toBeGreaterThan(2); // per part, not only at the end

      const dlProgress: number[] = [];
      const dest = join(dir, `${name}.out`);
      const got = await client.download(artifact.id, dest, { onProgress: (p) => dlProgress.push(p.receivedBytes) });
      expect(got).toEqual({ path: dest, sizeBytes: SIZE, sha256: sha256(bytes) });
      expect(Buffer.compare(await readFile(dest), bytes)).toBe(0);
      expect(dlProgress.at(-1)).toBe(SIZE);
      expect(existsSync(`${dest}.part`)).toBe(false);
    },
  );

  it.each(['path', 'Buffer'] as const)(
    'from a %s, declares the sha256 once: at completion when hashed while sending, up front for bytes',
    async (name) => {
      const client = await tenant();
      let pending: Promise<string> | undefined;
      const onProgress = () => {
        pending ??= client.artifact.list.query({ status: 'pending' }).then((r) => r.items[0]!.sha256);
      };
      const artifact = await client.upload(sources[name](), { kind: 'attachment', onProgress });
      // A file is hashed while sent: nothing was declared at createUpload. Bytes are hashed first.
      expect(await pending).toBe(name === 'path' ? '' : sha256(bytes));
      expect(artifact).toMatchObject({ status: 'ready', sha256: sha256(bytes) });
    },
  );

  it('aborts a path upload whose file changes size while it is sent and hashed', async () => {
    const client = await tenant();
    const changing = join(dir, 'changing.bin');
    await writeFile(changing, bytes);
    // The first progress report comes after preparing took the size: the file grows before its
    // last part is read, so the bytes sent would not be the file meant.
    const onProgress = (p: TransferProgress) => {
      if (p.sentBytes === 0) appendFileSync(changing, randomBody(MiB));
    };
    const err = await client.upload(changing, { kind: 'attachment', concurrency: 1, onProgress }).catch((e: unknown) => e);
    expect(err).toMatchObject({ message: expect.stringMatching(/changed during the upload/) });
    const [artifact] = (await client.artifact.list.query({})).items;
    expect(artifact).toMatchObject({ status: 'failed', failureReason: 'aborted by the client' });
    expect(await server.deps.storage.head(await storageKey(server, artifact!.id))).toBeNull();
  });

  it('uploads a small Blob as one part through the runtime-neutral client', async () => {
    const { client } = await server.newTenant();
    const small = randomBody(100_000);
    const artifact = await client.upload(new Blob([small], { type: 'text/plain' }), { kind: 'attachment' });
    expect(artifact).toMatchObject({ status: 'ready', sizeBytes: small.length, sha256: sha256(small), contentType: 'text/plain' });
  });

  it('uploads a project snapshot as a new version through the same transfer', async () => {
    const client = await tenant();
    const { version, artifact } = await client.upload(file, { version: { projectId: 'site-1', source: 'build', prompt: 'make it blue' } });
    expect(artifact).toMatchObject({
      status: 'ready',
      kind: 'build_snapshot',
      sizeBytes: SIZE,
      sha256: sha256(bytes),
      versionId: version.id,
    });
    expect(version).toMatchObject({ projectId: 'site-1', status: 'ready', snapshotArtifactId: artifact.id });
  });

  it('refuses a download whose stored bytes were changed behind Coffer, leaving no file', async () => {
    const client = await tenant();
    const artifact = await client.upload(randomBody(200_000), { kind: 'attachment' });
    const tampered = Buffer.from(randomBody(200_000));
    await server.deps.storage.put(await storageKey(server, artifact.id), tampered, {
      contentType: 'application/octet-stream',
      contentLength: tampered.length,
    });
    const dest = join(dir, 'tampered.out');
    const err = await client.download(artifact.id, dest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err).toMatchObject({ code: 'CHECKSUM_MISMATCH', message: expect.stringMatching(/corrupt or was replaced/) });
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('aborts mid-upload on signal: the artifact ends failed and no object remains', async () => {
    const client = await tenant();
    const ctl = new AbortController();
    const onProgress = (p: TransferProgress) => {
      if (p.sentBytes > 0) ctl.abort();
    };
    const err = await client.upload(file, { kind: 'attachment', concurrency: 2, signal: ctl.signal, onProgress }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AbortError' });
    const [artifact] = (await client.artifact.list.query({})).items;
    expect(artifact).toMatchObject({ status: 'failed', failureReason: 'aborted by the client' });
    expect(await server.deps.storage.head(await storageKey(server, artifact!.id))).toBeNull();
  });
});

describe.each(BACKENDS)('transient part failures on %s', (backend) => {
  let server: TestServer;
  let proxy: FlakyProxy;
  beforeAll(async () => {
    let origin = '';
    proxy = await startFlakyProxy(() => origin);
    server = await startTestServer({ backend, env, storage: (s) => signUploadsVia(s, proxy.origin) });
    // s3: the proxy forwards to the S3 server; fs: to Coffer itself, which serves the signed URLs.
    const { storage } = server.deps.config;
    origin = storage.kind === 's3' ? storage.endpoint! : server.url;
  });
  afterAll(async () => {
    dropConnections(server);
    await server?.close();
    await proxy?.close();
  });

  it('retries each failed part PUT and counts its bytes once', async () => {
    const client = withNodeHelpers((await server.newTenant()).client, { url: server.url });
    const bytes = randomBody(SIZE);
    // The bucket's 503s make each PUT fail once; the client signs again and retries.
    const progress = progressLog();
    const artifact = await client.upload(bytes, { kind: 'attachment', onProgress: progress.onProgress });
    expect(artifact).toMatchObject({ status: 'ready', sha256: sha256(bytes) });
    expect(proxy.failures()).toBe(3);
    expect(progress.seen.at(-1)).toEqual({ sentBytes: SIZE, totalBytes: SIZE });
    expect(progress.seen).toHaveLength(4); // the start, then once per part

    // The download's connection breaks half-way: it resumes from where it stopped and still verifies.
    const dest = join(tmpdir(), `coffer-resumed-${backend}-${artifact.id}.bin`);
    const got = await client.download(artifact.id, dest);
    expect(proxy.failures()).toBe(4);
    expect(got.sha256).toBe(sha256(bytes));
    expect(sha256(await readFile(dest))).toBe(sha256(bytes));
    await rm(dest);
  });

  it('gives up after the retries and aborts the upload', async () => {
    const client = withNodeHelpers((await server.newTenant()).client, { url: server.url });
    const err = await client.upload(randomBody(SIZE), { kind: 'attachment', retries: 0 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'TransferError', status: 503 });
    const [artifact] = (await client.artifact.list.query({})).items;
    expect(artifact).toMatchObject({ status: 'failed', failureReason: 'aborted by the client' });
  });
});

describe.each(BACKENDS)('resuming uploads on %s', (backend) => {
  let server: TestServer;
  let dir: string;
  const signed: string[] = [];
  const PARTS = 4;
  const size = (PARTS - 1) * 5 * MiB + 777;

  beforeAll(async () => {
    // Records every part URL the server signs: a resumed upload must sign only what is missing.
    const counting = (s: Storage): Storage =>
      new Proxy(s, {
        get(target, prop) {
          if (prop === 'presignCreate') {
            return (...a: Parameters<Storage['presignCreate']>) => {
              signed.push(a[0]);
              return target.presignCreate(...a);
            };
          }
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    server = await startTestServer({ backend, env, storage: counting });
    dir = await mkdtemp(join(tmpdir(), 'coffer-resume-'));
  });
  afterAll(async () => {
    dropConnections(server);
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs test/support/upload-child.ts, SIGKILLs it once `killAfterBytes` are stored; resolves with what it printed. */
  function uploadInChild(env: Record<string, string>, killAfterBytes?: number): Promise<string[]> {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../support/upload-child.ts', import.meta.url))], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        lines.push(line);
        const stored = /^stored (\d+)$/.exec(line);
        if (killAfterBytes !== undefined && stored && Number(stored[1]) >= killAfterBytes) child.kill('SIGKILL');
      }
    });
    return new Promise((resolve) => child.on('exit', () => resolve(lines)));
  }

  it('resumes an upload killed mid-way: only the missing parts are sent, and the download matches', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(size);
    const file = join(dir, `killed-${backend}.bin`);
    await writeFile(file, bytes);
    const resumeDir = join(dir, 'records');
    const lines = await uploadInChild(
      { URL: server.url, TOKEN: t.apiKey, FILE: file, RESUME_DIR: resumeDir, PUT_DELAY_MS: '400' },
      2 * 5 * MiB,
    );
    expect(lines.some((l) => l.startsWith('ready'))).toBe(false); // killed before it finished
    const [pending] = (await t.client.artifact.list.query({ status: 'pending' })).items;
    const landed = (await t.client.artifact.getUpload.query({ id: pending!.id })).parts.map((p) => p.partNumber);
    expect(landed.length).toBeGreaterThanOrEqual(2);
    expect(landed.length).toBeLessThan(PARTS);
    expect(await readdir(resumeDir)).toHaveLength(1);

    signed.length = 0;
    const client = withNodeHelpers(t.client, { url: server.url, resumeDir });
    const progress = progressLog();
    const artifact = await client.upload(file, { kind: 'attachment', resume: true, onProgress: progress.onProgress });
    expect(artifact).toMatchObject({ id: pending!.id, status: 'ready', sha256: sha256(bytes) });
    expect(signed.map((k) => Number(k.split('/').at(-1))).sort()).toEqual(
      Array.from({ length: PARTS }, (_, i) => i + 1).filter((n) => !landed.includes(n)),
    );
    expect(progress.seen.at(-1)).toEqual({ sentBytes: size, totalBytes: size });
    expect(await readdir(resumeDir)).toEqual([]); // the record goes once the upload is done
    const dest = join(dir, `killed-${backend}.out`);
    expect((await client.download(artifact.id, dest)).sha256).toBe(sha256(bytes));
  }, 60_000);

  it('completes a resumed upload whose parts had all landed, sending nothing', async () => {
    const t = await server.newTenant();
    const bytes = randomBody(size);
    const file = join(dir, `landed-${backend}.bin`);
    await writeFile(file, bytes);
    const resumeDir = join(dir, 'records-landed');
    // Every completion is lost on the way (the client retries, then gives up): the parts landed, the upload stays pending.
    const lossy: typeof fetch = async (input, init) => {
      if (String(input).includes('artifact.completeUpload')) throw new TypeError('fetch failed');
      return fetch(input, init);
    };
    const first = withNodeHelpers(createCofferClient({ url: server.url, token: t.apiKey, fetch: lossy }), { url: server.url, resumeDir });
    await expect(first.upload(file, { kind: 'attachment', resume: true })).rejects.toThrow(/fetch failed/);
    const [pending] = (await t.client.artifact.list.query({ status: 'pending' })).items;
    expect((await t.client.artifact.getUpload.query({ id: pending!.id })).parts).toHaveLength(PARTS);

    signed.length = 0;
    const artifact = await withNodeHelpers(t.client, { url: server.url, resumeDir }).upload(file, { kind: 'attachment', resume: true });
    expect(artifact).toMatchObject({ id: pending!.id, status: 'ready', sha256: sha256(bytes) });
    expect(signed).toEqual([]);
    await first.close();
  }, 60_000);

  it('starts over when the file changed since the interrupted attempt', async () => {
    const t = await server.newTenant();
    const file = join(dir, `changed-${backend}.bin`);
    await writeFile(file, randomBody(size));
    const resumeDir = join(dir, 'records-changed');
    await uploadInChild({ URL: server.url, TOKEN: t.apiKey, FILE: file, RESUME_DIR: resumeDir, PUT_DELAY_MS: '400' }, 5 * MiB);
    const [first] = (await t.client.artifact.list.query({ status: 'pending' })).items;
    const changed = randomBody(size);
    await writeFile(file, changed); // same size, new bytes and mtime
    const client = withNodeHelpers(t.client, { url: server.url, resumeDir });
    const artifact = await client.upload(file, { kind: 'attachment', resume: true });
    expect(artifact.id).not.toBe(first!.id);
    expect(artifact).toMatchObject({ status: 'ready', sha256: sha256(changed) });
  }, 60_000);
});
