#!/usr/bin/env node
// `npm start`: the server, from one prebuilt ES module (dist/server/main.mjs, gitignored, built by
// `prepare` on npm install/ci). Resolving drizzle-orm and zod through Node's ESM loader file by
// file was most of the start-up time (~1.2 s of a 2.1 s restart, measured with --cpu-prof on
// Node 24), so the build bundles them and Coffer's own sources; every other dependency stays
// external, loaded from node_modules as usual. A bundle older than any of the sources it was built
// from is rebuilt first (a developer's edit is never served stale); without esbuild (an
// install without dev dependencies) the sources run as they are, through scripts/node-ts.js.
//
// package.json runs this with `--min-semi-space-size=16` (MiB; V8 takes it on the command line
// only, not in NODE_OPTIONS): V8's young generation then starts at the size it may grow to by
// default, instead of 1 MiB, so a busy server does not run its frequent young collections in a
// small space first. It costs at most ~30 MiB that V8 may take under load anyway; measured with
// `npm run bench -- small`, 5–10% less server CPU per trivial call in steady state.
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bundle = join(root, 'dist/server/main.mjs');

/** Fresh when no file the bundle was built from (dist/server/main.inputs.json) is newer than it. */
function bundleIsFresh() {
  try {
    const built = statSync(bundle).mtimeMs;
    const sources = JSON.parse(readFileSync(join(root, 'dist/server/main.inputs.json'), 'utf8'));
    return sources.every((path) => statSync(join(root, path)).mtimeMs <= built);
  } catch {
    return false; // no bundle, no list, or a source gone: build again
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
