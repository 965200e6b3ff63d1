import { GetBucketLifecycleConfigurationCommand, type LifecycleRule, PutBucketLifecycleConfigurationCommand } from '@aws-sdk/client-s3';
import type { Config } from '../config.ts';
import { CofferError } from '../errors.ts';
import { createS3Client } from '../storage/s3.ts';
import { toStorageError } from '../storage/s3-errors.ts';

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
          Filter: { Prefix: 'tenants/' },
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
export async function applyBucketLifecycle(config: Config): Promise<{ applied: true; rules: string[] }> {
  if (config.storage.kind !== 's3')
    throw new CofferError(
      'PRECONDITION',
      'bucket lifecycle rules exist only on S3-compatible storage; this deployment stores bytes on disk',
    );
  const client = createS3Client(config.storage);
  const Bucket = config.storage.bucket;
  try {
    const existing = await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket })).then(
      (r) => r.Rules ?? [],
      (err: unknown) => (isNoLifecycle(err) ? [] : Promise.reject(err)),
    );
    const ours = bucketLifecycle(config).configuration.Rules as LifecycleRule[];
    const Rules = [...existing.filter((r) => r.ID !== RULE_ID), ...ours];
    await client.send(new PutBucketLifecycleConfigurationCommand({ Bucket, LifecycleConfiguration: { Rules } }));
    return { applied: true, rules: Rules.map((r) => r.ID ?? '(unnamed)') };
  } catch (err) {
    if (isNotImplemented(err))
      throw new CofferError(
        'PRECONDITION',
        'this S3 backend does not support bucket lifecycle configuration; abort stale multipart uploads with the stale-uploads job',
        { cause: err },
      );
    throw err instanceof CofferError ? err : toStorageError(err, 'object');
  } finally {
    client.destroy();
  }
}

/** s3rver and some gateways answer 501 NotImplemented for bucket lifecycle calls. */
function isNotImplemented(err: unknown): boolean {
  return (err as { name?: string }).name === 'NotImplemented';
}

function isNoLifecycle(err: unknown): boolean {
  return (err as { name?: string }).name === 'NoSuchLifecycleConfiguration';
}
