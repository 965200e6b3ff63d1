import { z } from 'zod';
import { API_KEY_SCOPES, DEFAULT_KEY_GRACE_SECONDS, MAX_KEY_GRACE_SECONDS } from '../constants.ts';
import { apiKeyInfoSchema, createdApiKeySchema } from './admin.ts';
import { cursorSchema, idSchema, limitSchema } from './common.ts';

/** API key management: `key.*` for a tenant's keys with the `admin` scope, `admin.*` for the operator. */

export const listApiKeysInput = z.object({ limit: limitSchema, cursor: cursorSchema.optional() });
export const adminListApiKeysInput = listApiKeysInput.extend({ tenantId: idSchema });
export const listApiKeysOutput = z.object({ items: z.array(apiKeyInfoSchema), nextCursor: z.string().nullable() });

export const createOwnApiKeyInput = z.object({
  name: z.string().trim().min(1).max(200),
  /** At most the scopes of the key that asks: a key cannot mint more power than it has. */
  scopes: z.array(z.enum(API_KEY_SCOPES)).min(1).max(API_KEY_SCOPES.length),
});

export const keyIdInput = z.object({ keyId: idSchema });

export const rotateApiKeyInput = z.object({
  keyId: idSchema,
  /** How long the old key keeps working, so deployments can switch over; 0 ends it at once. */
  graceSeconds: z.number().int().min(0).max(MAX_KEY_GRACE_SECONDS).default(DEFAULT_KEY_GRACE_SECONDS),
});
/** `apiKey.key` is the new secret, shown only here; `previous.expiresAt` is when the old key stops working. */
export const rotateApiKeyOutput = z.object({ apiKey: createdApiKeySchema, previous: apiKeyInfoSchema });
