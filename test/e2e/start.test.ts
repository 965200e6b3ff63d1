import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createCofferClient } from '../../client/src/index.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const ADMIN_TOKEN = 'start-test-admin-token-0123456789';
/**
 * Where the runtime strips types itself (Node 22.18+, 24) the launcher loads no transpiler.
 * (`process.features.typescript` is newer than the Node 20 types this repo compiles against.)
 */
const strips = (process.features as { typescript?: string | false }).typescript;
const path = strips ? "Node's own type stripping" : 'tsx (this runtime cannot strip types)';

/**
 * `npm start` runs scripts/start.js: the prebuilt bundle (rebuilt when a source is newer). The
 * sources through scripts/node-ts.js are its fallback without esbuild, and what tools run.
 */
const ENTRIES = [
  { name: 'npm start (scripts/start.js, the bundle)', args: ['scripts/start.js'] },
  { name: `scripts/node-ts.js server/main.ts, through ${path}`, args: ['scripts/node-ts.js', 'server/main.ts'] },
];

/** Starts `args` in its own process, against the run's PostgreSQL. */
function start(args: string[], dataDir: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, args, {
    cwd: repo,
    env: {
      PATH: process.env.PATH,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      DATABASE_URL: inject('databaseUrl'),
      COFFER_DATA_DIR: dataDir,
      COFFER_ADMIN_TOKEN: ADMIN_TOKEN,
      PORT: '0',
      ...env,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const listening = () =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const m = /Coffer listening on (http:\/\/[^\s"]+)/.exec(stdout);
        if (m) resolve(m[1]!);
      };
      check();
      child.stdout.on('data', check);
      void exited.then((code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)));
    });
  return { child, exited, listening, output: () => ({ stdout, stderr }) };
}

describe.each(ENTRIES)(`$name on ${process.version}`, ({ args }) => {
  let dataDir: string;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'coffer-start-'));
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('stops with exit code 1 and names a malformed setting', async () => {
    const s = start(args, dataDir, { PORT: 'eighty' });
    expect(await s.exited).toBe(1);
    expect(s.output().stderr).toMatch(/Invalid configuration:\s+PORT: /);
  });

  it('serves /healthz, a put and a get, and the console; SIGTERM stops it cleanly', async () => {
    const s = start(args, dataDir);
    child = s.child;
    const url = await s.listening();

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);

    const admin = createCofferClient({ url, token: ADMIN_TOKEN });
    const { apiKey } = await admin.admin.createTenant.mutate({ name: 'start-test' });
    const coffer = createCofferClient({ url, token: apiKey.key });
    const put = await coffer.artifact.put.mutate({ kind: 'agent_trace', payload: { steps: [1, 2, 3] } });
    const got = await coffer.artifact.get.query({ id: put.id });
    expect(got.payload).toEqual({ steps: [1, 2, 3] });

    const page = await fetch(`${url}/console`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const script = await fetch(`${url}/console/console.js`);
    expect(script.status).toBe(200);
    expect((await script.text()).length).toBeGreaterThan(1000);
    await Promise.all([admin.close(), coffer.close()]);

    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.output().stdout).toMatch(/shutting down/);
  }, 60_000);
});

describe('npm start', () => {
  it('rebuilds the bundle when any file in it is newer, even one outside server/ and shared/', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'coffer-start-'));
    // Bundled through server/http/console.ts; its age used to go unchecked.
    const source = join(repo, 'client/console/build.ts');
    const bundle = join(repo, 'dist/server/main.mjs');
    const original = await stat(source);
    const s0 = start(['scripts/start.js'], dataDir);
    await s0.listening(); // builds the bundle first if it is missing or stale
    s0.child.kill('SIGTERM');
    await s0.exited;
    const built = (await stat(bundle)).mtimeMs;
    await utimes(source, original.atime, new Date(built + 1000));
    try {
      const s = start(['scripts/start.js'], dataDir);
      await s.listening();
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
      expect((await stat(bundle)).mtimeMs).toBeGreaterThan(built);
    } finally {
      await utimes(source, original.atime, original.mtime);
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
