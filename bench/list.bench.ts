/**
 * `artifact.list` over a big tenant: BENCH_ROWS (1,000,000) artifacts of the bench tenant and as
 * many of another, then serial 100-row pages through the client, at the newest end and at cursors
 * spread over the whole tenant; side by side with the same query sent straight to Postgres (as
 * the service's role, in a transaction bound to the tenant, as the service sends it). Target
 * (issue 12): p99 < 10 ms through the client.
 *
 *   npm run bench -- list      (BENCH_ROWS=1000000 BENCH_CALLS=1000 BENCH_WARMUP_SECONDS=10)
 */
import pg from 'pg';
import WebSocket from 'ws';
import { createCofferClient } from '../client/src/index.ts';
import { type CofferProcess, cpuMs, startCofferProcess } from './support/coffer-process.ts';
import { startDatabase } from './support/services.ts';
import { percentile, printTable, serialLatencies, WARMUP_SECONDS, warmUp } from './support/stats.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const CALLS = Number(process.env.BENCH_CALLS ?? 1000);
const PROFILE = process.env.BENCH_PROFILE;

/**
 * Rows of `tenantId`, created one second apart going back from now, with a little metadata. The
 * quota trigger is off for the bulk insert and the usage counted once afterwards: row by row it
 * upserts the same tenant_usage row a million times in one transaction, each update walking the
 * dead versions of the ones before (hours instead of seconds).
 */
async function seed(owner: pg.Client, tenantId: string): Promise<void> {
  await owner.query('begin');
  await owner.query('alter table artifacts disable trigger artifacts_count_usage');
  await owner.query(
    `insert into artifacts (id, tenant_id, kind, entity_type, entity_id, storage_key, content_type, size_bytes, sha256, status, metadata, created_at, updated_at)
     select gen_random_uuid(), $1::uuid, 'chat_transcript', 'conversation', 'c-' || (g % 5000),
            'tenants/' || $1 || '/chat_transcript/bench/' || g || '.json', 'application/json', 2000 + g % 2000,
            md5(g::text) || md5((g + 1)::text), 'ready', jsonb_build_object('model', 'bench-1', 'turn', g % 40, 'tokens', g % 4000),
            now() - make_interval(secs => g), now() - make_interval(secs => g)
     from generate_series(1, $2::int) g`,
    [tenantId, ROWS],
  );
  await owner.query('alter table artifacts enable trigger artifacts_count_usage');
  await owner.query(
    `insert into tenant_usage (tenant_id, bytes, objects)
     select $1::uuid, sum(size_bytes), count(*) from artifacts where tenant_id = $1 and status in ('pending', 'verifying', 'ready')
     on conflict (tenant_id) do update set bytes = excluded.bytes, objects = excluded.objects`,
    [tenantId],
  );
  await owner.query('commit');
}

const encodeCursor = (createdAt: Date, id: string) => Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString('base64url');

async function main(): Promise<void> {
  const db = await startDatabase();
  let coffer: CofferProcess | undefined;
  const owner = new pg.Client({ connectionString: db.value, options: '-c app.bypass_rls=on' });
  try {
    coffer = await startCofferProcess(
      db.value,
      null,
      { COFFER_RATE_LIMIT_PER_MINUTE: '0' },
      PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : [],
    );
    await owner.connect();
    const admin = createCofferClient({ url: coffer.url, token: coffer.adminToken });
    const { tenant, apiKey } = await admin.admin.createTenant.mutate({ name: 'bench list' });
    const other = await admin.admin.createTenant.mutate({ name: 'bench list, other' });
    const t0 = performance.now();
    await seed(owner, tenant.id);
    await seed(owner, other.tenant.id);
    await owner.query('vacuum analyze artifacts');
    // The bulk insert left gigabytes of dirty pages: write them out now, not during the timing.
    await owner.query('checkpoint');
    console.log(`seeded ${2 * ROWS} artifacts (two tenants) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

    // Cursors spread over the whole tenant: every row whose position is a multiple of ROWS / 200.
    const sampled = await owner.query<{ created_at: Date; id: string }>(
      `select created_at, id from artifacts where tenant_id = $1 and random() < $2 limit 200`,
      [tenant.id, 200 / ROWS],
    );
    const cursors = [undefined, ...sampled.rows.map((r) => encodeCursor(r.created_at, r.id))];
    const client = createCofferClient({ url: coffer.url, token: apiKey.key, WebSocket: WebSocket as never });
    const list = (i: number) => client.artifact.list.query({ limit: 100, cursor: cursors[i % cursors.length] });
    const listChecked = async (i: number) => {
      const page = await list(i);
      if (page.items.length !== 100 && i % cursors.length === 0) throw new Error(`a first page of ${page.items.length} rows`);
    };
    await warmUp(listChecked, WARMUP_SECONDS);
    const cpu0 = cpuMs(coffer.pid);
    const viaClient = await serialLatencies(listChecked, CALLS);
    const serverCpu = (cpuMs(coffer.pid) - cpu0) / CALLS;

    // The same statement the service runs, straight to Postgres as its role (the app pool's URL is the server's business: use the owner's session with the app role set).
    const raw = new pg.Client({ connectionString: db.value, options: '-c role=coffer_app' });
    await raw.connect().catch(async () => {
      await raw.end().catch(() => {});
      throw new Error('could not connect as coffer_app for the raw SQL baseline');
    });
    const columns =
      'id, kind, entity_type, entity_id, project_id, version_id, content_type, filename, size_bytes, sha256, status, failure_reason, metadata, created_at, updated_at';
    const newest = `select ${columns} from artifacts where tenant_id = $1 and status <> 'deleted' order by created_at desc, id desc limit 101`;
    const after = `select ${columns} from artifacts where tenant_id = $1 and status <> 'deleted' and (created_at, id) < ($2::timestamptz, $3::uuid) order by created_at desc, id desc limit 101`;
    const inTenant = async <T>(fn: () => Promise<T>): Promise<T> => {
      await raw.query('begin');
      await raw.query(`select set_config('app.tenant_id', $1, true)`, [tenant.id]);
      const result = await fn();
      await raw.query('commit');
      return result;
    };
    const rawOnce = (i: number) => {
      const c = sampled.rows[(i % cursors.length) - 1];
      return inTenant(() => (c ? raw.query(after, [tenant.id, c.created_at, c.id]) : raw.query(newest, [tenant.id])));
    };
    await warmUp(rawOnce, WARMUP_SECONDS);
    const viaSql = await serialLatencies(rawOnce, CALLS);
    // The plans, as the service's role sees them: the newest page and the oldest sampled cursor.
    const oldest = sampled.rows.reduce((a, b) => (a.created_at < b.created_at ? a : b), sampled.rows[0]!);
    for (const [label, text, params] of [
      ['newest page', newest, [tenant.id]],
      ['oldest sampled cursor', after, [tenant.id, oldest.created_at, oldest.id]],
    ] as const) {
      const plan = await inTenant(() => raw.query(`explain (analyze, buffers) ${text}`, [...params]));
      console.log(`plan, ${label}:\n  ${plan.rows.map((r) => r['QUERY PLAN']).join('\n  ')}`);
    }
    await raw.end();

    console.log(
      `database: ${db.label}; Coffer: child process (server/main.ts), disk storage; ${CALLS} serial calls, node ${process.version}`,
    );
    const row = (name: string, xs: number[]) => [
      name,
      ...[50, 90, 99].map((p) => percentile(xs, p).toFixed(2)),
      Math.max(...xs).toFixed(1),
    ];
    printTable([
      ['100-row page', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
      row('artifact.list through the client', viaClient),
      row('same SQL straight to Postgres (begin, bind tenant, select, commit)', viaSql),
      ['ratio', ...[50, 90, 99].map((p) => `${(percentile(viaClient, p) / percentile(viaSql, p)).toFixed(2)}×`), ''],
    ]);
    console.log(`server CPU per page (user + system, /proc): ${serverCpu.toFixed(2)} ms`);
    const p99 = percentile(viaClient, 99);
    console.log(`target p99 < 10 ms through the client: ${p99 < 10 ? 'met' : 'MISSED'}`);
    await Promise.all([client.close(), admin.close()]);
  } finally {
    await owner.end().catch(() => {});
    await coffer?.stop();
    await db.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
