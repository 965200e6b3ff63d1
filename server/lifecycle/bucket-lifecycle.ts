import type { LifecycleRule } from '@aws-sdk/client-s3';
import { TENANTS_PREFIX } from '../../shared/keys.ts';
import type { Config } from '../config/index.ts';
import { CofferError } from '../errors.ts';
import { S3Storage } from '../storage/s3.ts';
import type { Storage } from '../storage/types.ts';

const RULE_ID = 'coffer-abort-incomplete-uploads';
const DAY_SECONDS = 24 * 60 * 60;

/**
 * What of the retention can be said in the bucket's own lifecycle configuration: only
 * "abort multipart uploads left incomplete for N days under tenants/". Everything else depends on
 * rows in Postgres (latest, pinned, first of month, plan TTLs), which the bucket cannot see.
 */
export function bucketLifecycle(config: Config) {
  const days = Math.max(1, Math.ceil(config.limits.uploadUrlExpiry / DAY_SECONDS));
  return {
    backend: config.storage.kind,
    configuration: {
      Rules: [
        {
          ID: RULE_ID,
          Status: 'Enabled' as const,
          Filter: { Prefix: TENANTS_PREFIX },
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: days },
        },
      ],
    },
    notes: [
      `Multipart uploads under tenants/ still incomplete ${days} day(s) after they started are aborted by the bucket itself; their upload URLs expired after ${config.limits.uploadUrlExpiry} s.`,
      "Per-version rules (keep the latest, pinned, first of month and year) and per-plan TTLs depend on Coffer's database and cannot be expressed natively: the retention job applies them. No Expiration rule is exported, since one would delete objects whose rows still exist.",
      config.storage.kind === 's3'
        ? 'Apply it with `npm run coffer-admin -- apply-bucket-lifecycle` (other rules on the bucket are kept).'
        : 'The disk backend has no bucket lifecycle; the stale-uploads job removes incomplete uploads.',
    ],
  };
}

/**
 * Puts the rule on the bucket (S3 backends only). PutBucketLifecycleConfiguration replaces the
 * whole configuration, so the bucket's other rules are read first and kept.
 */
export async function applyBucketLifecycle(config: Config, storage: Storage): Promise<{ applied: true; rules: string[] }> {
  if (!(storage instanceof S3Storage)) {
    throw new CofferError(
      'PRECONDITION',
      'bucket lifecycle rules exist only on S3-compatible storage; this deployment stores bytes on disk',
    );
  }
  const existing = await storage.lifecycleRules();
  const ours = bucketLifecycle(config).configuration.Rules as LifecycleRule[];
  const Rules = [...existing.filter((r) => r.ID !== RULE_ID), ...ours];
  await storage.putLifecycleRules(Rules);
  return { applied: true, rules: Rules.map((r) => r.ID ?? '(unnamed)') };
}
