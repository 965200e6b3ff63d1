/**
 * Live events: delivery latency (commit → subscriber received, p50/p99) and throughput with
 * BENCH_SUBSCRIBERS (1,000) concurrent subscribers of one tenant, first on the instance that
 * writes, then on a second instance (writes on A, subscribers on B: the NOTIFY path), plus the
 * server's RSS per 1,000 idle subscribers. Target from the issue: p99 < 50 ms, no event lost.
 *
 * Both Coffer instances run in this process (each with its own pool, listener and hub); the
 * subscribers run in a child process (bench/event-subscribers.ts), one WebSocket each, speaking
 * tRPC's WebSocket protocol. "Committed" is the time the COMMIT was sent, so latencies are
 * slightly pessimistic; "received" is the time the subscriber's socket delivered the event's
 * frame and the frame was JSON-parsed (BENCH_CLIENT=raw, the default), or the time a full
 * createCofferClient's onData ran (BENCH_CLIENT=client: 1,000 full clients in one process saturate
 * its core at 20 ev/s, so that mostly measures the subscriber process; its CPU share is printed).
 * Events are appended directly (appendEvent), so the numbers are the event pipeline's, not
 * artifact.put's.
 *
 * Last, event-writing throughput: BENCH_WRITERS (16) concurrent transactions of one tenant, each
 * inserting an artifact row and its event, against the same transactions without the event
 * (target ≥ 0.9×), in ABBA order.
 *
 *   npm run bench -- events     (BENCH_SUBSCRIBERS=1000 BENCH_RATES=5,10,20 BENCH_SECONDS=5 BENCH_BURST=500 BENCH_WRITERS=16 BENCH_ONLY=write BENCH_CLIENT=raw|client BENCH_WRITE_PAIRS=8 BENCH_WRITE_SECONDS=1.5)
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { FastifyInstance } from 'fastify';
import { createCofferClient } from '../client/src/index.ts';
import { buildApp } from '../server/app.ts';
import { loadConfig } from '../server/config/index.ts';
import { type Db, type TxSettings, withTenant } from '../server/db/index.ts';
import { prepareDatabase, type RoleUrls } from '../server/db/roles.ts';
import { artifacts } from '../server/db/schema/index.ts';
import { startEmbeddedPostgres } from '../server/embedded-postgres.ts';
import { appendEvent } from '../server/events/append.ts';
import type { EventHub, EventSink } from '../server/events/hub.ts';
import { startRuntime } from '../server/runtime.ts';
import { quotaSettings } from '../server/services/quota.ts';
import { createStorage } from '../server/storage/index.ts';
import { closedLoop, median, percentile } from './support/stats.ts';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const RATES = (process.env.BENCH_RATES ?? '5,10,20').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const BURST = Number(process.env.BENCH_BURST ?? 500);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 16);
/** The write-throughput comparison: this many with/without pairs of this many seconds each. */
const WRITE_PAIRS = Number(process.env.BENCH_WRITE_PAIRS ?? 8);
const WRITE_SECONDS = Number(process.env.BENCH_WRITE_SECONDS ?? 1.5);
/** BENCH_ONLY=write: only the write-throughput comparison. */
const WRITES_ONLY = process.env.BENCH_ONLY === 'write';
/** How subscribers read (bench/event-subscribers.ts): bare tRPC-protocol sockets, or full clients. */
const CLIENT = process.env.BENCH_CLIENT === 'client' ? 'client' : 'raw';
const ADMIN = 'bench-admin-token-0123456789abcdef';
const MiB = 1024 * 1024;
/** One tenant, one key, 1,000 sockets from one address: lift the per-key and per-address abuse limits for the bench. */
const UNLIMITED = {
  COFFER_MAX_SUBSCRIPTIONS_PER_KEY: String(SUBSCRIBERS + 100),
  COFFER_RATE_LIMIT_PER_MINUTE: '0',
  COFFER_RATE_LIMIT_ANON_PER_MINUTE: '0',
  COFFER_MAX_CONNECTIONS_PER_ADDRESS: '0',
};

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Wall-clock milliseconds with sub-millisecond resolution; the subscriber process uses the same. */
const now = () => performance.timeOrigin + performance.now();

interface Instance {
  url: string;
  app: FastifyInstance;
  hub: EventHub;
  db: Db;
  /** What an artifact-inserting tenant transaction starts with (the quota trigger reads it). */
  settings: TxSettings;
  close(): Promise<void>;
}

async function startDatabase(): Promise<{ url: string; stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => {} };
  const dir = await mkdtemp(join(tmpdir(), 'coffer-bench-events-'));
  await chmod(dir, 0o755); // as root, Postgres runs as `postgres` and must enter it
  const pg = await startEmbeddedPostgres(dir, 'coffer-bench-password');
  return {
    url: pg.url,
    stop: async () => {
      await pg.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function startInstance(databaseUrl: string, roles: RoleUrls): Promise<Instance> {
  const dataDir = await mkdtemp(join(tmpdir(), 'coffer-bench-events-fs-'));
  const config = {
    ...loadConfig({ COFFER_DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...UNLIMITED }),
    databaseUrl,
    adminToken: ADMIN,
    signingSecret: 'bench-signing-secret-0123456789abcdef0123',
  };
  const runtime = await startRuntime(roles);
  const { db, events: hub } = runtime;
  await hub.ready;
  let url = '';
  const storage = createStorage(
    { kind: 'fs', root: join(dataDir, 'objects') },
    { signingSecret: config.signingSecret, publicUrl: () => url },
  );
  const app = await buildApp({ ...runtime, config, storage, now: () => new Date() }, { logger: false });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
  const close = async () => {
    await app.close();
    await runtime.close();
    await rm(dataDir, { recursive: true, force: true });
  };
  return { url, app, hub, db, settings: quotaSettings(config), close };
}

/**
 * Appends one event; returns its artifactId (what subscribers match it by) and the time just
 * before the COMMIT was sent (the event's INSERT travels with it), so latencies include the commit.
 */
async function writeOne(db: Db, tenantId: string): Promise<Commit> {
  const artifactId = randomUUID();
  return withTenant(db, tenantId, async (tx) => {
    await appendEvent(tx, tenantId, {
      type: 'artifact_uploaded',
      artifactId,
      data: { kind: 'agent_trace', sizeBytes: 1, sha256: 'x'.repeat(64), filename: null, downloadReady: true },
    });
    return [artifactId, now()];
  });
}
type Commit = [artifactId: string, atMs: number];

/** Child-process subscribers, driven by IPC. */
function startSubscribers() {
  const child: ChildProcess = fork(fileURLToPath(new URL('./event-subscribers.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
  });
  const nextMessage = <T>(type: string) =>
    new Promise<T>((resolve, reject) => {
      const died = (code: number | null) => reject(new Error(`subscriber process exited (${code}) while waiting for '${type}'`));
      const on = (m: { type: string; message?: string }) => {
        if (m.type === 'error') return reject(new Error(`subscriber: ${m.message}`));
        if (m.type !== type) return;
        child.off('message', on).off('exit', died);
        resolve(m as T);
      };
      child.on('message', on).once('exit', died);
    });
  const ask = <T>(message: Record<string, unknown>, reply: string) => {
    child.send(message);
    return nextMessage<T>(reply);
  };
  return {
    open: (url: string, token: string, n: number) => ask({ cmd: 'open', url, token, n, client: CLIENT }, 'ready'),
    expect: (count: number) => ask({ cmd: 'expect', count }, 'done'),
    report: (commits: Array<Commit>) => ask<Report>({ cmd: 'report', commits }, 'report'),
    close: () =>
      new Promise<void>((r) => {
        child.once('exit', () => r());
        child.send({ cmd: 'close' });
      }),
  };
}
type Subscribers = ReturnType<typeof startSubscribers>;
interface Report {
  deliveries: number;
  p50: number;
  p99: number;
  max: number;
  lost: number;
  duplicates: number;
  unexpected: number;
  outOfOrder: number;
  lastReceivedAt: number;
  /** The subscriber process's CPU time over wall time since its previous report. */
  cpuShare: number;
}

/** Paced writes at `rate`/s for SECONDS; returns the commit times. */
async function paced(db: Db, tenantId: string, rate: number): Promise<Array<Commit>> {
  const n = Math.round(rate * SECONDS);
  const t0 = performance.now();
  const writes: Array<Promise<Commit>> = [];
  for (let i = 0; i < n; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    writes.push(writeOne(db, tenantId));
  }
  return Promise.all(writes);
}

/** As fast as 4 concurrent writers can go. */
async function burst(db: Db, tenantId: string): Promise<Array<Commit>> {
  const out: Array<Commit> = [];
  let left = BURST;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (left-- > 0) out.push(await writeOne(db, tenantId));
    }),
  );
  return out;
}

/**
 * The server's share of the latency: a sink on the subscribers' hub, noting when each event
 * reached it. Sinks are called in the order they subscribed, so one subscribed before the
 * subscribers sees an event as soon as the hub has read it, and one subscribed after them once
 * the hub has written it to every idle subscriber's socket (the direct path, server/ws-fanout.ts).
 */
function probe(hub: EventHub, tenantId: string) {
  const at = new Map<string, number>();
  const sink: EventSink = {
    push(events) {
      const t = now();
      for (const e of events) if (e.artifactId) at.set(e.artifactId, t);
    },
    close() {},
  };
  const subscription = hub.subscribe(tenantId, sink);
  return { at, stop: () => subscription.unsubscribe() };
}
type Probe = ReturnType<typeof probe>;

/** "read p50/p99, written p50/p99" after commit, per event, from the two probes; resets them. */
function serverShare(commits: Array<Commit>, read: Probe, written: Probe): string {
  const after = (p: Probe) => {
    const ms = commits.map(([id, at]) => (p.at.get(id) ?? Number.NaN) - at).filter((x) => !Number.isNaN(x));
    p.at.clear();
    return `${percentile(ms, 50).toFixed(1)}/${percentile(ms, 99).toFixed(1)}`;
  };
  return `  server: read ${after(read)}, written to every socket ${after(written)} ms after commit (p50/p99)`;
}

function line(label: string, r: Report, extra = '') {
  const lossy =
    r.lost || r.duplicates || r.unexpected || r.outOfOrder
      ? `  LOST ${r.lost} DUP ${r.duplicates} UNEXPECTED ${r.unexpected} OUT-OF-ORDER ${r.outOfOrder}`
      : '  none lost';
  console.log(
    `${label.padEnd(38)} p50 ${r.p50.toFixed(1).padStart(7)} ms  p99 ${r.p99.toFixed(1).padStart(7)} ms  max ${r.max.toFixed(0).padStart(6)} ms  deliveries ${r.deliveries}  subscriber process CPU ${(r.cpuShare * 100).toFixed(0)}%${extra}${lossy}`,
  );
}

async function scenario(name: string, writer: Instance, subs: Subscribers, tenantId: string, probes: [Probe, Probe]) {
  // A subscription's first event goes tRPC's own way, to teach the fast path its framing
  // (server/ws-fanout.ts): a cost paid once per subscription, measured on its own line.
  const first = [await writeOne(writer.db, tenantId)];
  await subs.expect(first.length);
  line(`${name}, first event`, await subs.report(first), serverShare(first, ...probes));
  for (const rate of RATES) {
    const commits = await paced(writer.db, tenantId, rate);
    await subs.expect(commits.length);
    line(`${name}, ${rate} ev/s paced`, await subs.report(commits), serverShare(commits, ...probes));
  }
  const t0 = now();
  const cpu0 = process.cpuUsage();
  const commits = await burst(writer.db, tenantId);
  const writeSeconds = (now() - t0) / 1000;
  await subs.expect(commits.length);
  const cpu = process.cpuUsage(cpu0);
  const r = await subs.report(commits);
  const seconds = (r.lastReceivedAt - t0) / 1000;
  const rates = `  written at ${(BURST / writeSeconds).toFixed(0)} ev/s, delivered at ${(BURST / seconds).toFixed(0)} ev/s to each subscriber (${((BURST * SUBSCRIBERS) / seconds / 1000).toFixed(1)}k deliveries/s); server process CPU ${((cpu.user + cpu.system) / r.deliveries).toFixed(0)} µs per delivery`;
  line(`${name}, burst of ${BURST}`, r, rates + serverShare(commits, ...probes));
}

/** One artifact row, as artifact.put writes it, with or without its event, in one tenant transaction. */
function writeArtifact(instance: Instance, tenantId: string, withEvent: boolean): Promise<unknown> {
  return withTenant(
    instance.db,
    tenantId,
    async (tx) => {
      const id = randomUUID();
      await tx.insert(artifacts).values({
        id,
        tenantId,
        kind: 'agent_trace',
        storageKey: `tenants/${tenantId}/agent_trace/bench/${id}.json`,
        contentType: 'application/json',
        sizeBytes: 1,
        sha256: 'x'.repeat(64),
        status: 'ready',
      });
      if (withEvent) {
        await appendEvent(tx, tenantId, {
          type: 'artifact_uploaded',
          artifactId: id,
          data: { kind: 'agent_trace', sizeBytes: 1, sha256: 'x'.repeat(64), filename: null, downloadReady: true },
        });
      }
    },
    instance.settings,
  );
}

/**
 * Transactions per second of one tenant with and without events. Throughput on this shared
 * machine drifts by a quarter from one phase to the next, so the phases are short and many
 * (WRITE_PAIRS pairs, ABBA order), and the ratio is the median of each adjacent pair's ratio.
 */
async function writeThroughput(instance: Instance, tenantId: string): Promise<void> {
  const rates: Record<'with' | 'without', number[]> = { with: [], without: [] };
  const ratios: number[] = [];
  await closedLoop(WRITERS, 1, () => writeArtifact(instance, tenantId, true));
  for (let pair = 0; pair < WRITE_PAIRS; pair++) {
    const order = pair % 2 === 0 ? (['with', 'without'] as const) : (['without', 'with'] as const);
    const r: Partial<Record<'with' | 'without', number>> = {};
    for (const who of order) {
      r[who] = (await closedLoop(WRITERS, WRITE_SECONDS, () => writeArtifact(instance, tenantId, who === 'with'))).perSecond;
      rates[who].push(r[who]);
    }
    ratios.push(r.with! / r.without!);
  }
  const ratio = median(ratios);
  const sorted = [...ratios].sort((x, y) => x - y);
  console.log(
    `event-writing throughput, ${WRITERS} concurrent transactions of one tenant: ${median(rates.with).toFixed(0)} tx/s with events, ${median(rates.without).toFixed(0)} tx/s without (medians); median of ${WRITE_PAIRS} paired ratios ${ratio.toFixed(2)}× (range ${sorted[0]!.toFixed(2)}–${sorted.at(-1)!.toFixed(2)}; ≥ 0.9 wanted: ${ratio >= 0.9 ? 'met' : 'MISSED'})`,
  );
}

async function rssMiB(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(50);
  }
  return process.memoryUsage().rss / MiB;
}

/** JIT, lazy imports and pools warm up here, so the first RSS and latency figures are not skewed. */
async function warmUp(instances: Instance[], token: string, tenantId: string) {
  for (const instance of instances) {
    const subs = startSubscribers();
    await subs.open(instance.url, token, 20);
    const commits = await paced(instances[0]!.db, tenantId, 50);
    await subs.expect(commits.length);
    await subs.report(commits);
    await subs.close();
  }
}

async function main() {
  const database = await startDatabase();
  const roles = await prepareDatabase(database.url);
  const [a, b] = [await startInstance(database.url, roles), await startInstance(database.url, roles)];
  const admin = createCofferClient({ url: a.url, token: ADMIN });
  const { tenant, apiKey } = await admin.admin.createTenant.mutate({ name: 'bench' });
  console.log(
    `${SUBSCRIBERS} subscribers (one WebSocket each, ${CLIENT === 'raw' ? 'tRPC protocol on bare sockets' : 'full clients'}, child process), database: ${process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded PostgreSQL'}, node ${process.version}`,
  );

  const scenarios = [
    ['same instance (A→A)', a],
    ['across instances (A→B)', b],
  ] as const;
  if (!WRITES_ONLY) await warmUp([a, b], apiKey.key, tenant.id);
  for (const [name, subscribeTo] of WRITES_ONLY ? [] : scenarios) {
    const before = await rssMiB();
    const subs = startSubscribers();
    const read = probe(subscribeTo.hub, tenant.id);
    await subs.open(subscribeTo.url, apiKey.key, SUBSCRIBERS);
    const written = probe(subscribeTo.hub, tenant.id);
    await sleep(2000);
    const idle = await rssMiB();
    console.log(
      `${name}: ${subscribeTo.hub.size - 2} subscriptions; server RSS ${before.toFixed(0)} → ${idle.toFixed(0)} MiB idle: +${(((idle - before) * 1000) / SUBSCRIBERS).toFixed(1)} MiB per 1,000 idle subscribers`,
    );
    await scenario(name, a, subs, tenant.id, [read, written]);
    read.stop();
    written.stop();
    await subs.close();
    await sleep(500);
  }
  console.log(`peak RSS of the server process (both instances): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  await writeThroughput(a, tenant.id);
  await admin.close();
  await Promise.all([a.close(), b.close()]);
  await database.stop();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
