import { randomUUID } from 'node:crypto';
import { and, desc, eq, gt } from 'drizzle-orm';
import type { CleanupJob, CleanupRun } from '../../shared/schemas/lifecycle.ts';
import { type Db, withTenant } from '../db/index.ts';
import { cleanupRuns } from '../db/schema/index.ts';
import type { Deps } from '../deps.ts';
import { appendEvent } from '../events/append.ts';
import { cleanupRuns as cleanupRuns_ } from '../metrics.ts';
import { existingTenants } from './queries.ts';

const MAX_ERROR_MESSAGES = 20;

export interface Tally {
  examined: number;
  deleted: number;
  bytesFreed: number;
}

/** What a run did, in total and per tenant (the per-tenant part becomes `cleanup_completed` events). */
export class RunStats implements Tally {
  examined = 0;
  deleted = 0;
  bytesFreed = 0;
  errors: string[] = [];
  errorCount = 0;
  readonly byTenant = new Map<string, Tally>();

  private of(tenantId: string): Tally {
    let t = this.byTenant.get(tenantId);
    if (!t) {
      t = { examined: 0, deleted: 0, bytesFreed: 0 };
      this.byTenant.set(tenantId, t);
    }
    return t;
  }
  examine(tenantId: string, n = 1): void {
    this.examined += n;
    this.of(tenantId).examined += n;
  }
  removed(tenantId: string, bytes: number): void {
    this.deleted += 1;
    this.bytesFreed += bytes;
    const t = this.of(tenantId);
    t.deleted += 1;
    t.bytesFreed += bytes;
  }
  /** Removals that belong to no tenant's data (event-log rows): counted, never announced. */
  pruned(n: number): void {
    this.examined += n;
    this.deleted += n;
  }
  error(err: unknown): void {
    this.errorCount += 1;
    if (this.errors.length < MAX_ERROR_MESSAGES) this.errors.push(err instanceof Error ? err.message : String(err));
  }
  /** Tenants the run changed (or, dry, would change). */
  affected(): string[] {
    return [...this.byTenant].filter(([, t]) => t.deleted > 0).map(([id]) => id);
  }
}

/**
 * Records a new run of `p.job`. Called with the job's lock held (withJobLock), so any run of the
 * job still marked `running` belongs to a process that died mid-run, on this instance or
 * another: those are closed as failed first, or they would stay `running` forever.
 */
export async function startRun(db: Db, p: { job: CleanupJob; triggeredBy: string; dryRun: boolean; now: Date }): Promise<string> {
  await db
    .update(cleanupRuns)
    .set({
      status: 'failed',
      finishedAt: p.now,
      errors: 1,
      errorMessages: ['interrupted: the process running it stopped before it finished'],
    })
    .where(and(eq(cleanupRuns.job, p.job), eq(cleanupRuns.status, 'running')));
  const id = randomUUID();
  await db
    .insert(cleanupRuns)
    .values({ id, job: p.job, triggeredBy: p.triggeredBy, dryRun: p.dryRun, status: 'running', startedAt: p.now });
  return id;
}

export async function finishRun(db: Db, p: { id: string; stats: RunStats; failed: boolean; now: Date }): Promise<CleanupRun> {
  const { stats } = p;
  const [row] = await db
    .update(cleanupRuns)
    .set({
      status: p.failed ? 'failed' : 'completed',
      finishedAt: p.now,
      examined: stats.examined,
      deleted: stats.deleted,
      bytesFreed: stats.bytesFreed,
      errors: stats.errorCount,
      errorMessages: stats.errors,
      tenants: stats.affected().length,
    })
    .where(eq(cleanupRuns.id, p.id))
    .returning();
  cleanupRuns_.inc({ job: row!.job, outcome: row!.status });
  return row!;
}

export function listRuns(db: Db, limit: number): Promise<CleanupRun[]> {
  return db.select().from(cleanupRuns).orderBy(desc(cleanupRuns.startedAt), desc(cleanupRuns.id)).limit(limit);
}

/** Whether a scheduled run of `job` completed since `since`: another instance's timer fired first. */
export async function ranSince(db: Db, job: CleanupJob, since: Date): Promise<boolean> {
  const [row] = await db
    .select({ id: cleanupRuns.id })
    .from(cleanupRuns)
    .where(
      and(
        eq(cleanupRuns.job, job),
        eq(cleanupRuns.triggeredBy, 'schedule'),
        eq(cleanupRuns.status, 'completed'),
        gt(cleanupRuns.startedAt, since),
      ),
    )
    .limit(1);
  return row !== undefined;
}

/**
 * One `cleanup_completed` event per tenant the run changed (dry runs included, flagged), each in
 * that tenant's own transaction, so a tenant's subscribers hear what happened to their data and
 * nobody hears about other tenants. Keys of tenants that no longer exist get no event.
 */
export async function announce(deps: Deps, job: CleanupJob, dryRun: boolean, stats: RunStats): Promise<void> {
  const live = await existingTenants(deps.systemDb, stats.affected());
  for (const tenantId of live) {
    const t = stats.byTenant.get(tenantId)!;
    await withTenant(deps.db, tenantId, (tx) => appendEvent(tx, tenantId, { type: 'cleanup_completed', data: { job, dryRun, ...t } }));
  }
}
