/**
 * Start-up time: from spawning the `npm start` command (package.json's script, run without npm's
 * own start-up) to the first `/healthz` 200, in three cases, BENCH_RUNS (5) times each:
 * - first boot on an empty data dir (embedded PostgreSQL: initdb, start, migrations, roles);
 * - restart on that data dir (embedded PostgreSQL);
 * - restart with DATABASE_URL set (an already migrated database).
 * Targets (issue 12): restart < 1 s with DATABASE_URL, < 1.5 s embedded; first boot < 3 s.
 * Baseline, in the same run: the same launcher starting a bare /healthz server
 * (bench/support/healthz-floor.ts), the floor no server started by `tsx` can beat.
 *
 *   npm run bench -- start     (BENCH_RUNS=5)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './support/coffer-process.ts';
import { startDatabase } from './support/services.ts';
import { median, printTable } from './support/stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const root = fileURLToPath(new URL('..', import.meta.url));
const startScript: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start;

/** Starts the server, returns ms until the first /healthz 200, and stops it (SIGTERM, waits for exit). */
async function timeStart(env: Record<string, string>, command = startScript): Promise<number> {
  const port = await freePort();
  const t0 = performance.now();
  const child: ChildProcess = spawn('sh', ['-c', `exec ${command}`], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      PATH: `${join(root, 'node_modules/.bin')}:${process.env.PATH}`,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      COFFER_STORAGE: 'fs',
      COFFER_ADMIN_TOKEN: 'bench-admin-token-0123456789abcdef',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...env,
    },
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode} before answering /healthz`);
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return performance.now() - t0;
      if (performance.now() - t0 > 60_000) throw new Error('no /healthz 200 within 60 s');
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  }
}

async function main(): Promise<void> {
  const dirs: string[] = [];
  const newDataDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-bench-start-'));
    await chmod(dir, 0o755); // as root, the embedded Postgres runs as `postgres` and must enter it
    dirs.push(dir);
    return dir;
  };
  const external = await startDatabase();
  try {
    // Warm the OS file cache and any compile cache once, uncounted.
    await timeStart({ COFFER_DATA_DIR: await newDataDir(), DATABASE_URL: external.value });
    const firstBoot: number[] = [];
    const embeddedRestart: number[] = [];
    const externalRestart: number[] = [];
    const floor: number[] = [];
    const embeddedDir = await newDataDir();
    for (let i = 0; i < RUNS; i++) {
      floor.push(await timeStart({}, 'tsx bench/support/healthz-floor.ts'));
      firstBoot.push(await timeStart({ COFFER_DATA_DIR: i === 0 ? embeddedDir : await newDataDir() }));
      embeddedRestart.push(await timeStart({ COFFER_DATA_DIR: embeddedDir }));
      externalRestart.push(await timeStart({ COFFER_DATA_DIR: await newDataDir(), DATABASE_URL: external.value }));
    }
    console.log(
      `start command: ${startScript}; ${RUNS} runs each, interleaved; node ${process.version}; external database: ${external.label}`,
    );
    const row = (name: string, xs: number[], target: number) => [
      name,
      median(xs).toFixed(0),
      Math.min(...xs).toFixed(0),
      Math.max(...xs).toFixed(0),
      `${(median(xs) / median(floor)).toFixed(2)}×`,
      `< ${target}: ${median(xs) < target ? 'met' : 'MISSED'}`,
    ];
    printTable([
      ['spawn → first /healthz 200', 'median ms', 'min ms', 'max ms', 'vs bare server', 'target'],
      [
        `baseline: bare /healthz server`,
        median(floor).toFixed(0),
        Math.min(...floor).toFixed(0),
        Math.max(...floor).toFixed(0),
        '1.00×',
        '',
      ],
      row('restart, DATABASE_URL set', externalRestart, 1000),
      row('restart, embedded PostgreSQL', embeddedRestart, 1500),
      row('first boot, empty data dir (embedded)', firstBoot, 3000),
    ]);
  } finally {
    await external.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
