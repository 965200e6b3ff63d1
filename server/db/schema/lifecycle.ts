import { bigint, boolean, date, index, integer, jsonb, pgTable, primaryKey, real, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * One row per run of a cleanup job (server/lifecycle/). Written when the run starts and
 * finished when it ends, so a row left `running` with no `finished_at` is a run that crashed.
 * Not tenant-scoped: a run spans tenants; what it did to each tenant is in that tenant's
 * `cleanup_completed` event.
 */
export const cleanupRuns = pgTable(
  'cleanup_runs',
  {
    id: uuid().primaryKey(),
    job: text().notNull(),
    /** `schedule`, `admin` (runCleanup) or whoever else starts jobs. */
    triggeredBy: text().notNull(),
    dryRun: boolean().notNull(),
    status: text({ enum: ['running', 'completed', 'failed'] }).notNull(),
    startedAt: timestamp({ withTimezone: true }).notNull(),
    finishedAt: timestamp({ withTimezone: true }),
    examined: integer().notNull().default(0),
    deleted: integer().notNull().default(0),
    bytesFreed: bigint({ mode: 'number' }).notNull().default(0),
    errors: integer().notNull().default(0),
    /** The first few error messages, for the operator reading `coffer-admin runs`. */
    errorMessages: jsonb().$type<string[]>().notNull().default([]),
    /** How many tenants the run changed (or, dry, would change). */
    tenants: integer().notNull().default(0),
  },
  (t) => [index('cleanup_runs_started_idx').on(t.startedAt), index('cleanup_runs_job_started_idx').on(t.job, t.startedAt)],
);

/**
 * Days on which a tenant's estimated monthly cost passed the alert threshold. The primary key
 * makes "log once per day per tenant" an insert that only the first caller of the day wins.
 */
export const usageAlerts = pgTable(
  'usage_alerts',
  {
    tenantId: uuid().notNull(),
    day: date({ mode: 'string' }).notNull(),
    estimateUsd: real().notNull(),
    thresholdUsd: real().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.day] })],
);
