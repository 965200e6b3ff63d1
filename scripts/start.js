#!/usr/bin/env node
// `npm start`: the server, from one prebuilt ES module (dist/server/main.mjs, gitignored, built by
// `prepare` on npm install/ci). Resolving drizzle-orm and zod through Node's ESM loader file by
// file was most of the start-up time (~1.2 s of a 2.1 s restart, measured with --cpu-prof on
// Node 24), so the build bundles them and Coffer's own sources; every other dependency stays
// external, loaded from node_modules as usual. A bundle older than any source under server/ or
// shared/ is rebuilt first (a developer's edit is never served stale); without esbuild (an
// install without dev dependencies) the sources run as they are, through scripts/node-ts.js.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bundle = join(root, 'dist/server/main.mjs');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  try {
    return statSync(bundle).mtimeMs >= Math.max(newestSource(join(root, 'server')), newestSource(join(root, 'shared')));
  } catch {
    return false;
  }
}

let entry = bundle;
if (!bundleIsFresh()) {
  const built = await import('./build-server.js').then(
    (m) => m.buildServer().then(() => true),
    () => false, // no esbuild: run the sources
  );
  if (!built) entry = undefined;
}
if (entry) {
  process.argv[1] = resolve(entry);
  await import(pathToFileURL(entry).href);
} else {
  process.argv.splice(2, 0, 'server/main.ts');
  await import('./node-ts.js');
}
