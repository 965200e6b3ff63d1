import { z } from 'zod';

/**
 * The retention policy as settings: its shape, the defaults, and COFFER_RETENTION_POLICY's
 * override merged over them. What the rules mean (which snapshot is kept, which artifact
 * expires) is server/lifecycle/policy.ts's.
 */

export interface SnapshotRules {
  /** Ordinary build snapshots. */
  regularDays: number;
  /** The first snapshot of each calendar month (UTC) per project. */
  firstOfMonthDays: number;
  /** The first snapshot of each calendar year per project: null keeps it forever. */
  firstOfYearDays: number | null;
}

export interface RetentionPolicy {
  snapshots: SnapshotRules;
  /** Per-plan changes to `snapshots` (e.g. premium keeps monthly firsts longer); plans not named use `snapshots`. */
  snapshotsByPlan: Record<string, Partial<SnapshotRules>>;
  /** TTL in days of tenant artifacts (transcripts, traces, ...) per plan and kind; null: kept. `*` is any other kind. */
  artifactTtlDays: Record<string, Record<string, number | null>>;
}

export const DEFAULT_POLICY: RetentionPolicy = {
  snapshots: { regularDays: 30, firstOfMonthDays: 365, firstOfYearDays: null },
  snapshotsByPlan: {},
  artifactTtlDays: {
    free: { '*': 90 },
    pro: { '*': 365 },
    premium: { '*': null },
  },
};

/** What a deployment may override (COFFER_RETENTION_POLICY): any subset, merged over the defaults. */
export interface PolicyOverride {
  snapshots?: Partial<SnapshotRules>;
  snapshotsByPlan?: Record<string, Partial<SnapshotRules>>;
  artifactTtlDays?: Record<string, Record<string, number | null>>;
}

/** Merges field by field, so `{"artifactTtlDays":{"free":{"agent_trace":7}}}` keeps free's `*` rule. */
export function mergePolicy(base: RetentionPolicy, o: PolicyOverride = {}): RetentionPolicy {
  const byPlan = { ...base.snapshotsByPlan };
  for (const [plan, rules] of Object.entries(o.snapshotsByPlan ?? {})) byPlan[plan] = { ...byPlan[plan], ...rules };
  const ttl = { ...base.artifactTtlDays };
  for (const [plan, rules] of Object.entries(o.artifactTtlDays ?? {})) ttl[plan] = { ...ttl[plan], ...rules };
  return { snapshots: { ...base.snapshots, ...o.snapshots }, snapshotsByPlan: byPlan, artifactTtlDays: ttl };
}

const days = z.number().int().min(0);
const snapshotRules = z.object({ regularDays: days, firstOfMonthDays: days, firstOfYearDays: days.nullable() });

/** COFFER_RETENTION_POLICY's JSON: any subset of the rules, merged over DEFAULT_POLICY. */
export const retentionPolicyOverride = z
  .object({
    snapshots: snapshotRules.partial(),
    snapshotsByPlan: z.record(z.string(), snapshotRules.partial()),
    artifactTtlDays: z.record(z.string(), z.record(z.string(), days.nullable())),
  })
  .partial()
  .strict();
