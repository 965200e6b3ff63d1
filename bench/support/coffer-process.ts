import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Config } from './services.ts';

export interface CofferProcess {
  url: string;
  pid: number;
  adminToken: string;
  stop(): Promise<void>;
}

const root = fileURLToPath(new URL('../..', import.meta.url));
const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';

/** The Node flags `npm start` gives the server (package.json's start script), so benches measure what ships. */
const START_FLAGS: string[] = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  .scripts.start.split(/\s+/)
  .filter((arg: string) => arg.startsWith('--'));

/**
 * Runs the real server/main.ts in its own process, as `npm start` does (scripts/node-ts.js: the
 * pid is the server itself; the same Node flags), so its memory can be read from /proc without
 * the benchmark's own heap in it.
 */
export async function startCofferProcess(
  databaseUrl: string,
  s3: S3Config | null,
  env: Record<string, string> = {},
  /** Extra node flags, e.g. `--cpu-prof` to profile the server. */
  nodeArgs: string[] = [],
): Promise<CofferProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'coffer-bench-data-'));
  const port = await freePort();
  const storage = s3
    ? {
        COFFER_STORAGE: 's3',
        S3_ENDPOINT: s3.endpoint ?? '',
        S3_REGION: s3.region,
        S3_BUCKET: s3.bucket,
        S3_ACCESS_KEY_ID: s3.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        S3_FORCE_PATH_STYLE: 'true',
      }
    : { COFFER_STORAGE: 'fs' };
  const child = spawn(process.execPath, [...START_FLAGS, ...nodeArgs, join(root, 'scripts/node-ts.js'), join(root, 'server/main.ts')], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      PATH: process.env.PATH,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      DATABASE_URL: databaseUrl,
      ...storage,
      COFFER_DATA_DIR: dataDir,
      COFFER_ADMIN_TOKEN: ADMIN_TOKEN,
      COFFER_SIGNING_SECRET: 'bench-signing-secret-0123456789abcdef0123456789',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...env,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, child);
  return {
    url,
    pid: child.pid!,
    adminToken: ADMIN_TOKEN,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function waitHealthy(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`Coffer exited with ${child.exitCode} before listening`);
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('Coffer did not become healthy within 30 s');
}

/** A TCP port free right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/**
 * A process's CPU time so far, in ms (user + system, Linux /proc/PID/stat), or NaN where there is
 * no /proc. `withExitedChildren` adds that of its children that have ended (cutime, cstime), so a
 * Postgres backend that exits between two readings still counts, through the postmaster.
 */
export function cpuMs(pid: number, withExitedChildren = false): number {
  try {
    // Fields 14–17 (utime, stime, cutime, cstime) in clock ticks, counted after the parenthesised command name.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]) + (withExitedChildren ? Number(fields[13]) + Number(fields[14]) : 0);
    return (ticks * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

const statusKb = (pid: number, field: 'VmRSS' | 'VmHWM') => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
};

/**
 * Peak RSS of `pid` while `fn` runs, against its RSS just before. The kernel's own high-water
 * mark is reset first (clear_refs 5, root only) so short spikes between samples count too;
 * without that, 20 ms samples are the fallback.
 */
export async function measureRss<T>(pid: number, fn: () => Promise<T>): Promise<{ result: T; baseline: number; peak: number }> {
  const baseline = statusKb(pid, 'VmRSS');
  let hwmReset = true;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    hwmReset = false;
  }
  let sampled = baseline;
  const timer = setInterval(() => (sampled = Math.max(sampled, statusKb(pid, 'VmRSS'))), 20);
  try {
    const result = await fn();
    const peak = Math.max(sampled, statusKb(pid, 'VmRSS'), hwmReset ? statusKb(pid, 'VmHWM') : 0);
    return { result, baseline, peak };
  } finally {
    clearInterval(timer);
  }
}
