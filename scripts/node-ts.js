#!/usr/bin/env node
// `node scripts/node-ts.js file.ts [args]` is `node file.ts [args]` on any Node Coffer supports.
// Node 22.18+, 23.6+ and 24 strip types themselves: the file is imported as it is and no
// transpiler is loaded. Older runtimes (Node 20, the default on some machines) cannot, so tsx's
// loader is registered first. Either way the file runs in this process, so signals, exit codes
// and the pid are the program's own.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [file] = process.argv.splice(2, 1);
if (!file) {
  console.error('usage: node scripts/node-ts.js <file.ts> [args]');
  process.exit(2);
}
// What the program sees, as if started directly: process.argv[1] is its own absolute path.
process.argv[1] = resolve(file);

if (!process.features.typescript) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(pathToFileURL(process.argv[1]).href);
