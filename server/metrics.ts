import { sql } from 'drizzle-orm';
import client from 'prom-client';
import { poolOf, withSystem } from './db/index.ts';
import type { Deps } from './deps.ts';

/**
 * Prometheus metrics (prom-client). Counters and histograms are process-wide: the code that
 * observes them has no app at hand, and a scrape describes the process. Each app's registry
 * (registryFor) adds them to what it reads at scrape time: artifacts by status, subscribers,
 * the database pools.
 */
const shared = { registers: [] as client.Registry[] };

export const requestDuration = new client.Histogram({
  name: 'coffer_request_duration_seconds',
  help: 'tRPC calls (queries and mutations) by procedure and outcome (ok or the tRPC error code)',
  labelNames: ['procedure', 'outcome'] as const,
  buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  ...shared,
});
export const uploadBytes = new client.Counter({
  name: 'coffer_upload_bytes_total',
  help: 'bytes of direct uploads that became ready',
  ...shared,
});
export const uploadVerifySeconds = new client.Histogram({
  name: 'coffer_upload_verification_seconds',
  help: 'completeUpload: from taking the verification lease to ready',
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  ...shared,
});
export const uploadFailures = new client.Counter({
  name: 'coffer_upload_failures_total',
  help: 'uploads that ended failed, by why (size, checksum, idle, aborted, other)',
  labelNames: ['reason'] as const,
  ...shared,
});
export const eventsAppended = new client.Counter({ name: 'coffer_events_appended_total', help: 'events committed to the log', ...shared });
export const eventsDelivered = new client.Counter({
  name: 'coffer_events_delivered_total',
  help: 'events handed to local subscriptions (one per event and subscriber)',
  ...shared,
});
export const deliveryLag = new client.Histogram({
  name: 'coffer_event_delivery_lag_seconds',
  help: 'from an event being written to this instance handing it to its subscribers',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  ...shared,
});
export const cleanupRuns = new client.Counter({
  name: 'coffer_cleanup_runs_total',
  help: 'finished cleanup runs by job and outcome',
  labelNames: ['job', 'outcome'] as const,
  ...shared,
});

const SHARED: client.Metric<string>[] = [
  requestDuration,
  uploadBytes,
  uploadVerifySeconds,
  uploadFailures,
  eventsAppended,
  eventsDelivered,
  deliveryLag,
  cleanupRuns,
];

/** The class of a failure reason, for a label with few values. */
export function failureClass(reason: string | null): string {
  if (!reason) return 'other';
  if (/size/.test(reason)) return 'size';
  if (/sha256|checksum/i.test(reason)) return 'checksum';
  if (/idle/.test(reason)) return 'idle';
  if (/aborted/.test(reason)) return 'aborted';
  return 'other';
}

/** One app's registry: the shared series plus gauges read from this app's deps when scraped. */
export function registryFor(deps: Deps): client.Registry {
  const registry = new client.Registry();
  for (const m of SHARED) registry.registerMetric(m as client.Metric);
  const registers = [registry];
  new client.Gauge({
    name: 'coffer_artifacts',
    help: 'artifacts by status, all tenants',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      this.reset();
      const rows = await withSystem(deps.systemDb, (tx) =>
        tx.execute<{ status: string; n: string }>(sql`select status, count(*) as n from artifacts group by status`),
      );
      for (const r of rows.rows) this.set({ status: r.status }, Number(r.n));
    },
  });
  new client.Gauge({
    name: 'coffer_subscribers',
    help: 'event subscriptions open on this instance',
    registers,
    collect() {
      this.set(deps.events.size);
    },
  });
  new client.Gauge({
    name: 'coffer_db_pool_connections',
    help: "the service pool's connections by state (total, idle, waiting clients)",
    labelNames: ['state'] as const,
    registers,
    collect() {
      const pool = poolOf(deps.db);
      this.set({ state: 'total' }, pool.totalCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
    },
  });
  return registry;
}
