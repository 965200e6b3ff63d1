/**
 * `npm run coffer-admin -- <command>`: the operator's lifecycle commands.
 *
 * It calls a running Coffer over HTTP with the admin token (the typed client), rather than opening
 * the database and bucket itself: every rule, lock and event then comes from the server's one code
 * path, the embedded PostgreSQL (owned by the server process) is never started twice on one data
 * directory, and it works against a remote deployment too. Address and token come from the same
 * configuration as the server (HOST/PORT or COFFER_PUBLIC_URL; COFFER_ADMIN_TOKEN or the
 * generated secrets.json in COFFER_DATA_DIR); `--url` overrides the address.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type CofferClient, createCofferClient } from '../client/src/index.ts';
import { CLEANUP_JOBS, type CleanupJob, type CleanupRun } from '../shared/schemas/lifecycle.ts';
import { loadConfig } from './config/index.ts';
import { loadOrCreateSecrets } from './secrets.ts';

const USAGE = `usage: npm run coffer-admin -- <command> [options]

  cleanup <${CLEANUP_JOBS.join('|')}> [--dry-run]   run a cleanup job now
  usage [--tenant ID]                     stored bytes, objects, quota and estimated cost per tenant
  quota TENANT [--bytes N] [--objects N]  override a tenant's plan quota; N is a number (5GB, 200MiB),
                                          'none' (no limit) or 'plan' (the plan's again)
  runs [--limit N]                        the latest cleanup runs
  apply-bucket-lifecycle                  put the bucket lifecycle rule (S3 backends)
  bucket-lifecycle                        show that rule without applying it
  apply-bucket-cors [--origin URL]...     put the CORS rule browser uploads need (default origin: COFFER_PUBLIC_URL)
  bucket-cors [--origin URL]...           show that rule without applying it

  --url URL                               the Coffer server (default: from HOST/PORT or COFFER_PUBLIC_URL)`;

async function connect(url?: string): Promise<CofferClient> {
  const config = loadConfig();
  let token = config.adminToken;
  if (!token && existsSync(join(config.dataDir, 'secrets.json'))) token = (await loadOrCreateSecrets(config.dataDir)).secrets.adminToken;
  if (!token) throw new Error(`no admin token: set COFFER_ADMIN_TOKEN, or run where ${join(config.dataDir, 'secrets.json')} exists`);
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  return createCofferClient({ url: url ?? config.publicUrl ?? `http://${host}:${config.port}`, token });
}

const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;

const UNIT_BYTES: Record<string, number> = {
  '': 1,
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KIB: 2 ** 10,
  MIB: 2 ** 20,
  GIB: 2 ** 30,
  TIB: 2 ** 40,
};

/** A quota option: `5GB`, `200MiB`, `1000`, `none` (no limit) or `plan`; absent, unchanged. */
function limitArg(v: unknown): number | null | 'plan' | undefined {
  if (v === undefined) return undefined;
  const s = String(v).trim();
  if (s === 'plan') return 'plan';
  if (s === 'none') return null;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(s);
  const unit = m && UNIT_BYTES[m[2]!.toUpperCase()];
  if (!m || !unit) throw new Error(`'${s}' is not a quota: give a number such as 5GB, 200MiB or 1000, or 'none' or 'plan'`);
  return Math.round(Number(m[1]) * unit);
}

function printRuns(runs: CleanupRun[]): void {
  console.table(
    runs.map((r) => ({
      job: r.job,
      started: r.startedAt.toISOString(),
      seconds: r.finishedAt ? ((r.finishedAt.getTime() - r.startedAt.getTime()) / 1000).toFixed(1) : '(running)',
      status: r.status,
      dry: r.dryRun,
      examined: r.examined,
      deleted: r.deleted,
      freed: mb(r.bytesFreed),
      errors: r.errors,
      by: r.triggeredBy,
    })),
  );
  for (const r of runs) for (const m of r.errorMessages) console.error(`${r.job} ${r.startedAt.toISOString()}: ${m}`);
}

async function run(
  client: CofferClient,
  command: string | undefined,
  args: string[],
  values: Record<string, string | boolean | string[] | undefined>,
) {
  switch (command) {
    case 'cleanup': {
      const job = args[0] as CleanupJob;
      if (!CLEANUP_JOBS.includes(job)) throw new Error(`cleanup needs a job: ${CLEANUP_JOBS.join(', ')}`);
      const r = await client.storage.runCleanup.mutate({ job, dryRun: values['dry-run'] === true });
      if (r.status === 'already_running') return console.log(`${job} is already running on another instance; nothing done`);
      return printRuns([r.run]);
    }
    case 'runs':
      return printRuns((await client.storage.cleanupRuns.query({ limit: Number(values.limit ?? 20) })).items);
    case 'usage': {
      const u = await client.storage.adminUsage.query({ tenantId: values.tenant as string | undefined });
      console.table(
        u.tenants.map((t) => ({
          tenant: t.tenantId,
          name: t.name,
          plan: t.plan,
          objects: t.objects,
          'object quota': t.quotaObjects ?? 'none',
          stored: mb(t.bytes),
          quota: t.quotaBytes === null ? 'none' : mb(t.quotaBytes),
          'usd/month': t.estimateUsd,
          alert: t.alert,
        })),
      );
      return console.log(`total: ${u.total.objects} objects, ${mb(u.total.bytes)}, ~$${u.total.estimateUsd.toFixed(2)}/month`);
    }
    case 'quota': {
      const tenantId = args[0];
      if (!tenantId) throw new Error('quota needs a tenant id: coffer-admin quota TENANT --bytes 5GB');
      const q = await client.admin.setQuota.mutate({ tenantId, bytes: limitArg(values.bytes), objects: limitArg(values.objects) });
      const show = (max: number | null, used: number, fmt: (n: number) => string, src: string) =>
        `${fmt(used)} of ${max === null ? 'no limit' : fmt(max)} (${src === 'tenant' ? 'set for this tenant' : `plan ${q.plan}`})`;
      console.log(`bytes:   ${show(q.bytes, q.used.bytes, mb, q.source.bytes)}`);
      return console.log(`objects: ${show(q.objects, q.used.objects, String, q.source.objects)}`);
    }
    case 'bucket-lifecycle':
      return console.log(JSON.stringify(await client.storage.bucketLifecycle.query(), null, 2));
    case 'apply-bucket-lifecycle': {
      const r = await client.storage.applyBucketLifecycle.mutate();
      return console.log(`applied; the bucket's rules are now: ${r.rules.join(', ')}`);
    }
    case 'bucket-cors': {
      const origins = values.origin as string[] | undefined;
      return console.log(JSON.stringify(await client.storage.bucketCors.query({ origins }), null, 2));
    }
    case 'apply-bucket-cors': {
      const r = await client.storage.applyBucketCors.mutate({ origins: values.origin as string[] | undefined });
      return console.log(`applied; the bucket's CORS rules are now: ${r.rules.join(', ')}`);
    }
    default:
      console.error(USAGE);
      process.exitCode = 2;
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'dry-run': { type: 'boolean' },
      tenant: { type: 'string' },
      limit: { type: 'string' },
      url: { type: 'string' },
      origin: { type: 'string', multiple: true },
      bytes: { type: 'string' },
      objects: { type: 'string' },
    },
  });
  const [command, ...args] = positionals;
  if (!command) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const client = await connect(values.url);
  try {
    await run(client, command, args, values);
  } finally {
    await client.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
