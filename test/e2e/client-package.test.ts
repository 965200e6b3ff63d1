import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.ts';

const exec = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const fixtures = join(repo, 'test/e2e/client-package');
const tsc = join(repo, 'node_modules/typescript/bin/tsc');

/** What a user's project has: strict, and skipLibCheck off so the package's .d.ts must be complete. */
const tsconfig = (files: string[]) => ({
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2023', 'DOM'],
    strict: true,
    skipLibCheck: false,
    outDir: 'out',
    // @types/node from this repo rather than the network.
    typeRoots: [join(repo, 'node_modules/@types')],
    types: ['node'],
  },
  files,
});

const run = async (cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) => {
  try {
    const r = await exec(cmd, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
};

/**
 * Does what a user in another repository does: `npm pack` the client (prepack builds it),
 * install the tarball into a brand-new project outside this repo, type-check a correct and a
 * wrong program against it, then run the compiled program with plain node against a live server.
 */
describe('the packed @coffer/client in a fresh project', () => {
  let server: TestServer;
  let packDir: string;
  let project: string;
  let pkgDir: string;

  beforeAll(async () => {
    packDir = await mkdtemp(join(tmpdir(), 'coffer-pack-'));
    project = await mkdtemp(join(tmpdir(), 'coffer-consumer-'));
    const [packed] = await Promise.all([
      run('npm', ['pack', '--pack-destination', packDir], join(repo, 'client')),
      startTestServer({ backend: 'fs' }).then((s) => (server = s)),
    ]);
    expect(packed.code, packed.stderr).toBe(0);
    const tarball = (await readdir(packDir)).find((f) => f.endsWith('.tgz'))!;
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // The package's dependencies come from the registry (npm's cache makes reruns fast); nothing from this repo.
    const installed = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(packDir, tarball)], project);
    expect(installed.code, installed.stderr).toBe(0);
    pkgDir = join(project, 'node_modules/@coffer/client');
    await copyFile(join(fixtures, 'good.ts.txt'), join(project, 'good.ts'));
    await copyFile(join(fixtures, 'bad.ts.txt'), join(project, 'bad.ts'));
  }, 240_000);
  afterAll(async () => {
    await server?.close();
    await rm(packDir, { recursive: true, force: true });
    await rm(project, { recursive: true, force: true });
  });

  it('ships ESM, bundled .d.ts for both entries and a bin, and nothing of the server', async () => {
    const pkg = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8'));
    expect(pkg.exports['.'].types).toBe('./dist/index.d.ts');
    expect(pkg.exports['./node'].types).toBe('./dist/node.d.ts');
    expect(pkg.bin.coffer).toBe('./bin/coffer.js');
    expect(pkg.files).toEqual(['dist', 'bin']);
    expect(pkg.engines.node).toBe('>=22');
    const files = await readdir(join(pkgDir, 'dist'));
    expect(files).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'node.js', 'node.d.ts', 'cli.js']));
    expect(files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toBe(false);
    for (const f of files.filter((f) => f.endsWith('.d.ts') || f.endsWith('.js'))) {
      const text = await readFile(join(pkgDir, 'dist', f), 'utf8');
      expect(text, f).not.toMatch(/['"](\.\.?\/)+(server|shared)\/|drizzle|fastify|['"]pg['"]|from ['"]zod['"]/);
    }
    expect(await readFile(join(pkgDir, 'dist/index.d.ts'), 'utf8')).toMatch(/ctx: object;/);
  });

  it('type-checks correct calls with inferred result types, and rejects wrong input', async () => {
    await writeFile(join(project, 'tsconfig.json'), JSON.stringify(tsconfig(['good.ts'])));
    const good = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], project);
    expect(good.stdout + good.stderr).toBe('');
    expect(good.code).toBe(0);

    await writeFile(
      join(project, 'tsconfig.bad.json'),
      JSON.stringify({ ...tsconfig(['bad.ts']), compilerOptions: { ...tsconfig([]).compilerOptions, noEmit: true } }),
    );
    const bad = await run(process.execPath, [tsc, '-p', 'tsconfig.bad.json'], project);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout).toMatch(/bad\.ts\(5,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
  }, 120_000);

  it('runs in plain Node against a live server', async () => {
    const { apiKey } = await server.newTenant('consumer');
    const r = await run(process.execPath, ['out/good.js'], project, { COFFER_URL: server.url, COFFER_TOKEN: apiKey });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      created: true,
      status: 'ready',
      payload: { messages: [{ role: 'user', content: 'hi' }] },
      firstKind: 'chat_transcript',
      versionStatus: 'ready',
      hasUrl: true,
      savedBytes: 'zip bytes',
      readyStatus: 'ready',
      eventSize: 9,
      envelopeKeys: ['model', 'tool_interactions_count', 'tool_interactions_ref'],
      resolved: { model: 'm', tool_interactions: [{ tool: 'x' }] },
      code: 'NOT_FOUND',
    });
  }, 60_000);

  it('installs the coffer bin', async () => {
    const { apiKey } = await server.newTenant('bin');
    const bin = join(project, 'node_modules/.bin/coffer');
    expect((await run(bin, ['--help'], project)).code).toBe(0);
    await mkdir(join(project, 'payloads'), { recursive: true });
    await writeFile(join(project, 'payloads/a.json'), '{"a":1}');
    const env = { COFFER_URL: server.url, COFFER_TOKEN: apiKey };
    const put = await run(bin, ['put', 'agent_trace', 'payloads/a.json', '--json'], project, env);
    expect(put.code, put.stderr).toBe(0);
    const listed = await run(bin, ['ls', '--json'], project, env);
    expect(JSON.parse(listed.stdout).items.map((a: { id: string }) => a.id)).toEqual([JSON.parse(put.stdout).id]);
  }, 60_000);
});
