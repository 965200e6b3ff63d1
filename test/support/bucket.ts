import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import type { StorageConfig } from '../../server/config/index.ts';
import { createS3Client } from '../../server/storage/s3.ts';

/**
 * Buckets a test file can have to itself (startTestServer's `bucket`), where its sweeps cannot
 * reach other files' objects. s3rver creates them at start (its CreateBucket fails SigV4);
 * another S3 server gets them from ensureBucket.
 */
export const SEPARATE_BUCKETS = { lifecycle: 'coffer-test-lifecycle' } as const;
export type SeparateBucket = (typeof SEPARATE_BUCKETS)[keyof typeof SEPARATE_BUCKETS];

/** Creates the config's bucket unless it exists (tests, and benches whose S3_ENDPOINT may point at an empty server). */
export async function ensureBucket(config: Extract<StorageConfig, { kind: 's3' }>): Promise<void> {
  const client = createS3Client(config);
  try {
    await client.send(new HeadBucketCommand({ Bucket: config.bucket }));
  } catch {
    await client.send(new CreateBucketCommand({ Bucket: config.bucket }));
  } finally {
    client.destroy();
  }
}
