#!/usr/bin/env node
// Builds dist/server/main.mjs, what `npm start` runs (scripts/start.js says why). Depth matters:
// dist/server/ sits as deep as server/db/ and server/http/, so their import.meta.url paths
// (../../drizzle/migrations, ../../client/console/dist/) still point at the same folders.
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Bundled: their per-file ESM resolution is what start-up spent its time on. */
const BUNDLED = new Set(['drizzle-orm', 'zod']);

export async function buildServer() {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const external = Object.keys(pkg.dependencies).filter((d) => !BUNDLED.has(d));
  const outdir = join(root, 'dist/server');
  await mkdir(outdir, { recursive: true });
  // Written aside and renamed into place, so a concurrent start never imports half a file.
  const tmp = join(outdir, `main.${process.pid}.tmp.mjs`);
  try {
    const { metafile } = await build({
      entryPoints: [join(root, 'server/main.ts')],
      absWorkingDir: root, // input paths in the metafile are relative to it
      outfile: tmp,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external: [...external, ...external.map((d) => `${d}/*`)],
      logLevel: 'warning',
      // Bundled CommonJS code may call require; an ES module has none of its own.
      banner: { js: "import { createRequire as __coffer_require } from 'node:module'; const require = __coffer_require(import.meta.url);" },
      metafile: true,
    });
    // Coffer's own files in the bundle, wherever they live (client/console/build.ts is one): what
    // scripts/start.js compares the bundle's age against. Dependencies change only through an
    // install, which rebuilds anyway.
    const sources = Object.keys(metafile.inputs).filter((path) => !path.includes('node_modules/'));
    await writeFile(`${tmp}.json`, JSON.stringify(sources));
    await rename(`${tmp}.json`, join(outdir, 'main.inputs.json'));
    await rename(tmp, join(outdir, 'main.mjs'));
  } finally {
    await rm(tmp, { force: true });
    await rm(`${tmp}.json`, { force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildServer();
