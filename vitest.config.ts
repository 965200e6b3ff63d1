import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/browser needs Debian's Chromium: `npm run test:browser` runs it (test/browser/vitest.config.ts).
    exclude: [...configDefaults.exclude, 'test/browser/**'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Every file builds its own servers and tenants; two cores, so keep the pool small.
    pool: 'forks',
    maxWorkers: 3,
    // The SDK's "Node 22 from 2027" notice, repeated by every worker, buries the results.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
