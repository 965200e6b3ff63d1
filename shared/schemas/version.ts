import { z } from 'zod';
import { artifactSchema } from './artifact.ts';
import { cursorSchema, expiresInSchema, idSchema, limitSchema } from './common.ts';
import { declaredSha256Schema, snapshotDeclSchema, uploadPlanSchema } from './upload.ts';

export const VERSION_SOURCES = ['build', 'stream', 'manual'] as const;
export type VersionSource = (typeof VERSION_SOURCES)[number];

/** Derived from the snapshot artifact's status, never stored. */
export const VERSION_STATUSES = ['no_snapshot', 'uploading', 'ready', 'failed'] as const;
export type VersionStatus = (typeof VERSION_STATUSES)[number];

/** The caller's own project id. It becomes a storage key segment, hence the strict shape. */
export const projectIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit');

export const versionSchema = z.object({
  id: z.uuid(),
  projectId: z.string(),
  prompt: z.string().nullable(),
  message: z.string().nullable(),
  source: z.enum(VERSION_SOURCES),
  status: z.enum(VERSION_STATUSES),
  pinned: z.boolean(),
  /** The version the last rollback made current. */
  isCurrent: z.boolean(),
  /** The newest ready version of its project: the one `exportLatest` serves. */
  isLatest: z.boolean(),
  /** The snapshot's artifact: sign its parts with `artifact.signParts`, then `artifact.completeUpload` it. */
  snapshotArtifactId: z.uuid().nullable(),
  /** `sha256` is '' while a snapshot whose checksum is declared at completion is still pending. */
  snapshot: z.object({ artifactId: z.uuid(), sizeBytes: z.number().int(), sha256: z.string() }).nullable(),
  /** When a rebuild was asked for (version.requestRebuild) that no snapshot has answered yet. */
  rebuildRequestedAt: z.date().nullable(),
  createdAt: z.date(),
});
export type Version = z.infer<typeof versionSchema>;

export const createVersionInput = z.object({
  projectId: projectIdSchema,
  prompt: z.string().max(100_000).optional(),
  message: z.string().max(10_000).optional(),
  source: z.enum(VERSION_SOURCES),
  snapshot: snapshotDeclSchema.optional(),
  idempotencyKey: z.string().min(1).max(255).optional(),
});
export type CreateVersionInput = z.infer<typeof createVersionInput>;

export const createVersionOutput = z.object({
  version: versionSchema,
  /** Present while the snapshot still needs its bytes, also on an idempotent retry. */
  upload: uploadPlanSchema.optional(),
  warnings: z.array(z.string()),
});

export const listVersionsInput = z.object({ projectId: projectIdSchema, limit: limitSchema, cursor: cursorSchema.optional() });
export type ListVersionsInput = z.infer<typeof listVersionsInput>;
export const listVersionsOutput = z.object({ items: z.array(versionSchema), nextCursor: z.string().nullable() });

export const versionIdInput = z.object({ versionId: idSchema });
export const pinVersionInput = z.object({ versionId: idSchema, pinned: z.boolean() });
export const downloadVersionInput = z.object({ versionId: idSchema, expiresIn: expiresInSchema.optional() });
export const exportLatestInput = z.object({ projectId: projectIdSchema, expiresIn: expiresInSchema.optional() });

export const versionDownloadReadySchema = z.object({
  available: z.literal(true),
  downloadUrl: z.string(),
  expiresAt: z.date(),
  filename: z.string(),
  sizeBytes: z.number().int(),
  sha256: z.string(),
  version: z.object({ id: z.uuid(), prompt: z.string().nullable(), createdAt: z.date() }),
});
export type VersionDownloadReady = z.infer<typeof versionDownloadReadySchema>;

export const versionDownloadOutput = z.discriminatedUnion('available', [
  versionDownloadReadySchema,
  z.object({
    available: z.literal(false),
    /** The version's status, or `no_ready_version` when a project has none to export. */
    reason: z.enum(['no_snapshot', 'uploading', 'failed', 'no_ready_version']),
    message: z.string(),
    /** The caller still has the prompt and can build the version again (version.requestRebuild asks a worker to). */
    canRebuild: z.literal(true),
    /** A rebuild asked for and not answered yet, if any. */
    rebuildRequestedAt: z.date().nullable(),
  }),
]);
export type VersionDownload = z.infer<typeof versionDownloadOutput>;

export const rollbackOutput = z.object({ version: versionSchema, download: versionDownloadReadySchema });

const versionPair = { fromVersionId: idSchema, toVersionId: idSchema };

export const putDiffPackInput = z.object({
  ...versionPair,
  sizeBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** Optional here: then it is declared at artifact.completeUpload. */
  sha256: declaredSha256Schema,
});
export type PutDiffPackInput = z.infer<typeof putDiffPackInput>;

export const diffPackSchema = z.object({
  id: z.uuid(),
  projectId: z.string(),
  fromVersionId: z.uuid(),
  toVersionId: z.uuid(),
  artifactId: z.uuid(),
  createdAt: z.date(),
});

export const putDiffPackOutput = z.object({
  diffPack: diffPackSchema,
  artifact: artifactSchema,
  upload: uploadPlanSchema,
  warnings: z.array(z.string()),
});

export const getDiffPackInput = z.object({ ...versionPair, expiresIn: expiresInSchema.optional() });
export const getDiffPackOutput = z.object({
  url: z.string(),
  expiresAt: z.date(),
  filename: z.string(),
  sizeBytes: z.number().int(),
  sha256: z.string(),
});

export const requestRebuildOutput = z.object({
  version: versionSchema,
  /** false: a rebuild was already requested and not answered yet; this call added nothing. */
  requested: z.boolean(),
});

/** A worker answering a rebuild request: a new snapshot for a version that has none (or a failed one). */
export const uploadSnapshotInput = z.object({ versionId: idSchema, snapshot: snapshotDeclSchema });
export const uploadSnapshotOutput = z.object({ version: versionSchema, upload: uploadPlanSchema, warnings: z.array(z.string()) });
