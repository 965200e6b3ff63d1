import {
  artifactIdInput,
  artifactSchema,
  deleteArtifactOutput,
  deleteByEntityInput,
  deleteByEntityOutput,
  downloadUrlOutput,
  getArtifactOutput,
  getDownloadUrlInput,
  listArtifactsInput,
  listArtifactsOutput,
  putArtifactInput,
} from '../../shared/schemas/artifact.ts';
import { eventCursorOutput, onEventInput } from '../../shared/schemas/event-stream.ts';
import {
  completeUploadInput,
  createUploadInput,
  createUploadOutput,
  signPartsInput,
  signPartsOutput,
  uploadStateSchema,
} from '../../shared/schemas/upload.ts';
import * as events from '../events/subscription.ts';
import * as artifacts from '../services/artifacts.ts';
import * as uploads from '../services/uploads.ts';
import { readProcedure, router, writeProcedure } from '../trpc.ts';
import { wsChannel } from '../ws-fanout.ts';

export const artifactRouter = router({
  put: writeProcedure
    .input(putArtifactInput)
    .output(artifactSchema)
    .mutation(({ ctx, input }) => artifacts.putArtifact(ctx.deps, ctx.tenant, input)),
  get: readProcedure
    .input(artifactIdInput)
    .output(getArtifactOutput)
    .query(({ ctx, input }) => artifacts.getArtifact(ctx.deps, ctx.tenant, input.id, ctx.edge?.readBudget)),
  /** Metadata only, any status or size: what a client checks downloaded bytes against. */
  getInfo: readProcedure
    .input(artifactIdInput)
    .output(artifactSchema)
    .query(async ({ ctx, input }) => artifacts.toArtifact(await artifacts.getRow(ctx.tenant, input.id))),
  list: readProcedure
    .input(listArtifactsInput)
    .output(listArtifactsOutput)
    .query(({ ctx, input }) => artifacts.listArtifactsPage(ctx.deps, ctx.tenant, input)),
  delete: writeProcedure
    .input(artifactIdInput)
    .output(deleteArtifactOutput)
    .mutation(({ ctx, input }) => artifacts.deleteArtifact(ctx.deps, ctx.tenant, input.id)),
  /** Everything of one entity (a conversation, a record) the app deleted: objects, rows, events. */
  deleteByEntity: writeProcedure
    .input(deleteByEntityInput)
    .output(deleteByEntityOutput)
    .mutation(({ ctx, input }) => artifacts.deleteByEntity(ctx.deps, ctx.tenant, input)),
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
  /** Signed URLs for the parts about to be sent, each bound to its length and MD5. */
  signParts: writeProcedure
    .input(signPartsInput)
    .output(signPartsOutput)
    .mutation(({ ctx, input }) => uploads.signParts(ctx.deps, ctx.tenant, input)),
  /** The parts that have landed: resume by sending the others. */
  getUpload: readProcedure
    .input(artifactIdInput)
    .output(uploadStateSchema)
    .query(({ ctx, input }) => uploads.getUploadState(ctx.deps, ctx.tenant, input.id)),
  completeUpload: writeProcedure
    .input(completeUploadInput)
    .output(artifactSchema)
    .mutation(({ ctx, input }) => uploads.completeUpload(ctx.deps, ctx.tenant, input)),
  abortUpload: writeProcedure
    .input(artifactIdInput)
    .output(artifactSchema)
    .mutation(({ ctx, input }) => uploads.abortUpload(ctx.deps, ctx.tenant, input.id)),
  /** The tenant's newest event id: read it before checking state, then subscribe from it. */
  eventCursor: readProcedure.output(eventCursorOutput).query(({ ctx }) => events.eventCursor(ctx.tenant)),
  /**
   * Live events, resumable. No `.output()`: tRPC would validate the iterable, not each event;
   * every event is parsed with the shared zod schema in the service instead (events/filter.ts).
   */
  onEvent: readProcedure.input(onEventInput).subscription(({ ctx, input, signal }) =>
    events.openEventStream({ hub: ctx.deps.events }, ctx.tenant, input, {
      signal,
      socket: ctx.socket,
      direct: ctx.socket && wsChannel(ctx.socket),
    }),
  ),
});
