import { z } from 'zod';
import { retentionPolicyOverride } from '../../shared/schemas/lifecycle.ts';
import { DEFAULT_POLICY, mergePolicy, type RetentionPolicy } from './policy.ts';

const money = z.coerce.number().min(0);

const policyJson = z.string().transform((s, ctx) => {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be JSON, e.g. {"artifactTtlDays":{"free":{"*":30}}}' });
    return z.NEVER;
  }
});

/** A daily cron expression `M H * * *` (UTC), or `off`. Only daily schedules: that is all the jobs need. */
const schedule = z
  .string()
  .regex(/^(off|([0-5]?\d) ([01]?\d|2[0-3]) \* \* \*)$/, "must be a daily cron expression 'M H * * *' (UTC) or 'off'")
  .transform((s) => (s === 'off' ? null : { minute: Number(s.split(' ')[0]), hour: Number(s.split(' ')[1]) }));

/** The lifecycle's environment variables, spread into server/config.ts's envSchema. */
export const lifecycleEnv = {
  /** JSON merged over DEFAULT_POLICY, field by field. */
  COFFER_RETENTION_POLICY: policyJson.pipe(retentionPolicyOverride).optional(),
  COFFER_CLEANUP_SCHEDULE: schedule.default({ minute: 0, hour: 3 }),
  COFFER_ORPHAN_GRACE_HOURS: z.coerce.number().min(0).default(24),
  // Cloudflare R2's list prices (2025): storage per GB-month, class A (writes) and B (reads) per million, egress free.
  COFFER_PRICE_STORAGE_GB_MONTH: money.default(0.015),
  COFFER_PRICE_CLASS_A_PER_MILLION: money.default(4.5),
  COFFER_PRICE_CLASS_B_PER_MILLION: money.default(0.36),
  COFFER_PRICE_EGRESS_GB: money.default(0),
  COFFER_COST_ALERT_USD: money.default(100),
};

const lifecycleEnvSchema = z.object(lifecycleEnv);
type LifecycleEnv = z.output<typeof lifecycleEnvSchema>;

export interface LifecycleConfig {
  policy: RetentionPolicy;
  /** When the daily cleanup runs (UTC); null: never on its own, only on demand. */
  schedule: { hour: number; minute: number } | null;
  orphanGraceHours: number;
  prices: { storageGbMonth: number; classAPerMillion: number; classBPerMillion: number; egressGb: number };
  costAlertUsd: number;
}

export function lifecycleConfig(env: LifecycleEnv): LifecycleConfig {
  return {
    policy: mergePolicy(DEFAULT_POLICY, env.COFFER_RETENTION_POLICY),
    schedule: env.COFFER_CLEANUP_SCHEDULE,
    orphanGraceHours: env.COFFER_ORPHAN_GRACE_HOURS,
    prices: {
      storageGbMonth: env.COFFER_PRICE_STORAGE_GB_MONTH,
      classAPerMillion: env.COFFER_PRICE_CLASS_A_PER_MILLION,
      classBPerMillion: env.COFFER_PRICE_CLASS_B_PER_MILLION,
      egressGb: env.COFFER_PRICE_EGRESS_GB,
    },
    costAlertUsd: env.COFFER_COST_ALERT_USD,
  };
}
