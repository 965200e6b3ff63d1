import {
  artifactIdInput,
  artifactSchema,
  deleteArtifactOutput,
  downloadUrlOutput,
  getArtifactOutput,
  getDownloadUrlInput,
  listArtifactsInput,
  listArtifactsOutput,
  putArtifactInput,
} from '../../shared/schemas/artifact.ts';
import { completeUploadInput, createUploadInput, createUploadOutput } from '../../shared/schemas/upload.ts';
import * as artifacts from '../services/artifacts.ts';
import * as uploads from '../services/uploads.ts';
import { readProcedure, router, writeProcedure } from '../trpc.ts';

export const artifactRouter = router({
  put: writeProcedure
    .input(putArtifactInput)
    .output(artifactSchema)
    .mutation(({ ctx, input }) => artifacts.putArtifact(ctx.deps, ctx.tenant, input)),
  get: readProcedure
    .input(artifactIdInput)
    .output(getArtifactOutput)
    .query(({ ctx, input }) => artifacts.getArtifact(ctx.deps, ctx.tenant, input.id)),
  list: readProcedure
    .input(listArtifactsInput)
    .output(listArtifactsOutput)
    .query(({ ctx, input }) => artifacts.listArtifactsPage(ctx.deps, ctx.tenant, input)),
  delete: writeProcedure
    .input(artifactIdInput)
    .output(deleteArtifactOutput)
    .mutation(({ ctx, input }) => artifacts.deleteArtifact(ctx.deps, ctx.tenant, input.id)),
  getDownloadUrl: readProcedure
    .input(getDownloadUrlInput)
    .output(downloadUrlOutput)
    .query(({ ctx, input }) => artifacts.getDownloadUrl(ctx.deps, ctx.tenant, input)),
  createUpload: writeProcedure
    .input(createUploadInput)
    .output(createUploadOutput)
    .mutation(async ({ ctx, input }) => {
      const { extra: _none, ...created } = await uploads.createUpload(ctx.deps, ctx.tenant, input);
      return created;
    }),
  completeUpload: writeProcedure
    .input(completeUploadInput)
    .output(artifactSchema)
    .mutation(({ ctx, input }) => uploads.completeUpload(ctx.deps, ctx.tenant, input)),
  abortUpload: writeProcedure
    .input(artifactIdInput)
    .output(artifactSchema)
    .mutation(({ ctx, input }) => uploads.abortUpload(ctx.deps, ctx.tenant, input.id)),
});
