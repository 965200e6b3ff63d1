import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import base from '../../vitest.config.ts';

/**
 * `npm run test:browser`: the root config (same global setup: Postgres + S3) narrowed to the
 * browser tests, which the default run excludes because they need /usr/bin/chromium.
 */
export default defineConfig({
  ...base,
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    ...base.test,
    include: ['test/browser/**/*.test.ts'],
    exclude: [...(base.test?.exclude ?? []).filter((p) => p !== 'test/browser/**')],
    // One Chromium at a time is plenty on two cores.
    maxWorkers: 1,
    testTimeout: 60_000,
  },
});
