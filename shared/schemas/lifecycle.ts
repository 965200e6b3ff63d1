import { z } from 'zod';
import { idSchema } from './common.ts';
import { quotaStatusSchema } from './quota.ts';

/** The cleanup jobs, in the order the daily schedule runs them. */
export const CLEANUP_JOBS = ['stale-uploads', 'retention', 'orphan-diff-packs', 'orphan-objects', 'event-log'] as const;
export type CleanupJob = (typeof CLEANUP_JOBS)[number];

const days = z.number().int().min(0);
const snapshotRules = z.object({ regularDays: days, firstOfMonthDays: days, firstOfYearDays: days.nullable() });
const ttlByKind = z.record(z.string(), days.nullable());

/** The rules that apply to the caller's plan. */
export const lifecycleOutput = z.object({
  plan: z.string(),
  snapshots: snapshotRules.extend({ keepsAlways: z.array(z.string()) }),
  /** Days per kind; `*` is any kind not named; null keeps forever. Snapshots and diff packs follow their versions instead. */
  artifactTtlDays: ttlByKind,
  versionedKinds: z.array(z.string()),
  /** Pending uploads not completed within this many seconds are marked failed. */
  pendingUploadExpirySeconds: z.number().int(),
  /** Objects without an artifact row are removed only after this many hours. */
  orphanGraceHours: z.number(),
});

export const runCleanupInput = z.object({ job: z.enum(CLEANUP_JOBS), dryRun: z.boolean().default(false) });

export const cleanupRunSchema = z.object({
  id: z.uuid(),
  job: z.string(),
  triggeredBy: z.string(),
  dryRun: z.boolean(),
  status: z.enum(['running', 'completed', 'failed']),
  startedAt: z.date(),
  finishedAt: z.date().nullable(),
  examined: z.number().int(),
  /** In a dry run: what would have been deleted. */
  deleted: z.number().int(),
  bytesFreed: z.number().int(),
  errors: z.number().int(),
  errorMessages: z.array(z.string()),
  tenants: z.number().int(),
});
export type CleanupRun = z.infer<typeof cleanupRunSchema>;

/** Only one instance runs a job at a time: the others are told so instead of queueing. */
export const runCleanupOutput = z.discriminatedUnion('status', [
  z.object({ status: z.literal('already_running'), job: z.string() }),
  z.object({ status: z.literal('ran'), run: cleanupRunSchema }),
]);

export const cleanupRunsInput = z.object({ limit: z.number().int().min(1).max(200).default(20) }).default({ limit: 20 });
export const cleanupRunsOutput = z.object({ items: z.array(cleanupRunSchema) });

const bucket = z.object({ bytes: z.number().int(), objects: z.number().int() });
const estimate = z.object({
  storageUsd: z.number(),
  classAUsd: z.number(),
  classBUsd: z.number(),
  egressUsd: z.number(),
  totalUsd: z.number(),
});

export const usageOutput = z.object({
  asOf: z.date(),
  total: bucket,
  byKind: z.array(bucket.extend({ kind: z.string() })),
  byProject: z.array(bucket.extend({ projectId: z.string() })),
  /** Operations of the last 30 days, estimated from the artifact rows created in that window. */
  operations: z.object({ classA: z.number().int(), classB: z.number().int(), method: z.string() }),
  prices: z.object({ storageGbMonth: z.number(), classAPerMillion: z.number(), classBPerMillion: z.number(), egressGb: z.number() }),
  estimate,
  alert: z.object({ thresholdUsd: z.number(), exceeded: z.boolean() }),
  /** The storage quota, what counts against it (pending uploads too: they reserve their size) and what is left. */
  quota: quotaStatusSchema,
});
export type Usage = z.infer<typeof usageOutput>;

export const adminUsageInput = z.object({ tenantId: idSchema.optional() }).default({});
export const adminUsageOutput = z.object({
  tenants: z.array(
    bucket.extend({
      tenantId: z.uuid(),
      name: z.string(),
      plan: z.string(),
      /** The tenant's quota (its plan's, or the admin's override); null: no limit. */
      quotaBytes: z.number().int().nullable(),
      quotaObjects: z.number().int().nullable(),
      estimateUsd: z.number(),
      alert: z.boolean(),
    }),
  ),
  total: bucket.extend({ estimateUsd: z.number() }),
});

const lifecycleRule = z.object({
  ID: z.string(),
  Status: z.literal('Enabled'),
  Filter: z.object({ Prefix: z.string() }),
  AbortIncompleteMultipartUpload: z.object({ DaysAfterInitiation: z.number().int() }),
});
export const bucketLifecycleOutput = z.object({
  backend: z.enum(['s3', 'fs']),
  configuration: z.object({ Rules: z.array(lifecycleRule) }),
  notes: z.array(z.string()),
});
export const applyBucketLifecycleOutput = z.object({ applied: z.literal(true), rules: z.array(z.string()) });

/** Origins a browser may upload from: absent, the deployment's own (COFFER_PUBLIC_URL). */
export const bucketCorsInput = z
  .object({
    origins: z
      .array(z.url().regex(/^https?:\/\/[^/]+$/, 'must be an origin: scheme://host[:port], no path'))
      .min(1)
      .max(50)
      .optional(),
  })
  .default({});
const corsRule = z.object({
  ID: z.string(),
  AllowedOrigins: z.array(z.string()),
  AllowedMethods: z.array(z.string()),
  AllowedHeaders: z.array(z.string()),
  ExposeHeaders: z.array(z.string()),
  MaxAgeSeconds: z.number().int(),
});
export const bucketCorsOutput = z.object({
  backend: z.enum(['s3', 'fs']),
  configuration: z.object({ CORSRules: z.array(corsRule) }),
  notes: z.array(z.string()),
});
export const applyBucketCorsOutput = z.object({ applied: z.literal(true), rules: z.array(z.string()) });
