/**
 * Builds the publishable package into client/dist: ESM JavaScript (esbuild) and one bundled
 * .d.ts per entry (tsc's declarations, bundled by rollup-plugin-dts). Run: npm run build -w client.
 *
 * The declarations are where the work is: the client's sources name the server's AppRouter and
 * shared/'s zod-inferred types, whose declarations lead to the server Context (drizzle, pg,
 * Fastify) and to zod. `wireTypes` resolves those imports to client/src/wire.ts, which spells
 * the same types off server/routers/client-view.ts, and `assertSelfContained` fails the build if
 * anything of the server, drizzle, pg, Fastify or zod is still referenced.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Plugin, rollup } from 'rollup';
import { dts } from 'rollup-plugin-dts';

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(pkgDir, 'dist');
// Everything is built in a private directory and copied into dist/ at the end, so two builds at
// once (two test runs packing the client) never see each other's half-written files.
const work = await mkdtemp(join(tmpdir(), 'coffer-client-build-'));
const out = join(work, 'dist');
const types = join(work, 'types');
const wire = join(types, 'client/src/wire.d.ts');

/** Modules whose declarations must not reach the package, and what they are replaced by. */
const REDIRECTED = [/[/\\]server[/\\]routers[/\\]_app(\.d)?\.ts$/, /[/\\]shared[/\\]schemas[/\\][^/\\]+(\.d)?\.ts$/];
/** Relative paths into server/ (a package's own `@trpc/server` is fine: @trpc/client needs it anyway), drizzle, pg, Fastify, zod. */
const FORBIDDEN = /(?:from |import\()['"](?:\.[^'"]*[/\\]server[/\\][^'"]*|drizzle-orm[^'"]*|pg|fastify[^'"]*|zod[^'"]*)['"]/;

function wireTypes(): Plugin {
  return {
    name: 'coffer-wire-types',
    resolveId(source, importer) {
      // The router's declarations name zod's JSONType (what z.json() infers); wire.ts spells it out.
      if (source === 'zod') return wire;
      if (!importer || !source.startsWith('.')) return null;
      const target = resolve(dirname(importer), source);
      if (REDIRECTED.some((re) => re.test(target))) return wire;
      // Everything else of the server must stay out; client-view.ts is the one file written for it.
      if (target.startsWith(join(types, 'server')) && !/routers[/\\]client-view(\.d)?\.ts$/.test(target)) {
        this.error(`${importer} imports ${source}: server declarations cannot go into the client package`);
      }
      const dtsPath = target.replace(/\.ts$/, '.d.ts');
      return existsSync(dtsPath) ? dtsPath : null;
    },
  };
}

async function bundleTypes() {
  const input = { index: join(types, 'client/src/index.d.ts'), node: join(types, 'client/src/node.d.ts') };
  const bundle = await rollup({ input, plugins: [wireTypes(), dts()], external: (id) => /^(@trpc\/|node:)/.test(id) });
  await bundle.write({ dir: out, format: 'es', entryFileNames: '[name].d.ts', chunkFileNames: 'shared-[hash].d.ts' });
  await bundle.close();
}

async function assertSelfContained() {
  for (const file of (await readdir(out)).filter((f) => f.endsWith('.d.ts'))) {
    const text = await readFile(join(out, file), 'utf8');
    const hit = text.split('\n').find((line) => FORBIDDEN.test(line));
    if (hit) throw new Error(`dist/${file} still references server-side types: ${hit.trim()}`);
  }
}

async function bundleJs() {
  const common = { bundle: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external', logLevel: 'warning' } as const;
  // One build for the library entries, so the code they share is one chunk (one TransferError class, not two).
  await build({
    ...common,
    entryPoints: { index: join(pkgDir, 'src/index.ts'), node: join(pkgDir, 'src/node.ts') },
    outdir: out,
    splitting: true,
    chunkNames: 'chunk-[hash]',
  });
  await build({ ...common, entryPoints: { cli: join(pkgDir, 'src/cli/main.ts') }, outdir: out });
}

try {
  const tsc = join(pkgDir, '../node_modules/typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(pkgDir, 'tsconfig.build.json'), '--outDir', types], { stdio: 'inherit' });
  await bundleTypes();
  await assertSelfContained();
  await bundleJs();
  await rm(dist, { recursive: true, force: true });
  await cp(out, dist, { recursive: true });
  console.log(`built ${dist}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
