import type { Deps } from '../deps.ts';
import type { RunStats } from './runs.ts';

/** What every job step gets: the clock is read once per run, so one run applies one "now". */
export interface JobContext {
  deps: Deps;
  dryRun: boolean;
  /** Rows or keys per batch; S3 DeleteObjects takes at most 1,000. */
  batchSize: number;
  now: Date;
  stats: RunStats;
}

/** Groups rows by tenant: tenant rows are written in that tenant's own transaction. */
export function byTenant<T extends { tenantId: string }>(rows: T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const r of rows) {
    const g = groups.get(r.tenantId);
    if (g) g.push(r);
    else groups.set(r.tenantId, [r]);
  }
  return groups;
}
