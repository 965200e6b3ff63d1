import { z } from 'zod';
import { artifactSchema } from './artifact.ts';
import { contentTypeSchema, entityRefSchema, idSchema, kindSchema, metadataSchema, sha256Schema } from './common.ts';

/**
 * A download name, not a path: no separators, NUL or control characters, and no bidirectional
 * controls, with which "invoice\u202Efdp.exe" shows as "invoiceexe.pdf". Right-to-left letters
 * themselves are fine.
 */
export const filenameSchema = z
  .string()
  .min(1)
  .max(255)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  .regex(/^[^/\\\x00-\x1f\x7f]+$/, 'must be a plain file name without slashes or control characters')
  .regex(
    /^[^\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+$/,
    'must not contain bidirectional control characters (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069): they disguise a name',
  )
  .refine((s) => s !== '.' && s !== '..', 'must be a plain file name');

/**
 * The sha256 of an upload is declared exactly once: here, at creation, or at `completeUpload`
 * (so a client can hash while it sends instead of in a pass of its own before). Declared up
 * front, a backend that can binds it into the signed PUT.
 */
export const declaredSha256Schema = sha256Schema.optional();

/** The size is declared up front so the server can refuse oversized uploads before a byte moves. */
export const snapshotDeclSchema = z.object({
  sizeBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  sha256: declaredSha256Schema,
  contentType: contentTypeSchema.default('application/zip'),
});

export const createUploadInput = z.object({
  kind: kindSchema,
  contentType: contentTypeSchema,
  sizeBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  sha256: declaredSha256Schema,
  filename: filenameSchema.optional(),
  ...entityRefSchema,
  metadata: metadataSchema.optional(),
});
export type CreateUploadInput = z.infer<typeof createUploadInput>;

export const uploadInstructionsSchema = z.discriminatedUnion('mode', [
  z.object({
    mode: z.literal('single'),
    method: z.literal('PUT'),
    url: z.string(),
    /** Send these headers exactly: the signature covers them. */
    headers: z.record(z.string(), z.string()),
    expiresAt: z.date(),
  }),
  z.object({
    mode: z.literal('multipart'),
    partSize: z.number().int(),
    /** PUT each part's bytes to its URL, keep the ETag response header, pass them to completeUpload. */
    parts: z.array(z.object({ partNumber: z.number().int(), url: z.string(), sizeBytes: z.number().int() })),
    expiresAt: z.date(),
  }),
]);
export type UploadInstructions = z.infer<typeof uploadInstructionsSchema>;

export const createUploadOutput = z.object({
  artifact: artifactSchema,
  upload: uploadInstructionsSchema,
  /** e.g. the size warning at or above COFFER_WARN_UPLOAD_BYTES. */
  warnings: z.array(z.string()),
});

export const completedPartSchema = z.object({
  partNumber: z.number().int().min(1).max(10_000),
  etag: z.string().min(1).max(256),
});

export const completeUploadInput = z.object({
  id: idSchema,
  parts: z.array(completedPartSchema).max(10_000).optional(),
  /** Only when it was not declared at creation: declaring it twice, differently, fails the upload. */
  sha256: declaredSha256Schema,
});
export type CompleteUploadInput = z.infer<typeof completeUploadInput>;
