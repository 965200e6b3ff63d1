import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StorageConfig } from '../../server/config/index.ts';
import { startEmbeddedPostgres } from '../../server/embedded-postgres.ts';
import { startTestS3 } from '../../test/support/s3-server.ts';

export type S3Config = Extract<StorageConfig, { kind: 's3' }>;

export interface Service<T> {
  value: T;
  /** What the table header says about it. */
  label: string;
  stop(): Promise<void>;
}

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Ports and state dir apart from test/ceph/run.sh's, so a test Ceph is left alone. */
const CEPH_ENV = {
  CEPH_DIR: '/tmp/ceph-s3-bench',
  RGW_PORT: '7482',
  MON_V2_PORT: '3302',
  MON_V1_PORT: '6791',
  OSD_BACKEND: 'bluestore',
  S3_BUCKET: 'coffer-bench',
};

/**
 * The S3 server: the one in S3_ENDPOINT when set; else a Ceph RGW started with
 * test/ceph/ceph-s3-up.sh (stopped and purged afterwards only if this run started it); else,
 * when Ceph cannot start, the in-process s3rver the tests use (it then shares this process's CPU).
 */
export async function startS3(): Promise<Service<S3Config>> {
  const env = process.env;
  if (env.S3_ENDPOINT) {
    const value = s3Config(
      env.S3_ENDPOINT,
      env.S3_BUCKET ?? 'coffer-bench',
      env.S3_ACCESS_KEY_ID ?? '',
      env.S3_SECRET_ACCESS_KEY ?? '',
      env.S3_REGION ?? 'us-east-1',
    );
    return { value, label: `S3_ENDPOINT ${env.S3_ENDPOINT}`, stop: async () => {} };
  }
  const wasUp = await fetch(`http://127.0.0.1:${CEPH_ENV.RGW_PORT}/`).then(
    () => true,
    () => false,
  );
  const up = spawnSync('bash', [join(root, 'test/ceph/ceph-s3-up.sh')], {
    env: { ...env, ...CEPH_ENV },
    encoding: 'utf8',
    timeout: 600_000,
  });
  const exported = Object.fromEntries([...(up.stdout ?? '').matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
  if (up.status === 0 && exported.AWS_ENDPOINT_URL) {
    const value = s3Config(
      exported.AWS_ENDPOINT_URL,
      CEPH_ENV.S3_BUCKET,
      exported.AWS_ACCESS_KEY_ID!,
      exported.AWS_SECRET_ACCESS_KEY!,
      exported.AWS_REGION ?? 'us-east-1',
    );
    const stop = async () => {
      if (!wasUp)
        spawnSync('bash', [join(root, 'test/ceph/ceph-s3-down.sh'), '--purge'], { env: { ...env, ...CEPH_ENV }, stdio: 'ignore' });
    };
    return { value, label: `Ceph RGW (${CEPH_ENV.OSD_BACKEND}) at ${value.endpoint}${wasUp ? ', already running' : ''}`, stop };
  }
  console.error(`Ceph RGW did not start (${(up.stderr ?? '').trim().split('\n').at(-1)}); falling back to s3rver`);
  const s3 = await startTestS3();
  return { value: s3.config, label: `in-process s3rver at ${s3.config.endpoint} (Ceph unavailable)`, stop: s3.stop };
}

function s3Config(endpoint: string, bucket: string, accessKeyId: string, secretAccessKey: string, region: string): S3Config {
  return { kind: 's3', endpoint, bucket, accessKeyId, secretAccessKey, region, forcePathStyle: true };
}

/** DATABASE_URL when set, else an embedded PostgreSQL in a temp dir. */
export async function startDatabase(): Promise<Service<string>> {
  if (process.env.DATABASE_URL) return { value: process.env.DATABASE_URL, label: 'DATABASE_URL', stop: async () => {} };
  const dir = await mkdtemp(join(tmpdir(), 'coffer-bench-pg-'));
  await chmod(dir, 0o755); // as root, Postgres runs as `postgres` and must enter it
  const pg = await startEmbeddedPostgres(dir, 'coffer-bench-password');
  return {
    value: pg.url,
    label: 'embedded PostgreSQL',
    stop: async () => {
      await pg.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
