import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import type { StorageConfig } from '../../server/config/index.ts';
import { prepareDatabase, type RoleUrls } from '../../server/db/roles.ts';
import { startEmbeddedPostgres } from '../../server/embedded-postgres.ts';
import { startTestS3 } from './s3-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The owner's URL (migrations, and tests that inspect or break things as the owner). */
    databaseUrl: string;
    /** The service's and the system role's logins, as the server uses them. */
    databaseRoles: RoleUrls;
    s3: Extract<StorageConfig, { kind: 's3' }>;
  }
}

/**
 * Starts the real services once for the whole run: a throwaway embedded PostgreSQL unless
 * DATABASE_URL is set, and an in-process S3 server unless S3_ENDPOINT is set.
 */
export default async function setup(project: TestProject) {
  const cleanups: Array<() => Promise<void>> = [];
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-test-pg-'));
    await chmod(dir, 0o755); // as root, Postgres runs as `postgres` and must enter it
    const pg = await startEmbeddedPostgres(dir, 'coffer-test-password');
    databaseUrl = pg.url;
    cleanups.push(
      () => rm(dir, { recursive: true, force: true }),
      () => pg.stop(),
    ); // run in reverse
  }
  const roles = await prepareDatabase(databaseUrl, { app: process.env.DATABASE_APP_URL, system: process.env.DATABASE_SYSTEM_URL });
  const s3 = await startTestS3();
  cleanups.push(() => s3.stop());
  project.provide('databaseUrl', databaseUrl);
  project.provide('databaseRoles', roles);
  project.provide('s3', s3.config);
  return async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
}
