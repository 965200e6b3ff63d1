import { listProjectsInput, listProjectsOutput } from '../../shared/schemas/project.ts';
import {
  createVersionInput,
  createVersionOutput,
  downloadVersionInput,
  exportLatestInput,
  getDiffPackInput,
  getDiffPackOutput,
  listVersionsInput,
  listVersionsOutput,
  pinVersionInput,
  putDiffPackInput,
  putDiffPackOutput,
  requestRebuildOutput,
  rollbackOutput,
  uploadSnapshotInput,
  uploadSnapshotOutput,
  versionDownloadOutput,
  versionIdInput,
  versionSchema,
} from '../../shared/schemas/version.ts';
import * as diffPacks from '../services/diff-packs.ts';
import * as projects from '../services/projects.ts';
import * as rebuilds from '../services/rebuilds.ts';
import * as downloads from '../services/version-downloads.ts';
import * as versions from '../services/versions.ts';
import { readProcedure, router, writeProcedure } from '../trpc.ts';

export const versionRouter = router({
  create: writeProcedure
    .input(createVersionInput)
    .output(createVersionOutput)
    .mutation(({ ctx, input }) => versions.createVersion(ctx.deps, ctx.tenant, input)),
  list: readProcedure
    .input(listVersionsInput)
    .output(listVersionsOutput)
    .query(({ ctx, input }) => versions.listVersionsPage(ctx.tenant, input)),
  /** The tenant's projects by id; there is no project namespace, projects exist through their versions. */
  listProjects: readProcedure
    .input(listProjectsInput)
    .output(listProjectsOutput)
    .query(({ ctx, input }) => projects.listProjectsPage(ctx.tenant, input)),
  get: readProcedure
    .input(versionIdInput)
    .output(versionSchema)
    .query(({ ctx, input }) => versions.getVersion(ctx.tenant, input.versionId)),
  download: readProcedure
    .input(downloadVersionInput)
    .output(versionDownloadOutput)
    .query(({ ctx, input }) => downloads.downloadVersion(ctx.deps, ctx.tenant, input)),
  exportLatest: readProcedure
    .input(exportLatestInput)
    .output(versionDownloadOutput)
    .query(({ ctx, input }) => downloads.exportLatest(ctx.deps, ctx.tenant, input)),
  rollback: writeProcedure
    .input(versionIdInput)
    .output(rollbackOutput)
    .mutation(({ ctx, input }) => downloads.rollbackVersion(ctx.deps, ctx.tenant, input)),
  pin: writeProcedure
    .input(pinVersionInput)
    .output(versionSchema)
    .mutation(({ ctx, input }) => versions.pinVersion(ctx.tenant, input)),
  /** Asks the tenant's build workers (listening for `rebuild_requested`) to build a version's snapshot again. */
  requestRebuild: writeProcedure
    .input(versionIdInput)
    .output(requestRebuildOutput)
    .mutation(({ ctx, input }) => rebuilds.requestRebuild(ctx.deps, ctx.tenant, input)),
  /** A new snapshot for a version without one (or with a failed one): a worker's answer to a rebuild request. */
  uploadSnapshot: writeProcedure
    .input(uploadSnapshotInput)
    .output(uploadSnapshotOutput)
    .mutation(({ ctx, input }) => rebuilds.uploadSnapshot(ctx.deps, ctx.tenant, input)),
  putDiffPack: writeProcedure
    .input(putDiffPackInput)
    .output(putDiffPackOutput)
    .mutation(({ ctx, input }) => diffPacks.putDiffPack(ctx.deps, ctx.tenant, input)),
  getDiffPack: readProcedure
    .input(getDiffPackInput)
    .output(getDiffPackOutput)
    .query(({ ctx, input }) => diffPacks.getDiffPack(ctx.deps, ctx.tenant, input)),
});
