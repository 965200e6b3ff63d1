import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.ts';
import { randomBody, sha256 } from '../support/upload.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
let cli = '';

/**
 * Bundles the CLI the way the package build does (esbuild, dependencies external), into the
 * repo's gitignored .tmp so its imports resolve from node_modules. Starting plain node on one
 * file is far quicker than tsx compiling the sources for each of the many runs below.
 */
async function bundleCli() {
  const dir = await mkdtemp(join(repo, '.tmp', 'cli-'));
  cli = join(dir, 'cli.js');
  await build({
    entryPoints: [join(repo, 'client/src/cli/main.ts')],
    outfile: cli,
    bundle: true,
    format: 'esm',
    platform: 'node',
    packages: 'external',
    logLevel: 'error',
  });
  return dir;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `coffer ...` the way a shell script would (no TTY: no progress bars). */
function coffer(args: string[], env: Record<string, string | undefined> = {}, cwd?: string) {
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, XDG_CONFIG_HOME: '/nonexistent', ...env }, cwd });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done, stdout: () => stdout };
}

async function treeOf(root: string, dir = root, out: Record<string, string> = {}) {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) await treeOf(root, path, out);
    else out[relative(root, path)] = sha256(await readFile(path));
  }
  return out;
}

describe('coffer CLI', () => {
  let server: TestServer;
  let dir: string;
  let cliDir: string;
  let env: Record<string, string>;
  const run = async (args: string[], extra: Record<string, string | undefined> = {}) => coffer(args, { ...env, ...extra }, dir).done;
  /**
   * Waits until the server holds `n` event subscriptions. `watch` and `rebuilds` read their cursor
   * first and subscribe after, so once counted a CLI misses nothing written from then on.
   */
  const subscriptions = (n: number) => expect.poll(() => server.deps.events.size, { timeout: 10_000 }).toBe(n);
  const json = async (args: string[]) => {
    const r = await run([...args, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout);
  };

  beforeAll(async () => {
    await mkdir(join(repo, '.tmp'), { recursive: true });
    [server, cliDir] = await Promise.all([startTestServer({ backend: 'fs' }), bundleCli()]);
    dir = await mkdtemp(join(tmpdir(), 'coffer-cli-'));
    env = { COFFER_URL: server.url, COFFER_TOKEN: (await server.newTenant('cli')).apiKey };
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
    await rm(cliDir, { recursive: true, force: true });
  });

  it('pushes a directory (zipped) and pulls it back byte-identical, then lists, rolls back and exports', async () => {
    const site = join(dir, 'site');
    await mkdir(join(site, 'assets/img'), { recursive: true });
    await mkdir(join(site, 'empty'));
    await writeFile(join(site, 'index.html'), '<h1>hello</h1>');
    await writeFile(join(site, 'assets/app.js'), 'console.log(1)');
    await writeFile(join(site, 'assets/img/logo.bin'), randomBody(300_000));

    const first = await json(['push', site, '--project', 'site-1', '--message', 'first']);
    expect(first.version).toMatchObject({ projectId: 'site-1', status: 'ready', message: 'first' });
    await writeFile(join(site, 'index.html'), '<h1>hello again</h1>');
    const human = await run(['push', site, '--project', 'site-1']);
    expect(human).toMatchObject({ code: 0, stdout: expect.stringMatching(/^pushed version [0-9a-f-]{36} of site-1 \(/) });

    const pulled = await json(['pull', first.version.id, '-o', join(dir, 'first.zip')]);
    expect(pulled).toMatchObject({ path: join(dir, 'first.zip'), sha256: first.artifact.sha256 });
    const out = join(dir, 'unzipped');
    execFileSync('unzip', ['-q', join(dir, 'first.zip'), '-d', out]);
    await writeFile(join(site, 'index.html'), '<h1>hello</h1>'); // the tree as first pushed
    expect(await treeOf(out)).toEqual(await treeOf(site));
    expect((await readdir(join(out, 'empty'))).length).toBe(0);

    const versions = await json(['versions', 'site-1']);
    expect(versions.items).toHaveLength(2);
    expect((await json(['ls', '--project', 'site-1'])).items).toHaveLength(2);
    expect((await run(['versions', 'site-1'])).stdout).toMatch(/latest/);

    const rolled = await json(['rollback', first.version.id]);
    expect(rolled.version).toMatchObject({ id: first.version.id, isCurrent: true });
    const latest = await json(['pull', '--latest', 'site-1', '-o', join(dir, 'latest.zip')]);
    expect(latest.version.id).toBe(versions.items[0].id);
  }, 90_000);

  it('pushes a single file as is', async () => {
    const file = join(dir, 'build.zip');
    const bytes = randomBody(50_000);
    await writeFile(file, bytes);
    const pushed = await json(['push', file, '--project', 'one-file']);
    expect(pushed.artifact).toMatchObject({ sha256: sha256(bytes), contentType: 'application/zip' });
  });

  it('puts and gets JSON artifacts, and lists them by kind', async () => {
    const file = join(dir, 'trace.json');
    await writeFile(file, JSON.stringify({ steps: [1, 2, 3] }));
    const put = await json(['put', 'agent_trace', file]);
    expect(put).toMatchObject({ kind: 'agent_trace', status: 'ready' });
    expect(await json(['get', put.id])).toMatchObject({ artifact: { id: put.id }, payload: { steps: [1, 2, 3] } });
    expect(JSON.parse((await run(['get', put.id])).stdout)).toEqual({ steps: [1, 2, 3] });
    const listed = await json(['ls', '--kind', 'agent_trace']);
    expect(listed.items.map((a: { id: string }) => a.id)).toEqual([put.id]);
    expect((await run(['ls', '--kind', 'agent_trace'])).stdout).toContain(put.id);
  });

  it('watches live events, one JSON line each, until interrupted', async () => {
    const watch = coffer(['watch', '--project', 'watched', '--json'], env, dir);
    await subscriptions(1);
    const file = join(dir, 'w.bin');
    await writeFile(file, randomBody(1000));
    expect((await run(['push', file, '--project', 'watched'])).code).toBe(0);
    await expect.poll(() => watch.stdout().split('\n').filter(Boolean).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    watch.child.kill('SIGINT');
    const r = await watch.done;
    expect(r.code).toBe(0);
    const types = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).type);
    expect(types).toEqual(expect.arrayContaining(['version_created', 'version_ready']));
  });

  it('serves rebuild requests: runs the command, uploads what it wrote as the snapshot', async () => {
    const t = await server.newTenant('cli rebuilds');
    const tenantEnv = { ...env, COFFER_TOKEN: t.apiKey };
    expect(await coffer(['rebuilds'], tenantEnv, dir).done).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/usage: coffer rebuilds/),
    });
    await subscriptions(0); // the watch above has let go, so the one counted next is the worker
    const worker = coffer(
      [
        'rebuilds',
        '--project',
        'site-r',
        '--json',
        '--exec',
        'printf "%s for %s" "$COFFER_PROMPT" "$COFFER_VERSION_ID" > "$COFFER_OUTPUT"',
      ],
      tenantEnv,
      dir,
    );
    await subscriptions(1);
    const { version } = await t.client.version.create.mutate({ projectId: 'site-r', source: 'build', prompt: 'a red site' });
    expect((await t.client.version.requestRebuild.mutate({ versionId: version.id })).requested).toBe(true);
    await expect.poll(async () => (await t.client.version.get.query({ versionId: version.id })).status, { timeout: 15_000 }).toBe('ready');
    const rebuilt = await t.client.version.get.query({ versionId: version.id });
    const expected = new TextEncoder().encode(`a red site for ${version.id}`);
    expect(rebuilt).toMatchObject({ rebuildRequestedAt: null, snapshot: { sizeBytes: expected.length, sha256: sha256(expected) } });
    worker.child.kill('SIGINT');
    const r = await worker.done;
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim()).version).toMatchObject({ id: version.id, status: 'ready' });
  });

  it('fails with one line on stderr and a non-zero exit code', async () => {
    const missing = await run(['get', '00000000-0000-4000-8000-000000000000']);
    expect(missing).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^coffer: NOT_FOUND: .*not found\n$/) });
    const invalid = await run(['get', 'not-a-uuid']);
    expect(invalid).toMatchObject({ code: 1, stderr: 'coffer: BAD_REQUEST: id: must be a UUID\n' });
    expect(await run(['frobnicate'])).toMatchObject({ code: 2, stderr: "coffer: unknown command 'frobnicate' (see coffer --help)\n" });
    expect(await run(['push', dir])).toMatchObject({ code: 2, stderr: expect.stringMatching(/usage: coffer push/) });
    expect(await run(['ls', '--bogus'])).toMatchObject({ code: 2 });
    expect(await run(['ls'], { COFFER_TOKEN: 'cof_wrong' })).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^coffer: UNAUTHORIZED/),
    });
    expect(await run(['ls'], { COFFER_URL: undefined, COFFER_TOKEN: undefined })).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/no server URL/),
    });
    expect((await run(['--help'])).code).toBe(0);
  });

  it('reads url and token from a config file; the environment and flags override it', async () => {
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ url: server.url, token: 'cof_from_file_is_wrong' }));
    const noEnv = { COFFER_URL: undefined, COFFER_TOKEN: undefined };
    expect(await run(['ls', '--config', config], noEnv)).toMatchObject({ code: 1, stderr: expect.stringMatching(/UNAUTHORIZED/) });
    expect((await run(['ls', '--config', config], { COFFER_URL: undefined })).code).toBe(0);
    expect((await run(['ls', '--config', config, '--token', env.COFFER_TOKEN!], noEnv)).code).toBe(0);
    const xdg = join(dir, 'xdg');
    await mkdir(join(xdg, 'coffer'), { recursive: true });
    await writeFile(join(xdg, 'coffer/config.json'), JSON.stringify({ url: server.url, token: env.COFFER_TOKEN }));
    expect((await run(['ls'], { ...noEnv, XDG_CONFIG_HOME: xdg })).code).toBe(0);
    expect(await run(['ls', '--config', join(dir, 'nope.json')])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/cannot read config file/),
    });
  });
});
