import { sql } from 'drizzle-orm';
import type { Health } from '../../shared/schemas/storage.ts';
import type { Deps } from '../deps.ts';
import { CofferError } from '../errors.ts';

async function timed(fn: () => Promise<unknown>): Promise<{ ok: boolean; latencyMs: number; error?: string }> {
  const start = performance.now();
  try {
    await fn();
    return { ok: true, latencyMs: Math.round(performance.now() - start) };
  } catch (err) {
    // Only our own messages are shown; they are written never to carry endpoints or credentials.
    const error = err instanceof CofferError ? err.message : 'unreachable';
    return { ok: false, latencyMs: Math.round(performance.now() - start), error };
  }
}

/** Reachability of database and storage, and which settings are present: booleans, never values. */
export async function checkHealth(deps: Deps): Promise<Health> {
  const [database, storage] = await Promise.all([timed(() => deps.db.execute(sql`select 1`)), timed(() => deps.storage.health())]);
  const { config } = deps;
  const s3 = config.storage.kind === 's3' ? config.storage : undefined;
  return {
    ok: database.ok && storage.ok,
    database,
    storage: { ...storage, backend: deps.storage.backend },
    settings: {
      externalDatabase: config.databaseUrl !== null,
      s3Endpoint: Boolean(s3?.endpoint),
      s3Bucket: Boolean(s3?.bucket),
      s3Credentials: Boolean(s3?.accessKeyId && s3.secretAccessKey),
      s3ForcePathStyle: Boolean(s3?.forcePathStyle),
      adminToken: Boolean(config.adminToken),
      signingSecret: Boolean(config.signingSecret),
      publicUrl: Boolean(config.publicUrl),
    },
  };
}
