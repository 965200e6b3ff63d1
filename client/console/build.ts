/**
 * Builds the console into client/console/dist/ (gitignored). Runs from the root `prepare` script
 * on `npm install` / `npm ci`, and from server/http/console.ts when dist/ is missing (e.g. after
 * `npm ci --ignore-scripts`), so a fresh clone's `npm install && npm start` always serves it.
 */

import { chmod, copyFile, mkdtemp, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
export const CONSOLE_DIST = join(here, 'dist');

/** Files copied as they are; everything else comes out of esbuild. */
const STATIC_FILES = ['index.html', 'console.css', 'favicon.svg'];

/**
 * Builds into a fresh temporary folder and swaps it in with one rename, so a server never
 * serves a half-written build and two processes building at once cannot mix their files.
 */
export async function buildConsole(outdir = CONSOLE_DIST): Promise<void> {
  const tmp = await mkdtemp(`${outdir}.tmp-`);
  try {
    await chmod(tmp, 0o755); // mkdtemp makes it 0700; the server may run as another user
    await build({
      entryPoints: [join(here, 'main.ts')],
      outfile: join(tmp, 'console.js'),
      bundle: true,
      format: 'esm',
      minify: true,
      // No source map: it would serve the console's full source to anyone who asks.
      sourcemap: false,
      // Current Chromium and Firefox; the client needs AbortSignal.any, WebSocket and fetch.
      target: ['chrome120', 'firefox120'],
      logLevel: 'warning',
    });
    await Promise.all(STATIC_FILES.map((f) => copyFile(join(here, f), join(tmp, f))));
    await rm(outdir, { recursive: true, force: true });
    await rename(tmp, outdir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    // Another process swapped its build in between our rm and rename: that build is as good as ours.
    if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw err;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildConsole();
  console.log(`console built into ${CONSOLE_DIST}`);
}
