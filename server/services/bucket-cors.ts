import type { CORSRule } from '@aws-sdk/client-s3';
import type { Config } from '../config/index.ts';
import { CofferError } from '../errors.ts';
import { S3Storage } from '../storage/s3.ts';
import type { Storage } from '../storage/types.ts';

const RULE_ID = 'coffer-browser-uploads';

/** The deployment's own origin (the console's), when one is configured. */
const ownOrigin = (config: Config) => (config.publicUrl ? new URL(config.publicUrl).origin : undefined);

/**
 * The CORS rule browsers need to use signed URLs: PUT parts with their Content-MD5 and
 * If-None-Match, GET and HEAD with Range for downloads, and ETag, Content-Range and
 * Content-Length readable. Without it a browser's upload fails before a byte reaches the bucket.
 */
export function bucketCors(config: Config, origins?: string[]) {
  const allowed = origins ?? [ownOrigin(config)].filter((o): o is string => Boolean(o));
  return {
    backend: config.storage.kind,
    configuration: {
      CORSRules: [
        {
          ID: RULE_ID,
          AllowedOrigins: allowed,
          AllowedMethods: ['PUT', 'GET', 'HEAD'],
          AllowedHeaders: ['content-md5', 'if-none-match', 'content-type', 'range'],
          ExposeHeaders: ['ETag', 'Content-Range', 'Content-Length'],
          MaxAgeSeconds: 3600,
        },
      ],
    },
    notes: [
      allowed.length
        ? `Browsers at ${allowed.join(', ')} may upload parts to and download from the bucket.`
        : 'No origin given and COFFER_PUBLIC_URL is unset: pass the origins your frontends are served from.',
      config.storage.kind === 's3'
        ? 'Apply it with `npm run coffer-admin -- apply-bucket-cors --origin <origin>` (other rules on the bucket are kept).'
        : 'The disk backend serves signed URLs from Coffer itself: browsers on its own origin need no CORS rule.',
    ],
  };
}

/** Puts the rule on the bucket, keeping its other rules (PutBucketCors replaces the whole configuration). */
export async function applyBucketCors(config: Config, storage: Storage, origins?: string[]): Promise<{ applied: true; rules: string[] }> {
  if (!(storage instanceof S3Storage)) {
    throw new CofferError('PRECONDITION', 'bucket CORS rules exist only on S3-compatible storage; this deployment stores bytes on disk');
  }
  const ours = bucketCors(config, origins).configuration.CORSRules;
  if (ours[0]!.AllowedOrigins.length === 0) {
    throw new CofferError('BAD_INPUT', 'no origin to allow: pass origins, or set COFFER_PUBLIC_URL');
  }
  const existing = await storage.corsRules();
  const CORSRules: CORSRule[] = [...existing.filter((r) => r.ID !== RULE_ID), ...ours];
  await storage.putCorsRules(CORSRules);
  return { applied: true, rules: CORSRules.map((r) => r.ID ?? '(unnamed)') };
}
