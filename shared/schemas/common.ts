import { z } from 'zod';
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, MAX_URL_EXPIRY_SECONDS } from '../constants.ts';
import { inspectJson, type JSONType, jsonPathText } from '../wire-json.ts';

export const idSchema = z.uuid({ message: 'must be a UUID' });
export const sha256Schema = z.string().regex(/^[a-f0-9]{64}$/, 'must be a lowercase hex sha256 (64 characters)');
/** Kinds are checked against the deployment's allowlist on the server; this only bounds the shape. */
export const kindSchema = z.string().min(1).max(63);
export const contentTypeSchema = z
  .string()
  .max(255)
  .regex(/^[\w.+-]+\/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+"-]+)*$/, 'must be a MIME type such as application/json');
export const entityRefSchema = {
  entityType: z.string().min(1).max(64).optional(),
  entityId: z.string().min(1).max(256).optional(),
};

/**
 * JSON that Coffer stores and sends back (shared/wire-json.ts), refused with BAD_REQUEST naming
 * the path of the first problem. Checked without recursion and before any zod parsing that would
 * copy the value (zod's record parsing drops a `__proto__` key instead of refusing it).
 */
export const wireJson = <T extends JSONType = JSONType>(label: string) =>
  z.custom<T>().superRefine((value, ctx) => {
    const found = inspectJson(value);
    if ('problem' in found) {
      const { path, message } = found.problem;
      ctx.addIssue({ code: 'custom', path, message: path.length ? `${jsonPathText(label, path)}: ${message}` : `${label} ${message}` });
    }
  });

/** Free-form metadata: a JSON object (its size is bounded by the server's COFFER_MAX_METADATA_* settings). */
export const metadataSchema = wireJson<Record<string, JSONType>>('metadata').pipe(z.record(z.string().max(256), z.custom<JSONType>()));
export const limitSchema = z.number().int().min(1).max(MAX_LIST_LIMIT).default(DEFAULT_LIST_LIMIT);
/** Opaque keyset cursor from a previous page's `nextCursor`. */
export const cursorSchema = z.string().max(512);
export const expiresInSchema = z.number().int().min(1).max(MAX_URL_EXPIRY_SECONDS);
