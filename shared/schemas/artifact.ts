import { z } from 'zod';
import { ARTIFACT_STATUSES } from '../constants.ts';
import {
  contentTypeSchema,
  cursorSchema,
  entityRefSchema,
  expiresInSchema,
  idSchema,
  kindSchema,
  limitSchema,
  metadataSchema,
  wireJson,
} from './common.ts';

/** An artifact as callers see it. The storage key stays server-side. */
export const artifactSchema = z.object({
  id: z.uuid(),
  kind: z.string(),
  entityType: z.string().nullable(),
  entityId: z.string().nullable(),
  projectId: z.string().nullable(),
  versionId: z.uuid().nullable(),
  contentType: z.string(),
  filename: z.string().nullable(),
  sizeBytes: z.number().int(),
  /**
   * Verified once `ready`. While `pending` it is what createUpload declared, or '' when the
   * checksum is to be declared at completeUpload: never a hash to check bytes against.
   */
  sha256: z.string(),
  status: z.enum(ARTIFACT_STATUSES),
  failureReason: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export type Artifact = z.infer<typeof artifactSchema>;

export const putArtifactInput = z.object({
  kind: kindSchema,
  payload: wireJson('payload'),
  contentType: contentTypeSchema.optional(),
  ...entityRefSchema,
  metadata: metadataSchema.optional(),
});
export type PutArtifactInput = z.infer<typeof putArtifactInput>;

export const artifactIdInput = z.object({ id: idSchema });

export const getArtifactOutput = z.object({ artifact: artifactSchema, payload: z.json() });

export const listArtifactsInput = z.object({
  kind: kindSchema.optional(),
  ...entityRefSchema,
  status: z.enum(ARTIFACT_STATUSES).optional(),
  limit: limitSchema,
  cursor: cursorSchema.optional(),
});
export type ListArtifactsInput = z.infer<typeof listArtifactsInput>;

export const listArtifactsOutput = z.object({ items: z.array(artifactSchema), nextCursor: z.string().nullable() });

export const deleteArtifactOutput = z.object({ id: z.uuid(), deleted: z.literal(true) });

/** The app deleted the conversation, record or project these artifacts belong to. */
export const deleteByEntityInput = z.object({
  entityType: entityRefSchema.entityType.unwrap(),
  entityId: entityRefSchema.entityId.unwrap(),
});
export const deleteByEntityOutput = z.object({
  /** Artifacts this call deleted (a repeated call deletes what is left: 0 once all are gone). */
  deleted: z.number().int(),
  /** Uploads being verified right now, left alone: call again in a few seconds. */
  inProgress: z.array(z.uuid()),
});

export const getDownloadUrlInput = z.object({ id: idSchema, expiresIn: expiresInSchema.optional() });

export const downloadUrlOutput = z.object({
  url: z.string(),
  expiresAt: z.date(),
  filename: z.string(),
  sizeBytes: z.number().int(),
});
