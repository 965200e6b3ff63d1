import { z } from 'zod';
import { MAX_PARTS, MAX_PARTS_PER_SIGN } from '../constants.ts';
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

/**
 * How an upload's bytes are to be sent: `partCount` parts of `partSize` bytes (the last one
 * smaller), each signed just before it is sent (artifact.signParts). A single part is the
 * common case for small files. `expiresAt` is when the upload fails for inactivity: every
 * signParts call or completion attempt moves it on.
 */
export const uploadPlanSchema = z.object({
  partSize: z.number().int(),
  partCount: z.number().int(),
  expiresAt: z.date(),
});
export type UploadPlan = z.infer<typeof uploadPlanSchema>;

export const createUploadOutput = z.object({
  artifact: artifactSchema,
  upload: uploadPlanSchema,
  /** e.g. the size warning at or above COFFER_WARN_UPLOAD_BYTES. */
  warnings: z.array(z.string()),
});

/** Content-MD5 as HTTP sends it: the base64 of the 16-byte digest. */
export const md5Schema = z.string().regex(/^[A-Za-z0-9+/]{22}==$/, 'must be the base64 MD5 digest of the part (Content-MD5)');

export const signPartsInput = z.object({
  id: idSchema,
  /** The parts about to be sent, each with the MD5 of its bytes: the bucket refuses any other bytes. */
  parts: z
    .array(z.object({ partNumber: z.number().int().min(1).max(MAX_PARTS), md5: md5Schema }))
    .min(1)
    .max(MAX_PARTS_PER_SIGN),
});

export const signedPartSchema = z.object({
  partNumber: z.number().int(),
  method: z.literal('PUT'),
  url: z.string(),
  /** Send exactly these headers (Content-MD5, If-None-Match): the signature covers them. */
  headers: z.record(z.string(), z.string()),
  sizeBytes: z.number().int(),
});

export const signPartsOutput = z.object({ parts: z.array(signedPartSchema), expiresAt: z.date() });

/** What has landed of an upload: a client resumes by sending only the parts not listed. */
export const uploadStateSchema = z.object({
  artifact: artifactSchema,
  partSize: z.number().int(),
  partCount: z.number().int(),
  parts: z.array(z.object({ partNumber: z.number().int(), sizeBytes: z.number().int(), etag: z.string() })),
  /** When a pending upload fails for inactivity; null once it is no longer pending. */
  expiresAt: z.date().nullable(),
});

export const completeUploadInput = z.object({
  id: idSchema,
  /** Only when it was not declared at creation: declaring it twice, differently, fails the upload. */
  sha256: declaredSha256Schema,
});
export type CompleteUploadInput = z.infer<typeof completeUploadInput>;
