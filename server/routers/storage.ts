import * as s from '../../shared/schemas/lifecycle.ts';
import { healthOutput } from '../../shared/schemas/storage.ts';
import { applyBucketLifecycle, bucketLifecycle } from '../lifecycle/bucket-lifecycle.ts';
import { runCleanup } from '../lifecycle/jobs.ts';
import { lifecycleRules } from '../lifecycle/rules.ts';
import { listRuns } from '../lifecycle/runs.ts';
import { adminUsage, tenantUsage } from '../lifecycle/usage.ts';
import { applyBucketCors, bucketCors } from '../services/bucket-cors.ts';
import { checkHealth } from '../services/health.ts';
import { adminProcedure, authedProcedure, readProcedure, router } from '../trpc.ts';

export const storageRouter = router({
  health: authedProcedure.output(healthOutput).query(({ ctx }) => checkHealth(ctx.deps)),
  lifecycle: readProcedure.output(s.lifecycleOutput).query(({ ctx }) => lifecycleRules(ctx.deps, ctx.tenant)),
  usage: readProcedure.output(s.usageOutput).query(({ ctx }) => tenantUsage(ctx.deps, ctx.tenant)),
  adminUsage: adminProcedure
    .input(s.adminUsageInput)
    .output(s.adminUsageOutput)
    .query(({ ctx, input }) => adminUsage(ctx.deps, input)),
  runCleanup: adminProcedure
    .input(s.runCleanupInput)
    .output(s.runCleanupOutput)
    .mutation(({ ctx, input }) => runCleanup(ctx.deps, { ...input, triggeredBy: 'admin' })),
  cleanupRuns: adminProcedure
    .input(s.cleanupRunsInput)
    .output(s.cleanupRunsOutput)
    .query(async ({ ctx, input }) => ({ items: await listRuns(ctx.deps.db, input.limit) })),
  bucketLifecycle: adminProcedure.output(s.bucketLifecycleOutput).query(({ ctx }) => bucketLifecycle(ctx.deps.config)),
  /** The CORS rule browsers need to upload to and download from the bucket with signed URLs. */
  bucketCors: adminProcedure
    .input(s.bucketCorsInput)
    .output(s.bucketCorsOutput)
    .query(({ ctx, input }) => bucketCors(ctx.deps.config, input.origins)),
  applyBucketCors: adminProcedure
    .input(s.bucketCorsInput)
    .output(s.applyBucketCorsOutput)
    .mutation(({ ctx, input }) => applyBucketCors(ctx.deps.config, ctx.deps.storage, input.origins)),
  applyBucketLifecycle: adminProcedure
    .output(s.applyBucketLifecycleOutput)
    .mutation(({ ctx }) => applyBucketLifecycle(ctx.deps.config, ctx.deps.storage)),
});
