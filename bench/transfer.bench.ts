/**
 * Big-artifact transfer: upload (from start to `ready`) and download to disk with sha256
 * verification of 256 MiB and 1 GiB through the client helpers (client/src/node.ts) against a
 * real S3 server, side by side with the AWS SDK's own lib-storage Upload and a GetObject streamed
 * to disk, same part size and concurrency, in the same run. Each size runs unthrottled and with
 * the client's link throttled (both Coffer's client and the raw SDK reach the bucket through the
 * same kind of rate-limited TCP proxy; the Coffer server reaches it directly, as in a data centre).
 * Also the Coffer server's peak RSS growth while it serves those transfers (it runs in a child
 * process). Targets from the issue: upload ≥ 0.95 throttled and ≥ 0.90 unthrottled, download
 * ≥ 0.95, server RSS growth < 64 MiB.
 *
 *   npm run bench -- transfer   (BENCH_SIZES_MIB=256,1024 BENCH_RUNS=2 BENCH_CONCURRENCY=4 BENCH_LINKS=0,50 (MB/s, 0: unthrottled))
 */

import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import WebSocket from 'ws';
import { createCofferClient, type NodeCofferClient } from '../client/src/node.ts';
import { createS3Client } from '../server/storage/s3.ts';
import { MiB } from '../shared/constants.ts';
import { ensureBucket } from '../test/support/bucket.ts';
import { type CofferProcess, measureRss, startCofferProcess } from './support/coffer-process.ts';
import { type S3Config, startDatabase, startS3 } from './support/services.ts';
import { spawnThrottle } from './support/throttle.ts';

const SIZES = (process.env.BENCH_SIZES_MIB ?? '256,1024').split(',').map((s) => Number(s) * MiB);
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const PART_SIZE = 16 * MiB; // Coffer's default COFFER_PART_SIZE
const LINKS = (process.env.BENCH_LINKS ?? '0,50').split(',').map(Number);

interface Timed {
  seconds: number;
  rssGrowth?: number;
  /** Upload only: the phases seen from the client. */
  phases?: { prepare: number; send: number; complete: number };
}

const mbps = (bytes: number, s: number) => bytes / 1e6 / s;
const fmtMiB = (b: number) => `${(b / MiB).toFixed(1)} MiB`;
const sizeLabel = (b: number) => (b >= 1024 * MiB ? `${b / 1024 / MiB} GiB` : `${b / MiB} MiB`);

async function writeRandomFile(path: string, size: number): Promise<void> {
  const out = createWriteStream(path);
  for (let left = size; left > 0; left -= 16 * MiB) {
    if (!out.write(randomBytes(Math.min(left, 16 * MiB)))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error) => (err ? reject(err) : resolve())));
}

async function time<T>(fn: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const t0 = performance.now();
  const result = await fn();
  return { result, seconds: (performance.now() - t0) / 1000 };
}

/** client.upload, with its phases told apart by progress: stat + createUpload, PUTs (hashed alongside), completeUpload. */
async function cofferUpload(client: NodeCofferClient, coffer: CofferProcess, file: string) {
  const marks: number[] = [];
  const t0 = performance.now();
  const onProgress = (p: { sentBytes: number; totalBytes: number }) => {
    if (p.sentBytes === 0 || p.sentBytes === p.totalBytes) marks.push(performance.now());
  };
  const { result, peak, baseline } = await measureRss(coffer.pid, () =>
    client.upload(file, { kind: 'build_snapshot', concurrency: CONCURRENCY, onProgress }),
  );
  const end = performance.now();
  const [sendStart = t0, sendEnd = end] = marks;
  const phases = { prepare: (sendStart - t0) / 1000, send: (sendEnd - sendStart) / 1000, complete: (end - sendEnd) / 1000 };
  return { id: result.id, timed: { seconds: (end - t0) / 1000, rssGrowth: peak - baseline, phases } };
}

async function cofferUploadInto(ctx: { client: NodeCofferClient; coffer: CofferProcess }, file: string, ids: string[]): Promise<Timed> {
  const { id, timed } = await cofferUpload(ctx.client, ctx.coffer, file);
  ids.push(id);
  return timed;
}

async function rawUpload(s3: S3Client, config: S3Config, file: string, key: string): Promise<Timed> {
  const { seconds } = await time(() =>
    new Upload({
      client: s3,
      params: { Bucket: config.bucket, Key: key, Body: createReadStream(file), ContentType: 'application/zip' },
      partSize: PART_SIZE,
      queueSize: CONCURRENCY,
    }).done(),
  );
  return { seconds };
}

async function cofferDownload(client: NodeCofferClient, coffer: CofferProcess, id: string, dest: string): Promise<Timed> {
  const t0 = performance.now();
  const { peak, baseline } = await measureRss(coffer.pid, () => client.download(id, dest));
  await rm(dest);
  return { seconds: (performance.now() - t0) / 1000, rssGrowth: peak - baseline };
}

async function rawDownload(s3: S3Client, config: S3Config, key: string, dest: string): Promise<Timed> {
  const { seconds } = await time(async () => {
    const res = await s3.send(new GetObjectCommand({ Bucket: config.bucket, Key: key }));
    await pipeline(res.Body as Readable, createWriteStream(dest));
  });
  await rm(dest);
  return { seconds };
}

const best = (runs: Timed[]) => runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
const maxGrowth = (runs: Timed[]) => Math.max(...runs.map((r) => r.rssGrowth ?? 0));

interface Row {
  link: number;
  size: number;
  op: 'upload' | 'download';
  coffer: Timed;
  raw: Timed;
  rssGrowth: number;
}

async function benchSize(
  ctx: { client: NodeCofferClient; coffer: CofferProcess; s3: S3Client; config: S3Config; dir: string; link: number },
  size: number,
): Promise<Row[]> {
  const file = join(ctx.dir, 'source.bin');
  await writeRandomFile(file, size);
  const up: Timed[] = [],
    rawUp: Timed[] = [],
    down: Timed[] = [],
    rawDown: Timed[] = [];
  const ids: string[] = [];
  for (let run = 0; run < RUNS; run++) {
    const key = `bench/raw-${size}-${run}`;
    // Alternate who goes first, so neither side always gets the caches the other just warmed.
    const cofferFirst = run % 2 === 0;
    const ups = [
      async () => up.push(await cofferUploadInto(ctx, file, ids)),
      async () => rawUp.push(await rawUpload(ctx.s3, ctx.config, file, key)),
    ];
    for (const step of cofferFirst ? ups : ups.reverse()) await step();
    const downs = [
      async () => down.push(await cofferDownload(ctx.client, ctx.coffer, ids.at(-1)!, join(ctx.dir, 'coffer.out'))),
      async () => rawDown.push(await rawDownload(ctx.s3, ctx.config, key, join(ctx.dir, 'raw.out'))),
    ];
    for (const step of cofferFirst ? downs : downs.reverse()) await step();
    await ctx.client.artifact.delete.mutate({ id: ids.at(-1)! });
    await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.bucket, Key: key }));
  }
  await rm(file);
  return [
    { link: ctx.link, size, op: 'upload', coffer: best(up), raw: best(rawUp), rssGrowth: maxGrowth(up) },
    { link: ctx.link, size, op: 'download', coffer: best(down), raw: best(rawDown), rssGrowth: maxGrowth(down) },
  ];
}

function printTable(rows: Row[], header: string[]): void {
  const lines = [
    ['client link', 'size', 'op', 'coffer MB/s', 'raw SDK MB/s', 'ratio', 'server RSS growth', 'targets'],
    ...rows.map((r) => {
      const ratio = r.raw.seconds / r.coffer.seconds;
      const wanted = r.op === 'upload' && r.link === 0 ? 0.9 : 0.95;
      const verdict = `ratio ${ratio >= wanted ? 'met' : 'MISSED'} (≥ ${wanted}), RSS ${r.rssGrowth < 64 * MiB ? 'met' : 'MISSED'}`;
      return [
        r.link ? `${r.link} MB/s` : 'unthrottled',
        sizeLabel(r.size),
        r.op,
        mbps(r.size, r.coffer.seconds).toFixed(1),
        mbps(r.size, r.raw.seconds).toFixed(1),
        ratio.toFixed(2),
        fmtMiB(r.rssGrowth),
        verdict,
      ];
    }),
  ];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  console.log(header.join('\n'));
  for (const l of lines) console.log(l.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  console.log(
    '\nupload phases (client view, best run): prepare = stat + createUpload; send = parts read, hashed (md5 + sha256), signed and PUT, while the server hashes and assembles those that landed; complete = completeUpload: the server verifies what is left and finishes the assembly',
  );
  for (const r of rows.filter((x) => x.op === 'upload')) {
    const p = r.coffer.phases!;
    const pct = (s: number) => `${((s / r.coffer.seconds) * 100).toFixed(0)}%`;
    console.log(
      `  ${r.link ? `${r.link} MB/s` : 'unthrottled'} ${sizeLabel(r.size)}: total ${r.coffer.seconds.toFixed(2)} s = prepare ${p.prepare.toFixed(2)} s (${pct(p.prepare)}) + send ${p.send.toFixed(2)} s (${pct(p.send)}) + complete ${p.complete.toFixed(2)} s (${pct(p.complete)}); raw SDK upload ${r.raw.seconds.toFixed(2)} s`,
    );
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-bench-'));
  const fs = await statfs(dir);
  const need = Math.max(...SIZES) * 3;
  if (fs.bavail * fs.bsize < need)
    throw new Error(`${dir} has ${fmtMiB(fs.bavail * fs.bsize)} free; this bench needs about ${fmtMiB(need)}`);
  const s3svc = await startS3();
  const db = await startDatabase();
  const rows: Row[] = [];
  try {
    await ensureBucket(s3svc.value);
    for (const link of LINKS) rows.push(...(await benchLink(link, s3svc.value, db.value, dir)));
    printTable(rows, [
      `S3: ${s3svc.label}; database: ${db.label}; Coffer server: child process (server/main.ts)`,
      `part size ${fmtMiB(PART_SIZE)}, concurrency ${CONCURRENCY}, best of ${RUNS} runs, order alternated; MB = 10^6 bytes; ratio = raw time / coffer time`,
      `server RSS growth = peak VmRSS/VmHWM during the transfer minus VmRSS just before (< 64 MiB wanted); raw = @aws-sdk/lib-storage Upload / GetObject to disk`,
      '',
    ]);
  } finally {
    await db.stop();
    await s3svc.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * One client link: unthrottled, or `link` MB/s through a proxy that both the raw SDK and Coffer's
 * signed URLs (S3_PUBLIC_ENDPOINT) go through.
 */
async function benchLink(link: number, config: S3Config, databaseUrl: string, dir: string): Promise<Row[]> {
  const endpoint = new URL(config.endpoint!);
  const throttle = link ? await spawnThrottle({ host: endpoint.hostname, port: Number(endpoint.port || 80) }, link * 1e6) : undefined;
  const clientSide = { ...config, endpoint: throttle?.url ?? config.endpoint };
  const s3 = createS3Client(clientSide, { requestTimeoutMs: 600_000 });
  let coffer: CofferProcess | undefined;
  try {
    coffer = await startCofferProcess(databaseUrl, config, {
      COFFER_PART_SIZE: String(PART_SIZE),
      COFFER_MAX_UPLOAD_BYTES: String(Math.max(...SIZES)),
      ...(throttle && { S3_PUBLIC_ENDPOINT: throttle.url }),
    });
    const admin = createCofferClient({ url: coffer.url, token: coffer.adminToken, WebSocket: WebSocket as never });
    const { apiKey } = await admin.admin.createTenant.mutate({ name: `bench ${link}` });
    const client = createCofferClient({ url: coffer.url, token: apiKey.key, WebSocket: WebSocket as never });
    const rows: Row[] = [];
    for (const size of SIZES) rows.push(...(await benchSize({ client, coffer, s3, config: clientSide, dir, link }, size)));
    await Promise.all([admin.close(), client.close()]);
    return rows;
  } finally {
    s3.destroy();
    await coffer?.stop();
    await throttle?.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
