#!/usr/bin/env node
// The `coffer` command. An installed package runs its build (dist/cli.js). In a checkout of the
// Coffer repository nothing is built yet, so the TypeScript source runs as it is where the runtime
// strips types (Node 22.18+, 24), else through tsx (a dependency of the repository, not of the
// package): `npx coffer` works right after `npm ci`.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  if (!process.features.typescript) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
